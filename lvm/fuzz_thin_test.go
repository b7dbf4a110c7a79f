package lvm

import (
	"bytes"
	"testing"
)

// FuzzThinPool opens fuzzed thin-pool metadata and looks up blocks of its
// devices. With fix set, every block's checksum is recomputed first, so
// that mutations reach the btree checks behind the checksums. It asserts
// only that nothing panics or hangs and that answers keep their promises.
func FuzzThinPool(f *testing.F) {
	good := goodThinImage()[:4*thinBlockSize]
	f.Add([]byte(good), false)
	deep := goodThinImage()
	deep.node(2, nodeInternal, 8, []uint64{0, 5}, u64(4), u64(5))
	deep.node(4, nodeLeaf, 8, []uint64{0, 1, 2}, u64(7<<24), u64(8<<24), u64(20<<24))
	deep.node(5, nodeLeaf, 8, []uint64{5, 9}, u64(9<<24), u64(10<<24))
	f.Add([]byte(deep[:6*thinBlockSize]), false)
	f.Add([]byte(deep[:6*thinBlockSize]), true)
	meta, _ := thinFixture(f)
	if p, err := OpenThinPool(bytes.NewReader(meta), int64(len(meta))); err == nil {
		// The fixture up to its last btree node, once every node is read.
		p.Devices()
		for _, id := range []uint64{1, 2, 5, 9} {
			if d, err := p.Device(id); err == nil {
				for v := uint64(0); v < 50000; v += 50 {
					d.Lookup(v)
				}
			}
		}
		_, last := thinUsedBlocks(p)
		f.Add(meta[:(last+1)*thinBlockSize], false)
	}
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			b = append(b, make([]byte, -len(b)&(thinBlockSize-1))...)
			for blk := range uint64(len(b) / thinBlockSize) {
				thinImage(b).sum(blk)
			}
		}
		p, err := OpenThinPool(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		p.DataBlockSize()
		p.NeedsCheck()
		p.TransactionID()
		ids, _ := p.Devices()
		if len(ids) > 4 {
			ids = ids[:4]
		}
		for _, id := range append(ids, 0, 1, 2) {
			d, err := p.Device(id)
			if err != nil {
				continue
			}
			for v := range uint64(16) {
				db, mapped, err := d.Lookup(v)
				if err == nil && mapped && db >= p.DataBlocks() {
					t.Fatalf("device %d block %d maps to data block %d of %d", id, v, db, p.DataBlocks())
				}
			}
			v := uint64(0)
			for range 64 {
				r, err := d.LookupRun(v, 1<<20)
				if err != nil {
					break
				}
				if r.VBlock != v || r.Len < 1 || r.Len > 1<<20 || r.Mapped && r.DBlock >= p.DataBlocks() {
					t.Fatalf("LookupRun(%d) = %+v", v, r)
				}
				db, mapped, err := d.Lookup(v)
				if err != nil || mapped != r.Mapped || db != r.DBlock {
					t.Fatalf("Lookup(%d) = %d, %v, %v; LookupRun gave %+v", v, db, mapped, err, r)
				}
				v += r.Len
			}
		}
	})
}

// FuzzCOW opens a fuzzed snapshot exception store and looks up chunks.
func FuzzCOW(f *testing.F) {
	var olds []uint64
	for i := range 40 {
		olds = append(olds, uint64(i*i%53))
	}
	vol, _ := cowImage(1, olds, 1)
	f.Add(vol.bytes())
	vol, _ = cowImage(1, olds[:3], 0)
	f.Add(vol.bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := OpenCOW(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		chunks := uint64(int64(len(b)) / c.ChunkSize())
		for old := uint64(0); old < 128; {
			nc, n, ok := c.LookupRun(old, 1000)
			if n < 1 || n > 1000 || ok && (nc < 2 || nc+n > chunks) {
				t.Fatalf("LookupRun(%d) = %d, %d, %v in a store of %d chunks", old, nc, n, ok, chunks)
			}
			if nc1, ok1 := c.Lookup(old); ok1 != ok || nc1 != nc {
				t.Fatalf("Lookup(%d) = %d, %v; LookupRun gave %d, %v", old, nc1, ok1, nc, ok)
			}
			old += n
		}
	})
}
