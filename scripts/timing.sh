# timing.sh is sourced by the benchmark scripts.

# best CMD ARGS... prints the best wall-clock time, in seconds, of RUNS runs
# of the command (output discarded).
best() {
	local b=999999 t0 t1 t
	for _ in $(seq "${RUNS:-5}"); do
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s.%N)
		t=$(echo "$t1 - $t0" | bc -l)
		b=$(echo "if ($t < $b) $t else $b" | bc -l)
	done
	echo "$b"
}
