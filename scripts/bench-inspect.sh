#!/usr/bin/env bash
# Times `vmsh -c "cat /etc/fstab" guest.img`: the start of vmsh and its
# worker, reading the partition table, assembling the LVM2 volume group,
# opening every ext4 filesystem, inspecting the root (os-release, hostname,
# the ELF header of /bin/sh), mounting /boot, /var and /home from the
# fstab, then one command. The disk is the guest fixture (GPT, FAT, ext4,
# LVM2 with four LVs), page cache warm. Prints the median wall time of RUNS
# runs (101 by default), beside the same with --no-inspect and `use`, vmsh
# --version (the process alone) and /bin/true (what starting a process
# costs here). The runs of the four commands take turns, so each meets the
# same load.
# Needs bash 5 (EPOCHREALTIME: no process is started to read the clock).
# Usage: scripts/bench-inspect.sh [WORKDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
img=$work/guest.img
gunzip -c testdata/guest.img.gz >"$img"
CGO_ENABLED=0 go build -o "$work/vmsh" .
vmsh=$work/vmsh
runs=${RUNS:-101}

# The command must do the whole job, or the timing means nothing.
out=$("$vmsh" -c "cat /etc/fstab" "$img" 2>"$work/stderr")
grep -q '^LABEL=var' <<<"$out" || { echo "vmsh did not print the guest's fstab" >&2; exit 1; }
grep -q '^vmsh: / is ubuntu--vg-root' "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
[ "$("$vmsh" -c "cat /var/log/syslog" "$img" 2>/dev/null | wc -l)" -gt 100 ] || { echo "/var is not mounted" >&2; exit 1; }
cat "$img" >/dev/null

# usec CMD... runs the command once and prints its wall time in
# microseconds.
usec() {
	local t0 t1
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>&1
	t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./})))
}

names=("vmsh -c 'cat /etc/fstab' guest.img" "vmsh --no-inspect -c 'use vg/root; cat'" "vmsh --version" "/bin/true")
declare -A times
for _ in $(seq "$runs"); do
	times[0]+="$(usec "$vmsh" -c "cat /etc/fstab" "$img") "
	times[1]+="$(usec "$vmsh" --no-inspect -c "use /dev/ubuntu-vg/root; cat /etc/fstab" "$img") "
	times[2]+="$(usec "$vmsh" --version) "
	times[3]+="$(usec /bin/true) "
done

# median prints the middle of the numbers given, in milliseconds.
median() {
	local sorted
	sorted=($(printf '%s\n' "$@" | sort -n))
	printf '%.2f' "$(echo "${sorted[$((${#sorted[@]} / 2))]} / 1000" | bc -l)"
}
printf '%-45s %12s %10s\n' "command ($runs runs each)" "median ms" "best ms"
for i in 0 1 2 3; do
	read -ra t <<<"${times[$i]}"
	best=$(printf '%s\n' "${t[@]}" | sort -n | head -1)
	printf '%-45s %12s %10.2f\n' "${names[$i]}" "$(median "${t[@]}")" "$(echo "$best / 1000" | bc -l)"
done
