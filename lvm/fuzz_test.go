package lvm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

func FuzzLabel(f *testing.F) {
	img := seedImage(f)
	f.Add(img[:8192])
	f.Add(img[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		pv, err := ReadLabel(bytes.NewReader(b), int64(len(b)))
		if err == nil && pv.Metadata != nil {
			ParseVG(pv.Metadata)
		}
	})
}

func FuzzMetadata(f *testing.F) {
	img := seedImage(f)
	pv, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pv.Metadata)
	f.Add([]byte(vgTemplate))
	f.Add(vgText(allTypes))
	f.Add([]byte(`a = [[], ["x\"\\", -1, 2.5]] # c`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vg, err := ParseVG(b)
		if err != nil {
			return
		}
		for i := range vg.LVs {
			lv := &vg.LVs[i]
			lv.Attr(vg)
			for j := range lv.Segments {
				lv.Segments[j].Devices(func(pv string) string { return pv })
			}
		}
	})
}

// fuzzPV is a PV of volTemplate's size whose bytes are made up on the fly
// from their offset, except for over at byte at, so fuzzing allocates
// nothing for it.
type fuzzPV struct {
	n    byte
	over []byte
	at   int64
}

func (p *fuzzPV) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= testPVSize {
		return 0, fmt.Errorf("read at %d outside the PV", off)
	}
	n := min(len(b), int(testPVSize-off))
	for i := range n {
		b[i] = byte(off+int64(i)) ^ p.n
	}
	if lo, hi := max(off, p.at), min(off+int64(n), p.at+int64(len(p.over))); lo < hi {
		copy(b[lo-off:hi-off], p.over[lo-p.at:])
	}
	return n, nil
}

// FuzzAssemble assembles four PVs that carry the fuzzed metadata, opens
// every LV and reads and copies a few places of each: nothing may panic,
// hang or read outside a PV.
func FuzzAssemble(f *testing.F) {
	for _, lvs := range []string{
		thinLVs,
		strings.Replace(snapLVs, "COW", "cow_store", 1),
		strings.Replace(snapLVs, "COW", "merging_store", 1),
		raidLVText("raid6_nc", 5, 15, true, ""),
		raidLVText("raid10", 3, 20, false, "data_copies = 2"),
		raidLVText("raid0", 2, 2, false, ""),
		raidLVText("raid1", 2, 4, true, ""),
		allTypes,
		lin("a", 2, "pv0", 0) + lin("b", 3, "pv3", 500) + `
m { id = "m" status = ["READ", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 2 type = "mirror" mirror_count = 2 mirrors = ["a", 0, "pv1", 7] }
	segment2 { start_extent = 2 extent_count = 6 type = "striped" stripe_count = 3 stripe_size = 3 stripes = ["pv2", 1, "b", 1, "pv0", 9] } }`,
	} {
		f.Add([]byte(strings.Replace(volTemplate, "LVS", lvs, 1)))
	}
	// Thin-pool metadata where thinLVs keeps it, an exception store where
	// snapLVs does.
	cow, _ := cowImage(8, []uint64{1, 3}, 0)
	pvs := []*fuzzPV{
		{n: 0, over: goodThinImage(), at: testPEStart + 100*testExtent},
		{n: 1}, {n: 2},
		{n: 3, over: cow.bytes(), at: testPEStart},
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		var devs []*Device
		for i := range 4 {
			d := &Device{Name: fmt.Sprintf("pv%d", i), R: pvs[i], Size: testPVSize,
				PV: &PV{UUID: fmt.Sprintf("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%d", i), Metadata: text}}
			if i == 3 {
				d.PV.Metadata = nil
			}
			devs = append(devs, d)
		}
		set, err := Assemble(devs)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3000)
		for _, g := range set.Groups {
			vg := g.VG
			vg.Attr()
			vg.FreeExtents()
			vg.LVCount()
			vg.SnapshotCount()
			for i := range vg.LVs {
				lv := &vg.LVs[i]
				lv.Attr(vg)
				lv.Pool()
				lv.Origin()
				g.DevicesOf(lv)
				v, err := g.Open(lv.Name)
				if err != nil {
					continue
				}
				for _, off := range []int64{0, 1000, v.Size() / 2, v.Size() - 1, v.Size() - 2000} {
					v.ReadAt(buf, off)
					v.WriteRange(context.Background(), io.Discard, off, int64(len(buf)))
				}
			}
		}
	})
}
