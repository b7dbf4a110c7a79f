package lvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"vmsh/internal/devio"
	"vmsh/internal/devio/deviotest"
	"vmsh/internal/tooltest"
	"vmsh/partition"
)

// checkWriteRange compares WriteRange with want, the volume's content: the
// whole volume, ranges at random offsets and of random lengths (many
// across segment and chunk boundaries), ranges past the end, and a
// cancelled context.
func checkWriteRange(t *testing.T, v *Volume, want []byte) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	size := int64(len(want))
	if m, err := v.WriteRange(ctx, &buf, 0, size); m != size || err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteRange whole volume: %d, %v; %d bytes differ from ReadAt's from %d", m, err, buf.Len(), firstDiff(buf.Bytes(), want))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100 {
		off := rng.Int64N(size)
		n := rng.Int64N(min(size-off, 3*testExtent)) + 1
		buf.Reset()
		if m, err := v.WriteRange(ctx, &buf, off, n); m != n || err != nil || !bytes.Equal(buf.Bytes(), want[off:off+n]) {
			t.Fatalf("WriteRange(%d bytes at %d): %d, %v; differs from byte %d", n, off, m, err, firstDiff(buf.Bytes(), want[off:off+n]))
		}
	}
	for _, off := range []int64{size - 10, size, size + 1} {
		buf.Reset()
		m, err := v.WriteRange(ctx, &buf, off, 20)
		if wantN := max(size-off, 0); err != io.ErrUnexpectedEOF || m != wantN || !bytes.Equal(buf.Bytes(), want[size-wantN:]) {
			t.Errorf("WriteRange(20 bytes at %d of %d): %d, %v", off, size, m, err)
		}
	}
	if m, err := v.WriteRange(ctx, &buf, -1, 20); m != 0 || err == nil {
		t.Errorf("WriteRange at -1: %d, %v", m, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	buf.Reset()
	if m, err := v.WriteRange(cctx, &buf, 0, size); m != 0 || err != context.Canceled || buf.Len() != 0 {
		t.Errorf("WriteRange with a cancelled context: %d, %v", m, err)
	}
}

// recorders makes every PV of g a Recorder over its data.
func recorders(g *Group, data [][]byte) []*deviotest.Recorder {
	disks := make([]*deviotest.Recorder, len(data))
	for i, d := range g.Devices {
		if d != nil {
			disks[i] = deviotest.NewRecorder(data[i])
			d.R = disks[i]
		}
	}
	return disks
}

// TestWriteRangePassesDown checks that the ranges of linear, striped,
// stacked and zero segments reach the PVs' devices as WriteRange calls at
// the places they map to, and that mirrors read instead.
func TestWriteRangePassesDown(t *testing.T) {
	g, data := testGroup(t, `
two { id = "t" status = ["READ", "WRITE", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv1", 0] }
	segment2 { start_extent = 3 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv2", 7] } }
st { id = "s" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 2 stripe_size = 2 stripes = ["pv1", 100, "pv3", 200] } }
on_lv { id = "o" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["two", 1] } }
z { id = "z" status = ["READ", "WRITE", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 1 type = "zero" }
	segment2 { start_extent = 1 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 5] } }
m { id = "m" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "mirror" mirror_count = 2 mirrors = ["pv0", 20, "pv1", 20] } }
`)
	disks := recorders(g, data)
	const ext, pe = testExtent, testPEStart
	type pvCall struct {
		pv int
		deviotest.Call
	}
	for _, tc := range []struct {
		lv     string
		off, n int64
		want   []pvCall
	}{
		// Across the boundary of two linear segments.
		{"two", 3*ext - 100, 200, []pvCall{{1, deviotest.Call{Off: pe + 3*ext - 100, N: 100}}, {2, deviotest.Call{Off: pe + 7*ext, N: 100}}}},
		// Three chunks of 1 KiB, from leg to leg.
		{"st", 500, 2048, []pvCall{{1, deviotest.Call{Off: pe + 100*ext + 500, N: 524}}, {3, deviotest.Call{Off: pe + 200*ext, N: 1024}}, {1, deviotest.Call{Off: pe + 100*ext + 1024, N: 500}}}},
		// An LV on an LV, from extent 1 of two: across two's boundary.
		{"on_lv", ext - 10, 3 * ext, []pvCall{{1, deviotest.Call{Off: pe + 2*ext - 10, N: ext + 10}}, {2, deviotest.Call{Off: pe + 7*ext, N: 2*ext - 10}}}},
		// Zeros are written here, the rest passed down.
		{"z", ext - 5, 10, []pvCall{{0, deviotest.Call{Off: pe + 5*ext, N: 5}}}},
		// A mirror reads.
		{"m", 10, 100, nil},
	} {
		t.Run(tc.lv, func(t *testing.T) {
			v := openLV(t, g, tc.lv)
			want := make([]byte, tc.n)
			if _, err := v.ReadAt(want, tc.off); err != nil {
				t.Fatal(err)
			}
			for _, d := range disks {
				d.Take()
			}
			var buf bytes.Buffer
			if m, err := v.WriteRange(context.Background(), &buf, tc.off, tc.n); m != tc.n || err != nil || !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("WriteRange: %d, %v; bytes differ from ReadAt's from %d", m, err, firstDiff(buf.Bytes(), want))
			}
			var got []pvCall
			reads := 0
			for i, d := range disks {
				calls, r := d.Take()
				reads += r
				for _, c := range calls {
					got = append(got, pvCall{i, c})
				}
			}
			if tc.want == nil {
				if len(got) != 0 || reads == 0 {
					t.Errorf("calls %v and %d reads; want reads only", got, reads)
				}
				return
			}
			// The calls on each PV, in order; the test's ranges never
			// need one PV's calls ordered with another's.
			sortByPV := func(c []pvCall) {
				slices.SortStableFunc(c, func(a, b pvCall) int { return a.pv - b.pv })
			}
			sortByPV(got)
			sortByPV(tc.want)
			if !slices.Equal(got, tc.want) || reads != 0 {
				t.Errorf("calls %v and %d reads; want %v and no reads", got, reads, tc.want)
			}
		})
	}
}

// TestWriteRangeSeedImage copies the LVs of the committed PV image: each
// linear segment is one call on the PV's device, at the segment's place.
// The image holds the PV's first MiB, its label and metadata; the rest of
// the PV is filled with a pattern.
func TestWriteRangeSeedImage(t *testing.T) {
	img := seedImage(t)
	pv, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if pv.DeviceSize > int64(len(img)) {
		full := testPVData(7)
		for len(full) < int(pv.DeviceSize) {
			full = append(full, full...)
		}
		img = append(img, full[len(img):pv.DeviceSize]...)
	}
	disk := deviotest.NewRecorder(img)
	set, err := Assemble([]*Device{{Name: "loop0", R: disk, Size: int64(len(img)), PV: pv}})
	if err != nil || len(set.Groups) != 1 {
		t.Fatalf("Assemble: %v, %+v", err, set)
	}
	g := set.Groups[0]
	vg := g.VG
	eb := vg.ExtentBytes()
	lvs := 0
	for i := range vg.LVs {
		lv := &vg.LVs[i]
		v := openLV(t, g, lv.Name)
		want := make([]byte, v.Size())
		if _, err := v.ReadAt(want, 0); err != nil {
			t.Fatal(err)
		}
		checkWriteRange(t, v, want)
		disk.Take()
		var buf bytes.Buffer
		if _, err := v.WriteRange(context.Background(), &buf, 0, v.Size()); err != nil {
			t.Fatal(err)
		}
		var calls []deviotest.Call
		for _, s := range lv.Segments {
			if s.Type != "striped" || len(s.Stripes) != 1 {
				t.Fatalf("LV %s: segment %+v is not linear", lv.Name, s)
			}
			calls = append(calls, deviotest.Call{Off: vg.PVs[0].PEStart*sectorSize + s.Stripes[0].StartExtent*eb, N: s.ExtentCount * eb})
		}
		if got, reads := disk.Take(); !slices.Equal(got, calls) || reads != 0 {
			t.Errorf("LV %s: calls %v and %d reads, want %v", lv.Name, got, reads, calls)
		}
		lvs++
	}
	if lvs == 0 {
		t.Fatal("no LV in the seed image")
	}
}

// TestWriteRangeSpan copies the LVs of the committed image of two disks
// (../testdata/lvm-span: a linear LV on a GPT partition of the first, and
// an LV striped over that partition and the second, whole disk) with the
// disks under partition sections, as the shell stacks them: the ranges
// reach the disks, moved by the partition's start.
func TestWriteRangeSpan(t *testing.T) {
	img1 := tooltest.Gunzip(t, "../testdata/lvm-span.img.gz")
	img2 := tooltest.Gunzip(t, "../testdata/lvm-span.disk2.gz")
	disk1, disk2 := deviotest.NewRecorder(img1), deviotest.NewRecorder(img2)
	table, err := partition.Read(disk1, int64(len(img1)))
	if err != nil || len(table.Partitions) != 1 {
		t.Fatalf("partition table: %v, %+v", err, table)
	}
	part := table.Partitions[0]
	var devs []*Device
	for _, d := range []struct {
		name string
		r    io.ReaderAt
		size int64
	}{
		{"sda1", devio.NewSection(disk1, part.Start, part.Size), part.Size},
		{"sdb", disk2, int64(len(img2))},
	} {
		pv, err := ReadLabel(d.r, d.size)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		devs = append(devs, &Device{Name: d.name, R: d.r, Size: d.size, PV: pv})
	}
	set, err := Assemble(devs)
	if err != nil || len(set.Groups) != 1 {
		t.Fatalf("Assemble: %v, %+v", err, set)
	}
	g := set.Groups[0]
	for _, name := range []string{"solo", "stripe-lv"} {
		t.Run(name, func(t *testing.T) {
			v := openLV(t, g, name)
			want := make([]byte, v.Size())
			if _, err := v.ReadAt(want, 0); err != nil {
				t.Fatal(err)
			}
			checkWriteRange(t, v, want)
			disk1.Take()
			disk2.Take()
			var buf bytes.Buffer
			if _, err := v.WriteRange(context.Background(), &buf, 0, v.Size()); err != nil {
				t.Fatal(err)
			}
			calls1, reads1 := disk1.Take()
			calls2, reads2 := disk2.Take()
			if reads1+reads2 != 0 {
				t.Errorf("%d and %d reads", reads1, reads2)
			}
			var total int64
			for _, c := range calls1 {
				if c.Off < part.Start || c.Off+c.N > part.Start+part.Size {
					t.Errorf("disk 1: call %v outside the partition", c)
				}
				total += c.N
			}
			for _, c := range calls2 {
				total += c.N
			}
			if total != v.Size() {
				t.Errorf("calls for %d bytes in all, the LV has %d", total, v.Size())
			}
			switch name {
			case "solo":
				if len(calls1) != 1 || len(calls2) != 0 {
					t.Errorf("calls %v and %v, want one on disk 1", calls1, calls2)
				}
			case "stripe-lv":
				const chunk = 64 << 10
				if len(calls1) != len(calls2) || int64(len(calls1)) != v.Size()/(2*chunk) {
					t.Errorf("%d and %d calls, want %d on each disk", len(calls1), len(calls2), v.Size()/(2*chunk))
				}
			}
		})
	}
}

// failingDisk fails every read and every range.
type failingDisk struct{}

var errDisk = errors.New("disk failed")

func (failingDisk) ReadAt(p []byte, off int64) (int, error) { return 0, errDisk }
func (failingDisk) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	return 0, errDisk
}

func TestWriteRangeErrors(t *testing.T) {
	g, data := testGroup(t, `
two { id = "t" status = ["READ", "WRITE", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv1", 0] }
	segment2 { start_extent = 3 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv2", 7] } }
e { id = "e" status = ["READ", "WRITE", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 50] }
	segment2 { start_extent = 1 extent_count = 1 type = "error" } }`)
	var buf bytes.Buffer
	// A failing second PV: the first segment's bytes are written, and the
	// error names the PV's device.
	g.Devices[2].R = failingDisk{}
	v := openLV(t, g, "two")
	m, err := v.WriteRange(context.Background(), &buf, 3*testExtent-10, 20)
	if m != 10 || !errors.Is(err, errDisk) || !bytes.Equal(buf.Bytes(), pvBytes(data, 1, 2, 1)[testExtent-10:]) {
		t.Errorf("failing PV: %d, %v", m, err)
	}
	if err != nil && !bytes.Contains([]byte(err.Error()), []byte("mem2")) {
		t.Errorf("error %q does not name the device", err)
	}
	// The error target fails where it starts.
	buf.Reset()
	m, err = openLV(t, g, "e").WriteRange(context.Background(), &buf, testExtent-10, 20)
	if m != 10 || err == nil {
		t.Errorf("error segment: %d, %v", m, err)
	}
}

// TestWriteRangeConcurrent copies ranges of one volume from several
// goroutines at once.
func TestWriteRangeConcurrent(t *testing.T) {
	g, data := testGroup(t, `
st { id = "s" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 8 type = "striped" stripe_count = 2 stripe_size = 8 stripes = ["pv1", 100, "pv3", 200] } }`)
	recorders(g, data)
	v := openLV(t, g, "st")
	want := make([]byte, v.Size())
	if _, err := v.ReadAt(want, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 100 {
				off := rng.Int64N(v.Size())
				n := rng.Int64N(v.Size()-off) + 1
				var buf bytes.Buffer
				if _, err := v.WriteRange(context.Background(), &buf, off, n); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf.Bytes(), want[off:off+n]) {
					errs <- fmt.Errorf("%d bytes at %d differ", n, off)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
