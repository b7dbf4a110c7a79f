# timing.sh is sourced by the benchmark scripts.

# once CMD ARGS... runs the command once, output discarded, and prints its
# wall-clock time in seconds. A run that fails stops the benchmark with the
# command's error output: a failed command is fast, and its time would
# pass for the best.
once() {
	local t0 t1 err rc=0
	err=$(mktemp)
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$err" || rc=$?
	t1=$(date +%s.%N)
	if [ "$rc" -ne 0 ]; then
		echo "benchmark: exit status $rc from: $*" >&2
		cat "$err" >&2
		rm -f "$err"
		exit 1
	fi
	rm -f "$err"
	echo "$t1 - $t0" | bc -l
}

# best CMD ARGS... prints the best wall-clock time, in seconds, of RUNS runs
# of the command (output discarded).
best() {
	local b=999999 t
	for _ in $(seq "${RUNS:-5}"); do
		t=$(once "$@") || exit 1
		b=$(echo "if ($t < $b) $t else $b" | bc -l)
	done
	echo "$b"
}
