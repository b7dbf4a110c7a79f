#!/bin/sh
# bench.sh: throughput of the NBD client beside nbdcopy, in the same run.
#
# Runs BenchmarkRead (nbd/bench_test.go) COUNT times: nbdkit serves a 1 GiB
# file (page cache warm) over a unix socket; the client reads all of it
# (whole: one ReadAt; seq-4M and seq-1M: 8 goroutines reading 4 MiB or
# 1 MiB at a time) and `nbdcopy URI null:` copies the same export. Prints
# each figure's median over the runs and its ratio to nbdcopy's.
#
# Usage: nbd/bench.sh [COUNT]     (needs nbdkit and nbdcopy; COUNT default 5)
set -eu
count=${1:-5}
cd "$(dirname "$0")"
go test -run '^$' -bench '^BenchmarkRead$' -benchtime 10x -count "$count" . |
awk '
/^BenchmarkRead\// {
	name = $1; sub(/^BenchmarkRead\//, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 2; i <= NF; i++) if ($(i+1) == "MB/s") v[name, ++n[name]] = $i
	print
}
function median(name,   i, j, t, k) {
	k = n[name]
	for (i = 1; i <= k; i++) a[i] = v[name, i]
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	if (!n["nbdcopy"]) { print "no nbdcopy figure"; exit 1 }
	ref = median("nbdcopy")
	printf "\n%-10s %10s %10s\n", "median", "MB/s", "vs nbdcopy"
	split("whole seq-4M seq-1M nbdcopy", names, " ")
	for (i = 1; i <= 4; i++) if (n[names[i]]) printf "%-10s %10.0f %9.2fx\n", names[i], median(names[i]), median(names[i]) / ref
}'
