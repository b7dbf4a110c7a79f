#!/bin/sh
# mkthin.sh builds the thin-pool metadata fixture of thin_test.go with
# thin-provisioning-tools: thin.xml (written here, deterministic), the
# metadata thin_restore makes of it (thin-meta.gz) and what thin_dump reads
# back from that metadata (thin.dump), the expected answer.
# Run from the lvm/testdata directory.
set -eu

# Four devices: 1 has 1500 scattered single mappings (enough for leaves
# under an internal node), 2 has 60 ranges, 5 has none, 9 shares data
# blocks with 2 (as a snapshot would) and adds single mappings.
awk 'BEGIN {
	printf "<superblock uuid=\"\" time=\"4\" transaction=\"12\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"1048576\">\n"
	n = 0; v = 0
	for (i = 0; i < 1500; i++) {
		v += 1 + (i * i) % 11
		m[n++] = sprintf("    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>", v, 100000 + (i * 7919) % 300007, i % 3)
	}
	total = n
	dev(1, 0, 1)
	n = 0; v = 5; d = 500000; c = 0; total = 0
	for (i = 0; i < 60; i++) {
		l = 1 + (i * 37) % 90
		m[n++] = sprintf("    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"1\"/>", v, d, l)
		if (i < 10) { shared[i] = m[n-1]; c += l }
		v += l + (i % 4) * 17; d += l + (i % 3); total += l
	}
	dev(2, 0, 2)
	n = 0; total = 0
	dev(5, 3, 3)
	n = 0
	for (i = 0; i < 10; i++) m[n++] = shared[i]
	for (i = 0; i < 40; i++) m[n++] = sprintf("    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"3\"/>", 40000 + 3 * i, 700000 + i)
	total = c + 40
	dev(9, 2, 3)
	print "</superblock>"
}
function dev(id, ctime, stime,   i) {
	printf "  <device dev_id=\"%d\" mapped_blocks=\"%d\" transaction=\"%d\" creation_time=\"%d\" snap_time=\"%d\">\n", id, total, id + 1, ctime, stime
	for (i = 0; i < n; i++) print m[i]
	print "  </device>"
}' >thin.xml

rm -f thin-meta thin-meta.gz
truncate -s 1M thin-meta
thin_restore -i thin.xml -o thin-meta
thin_check thin-meta
thin_dump thin-meta >thin.dump
gzip -9n thin-meta
