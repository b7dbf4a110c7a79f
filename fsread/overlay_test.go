package fsread

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"vmsh/internal/devio/deviotest"
)

// passedDown returns the ranges an overlay with the replaced blocks keys
// must pass down for the n bytes at off: the runs of bytes whose blocks
// it does not replace.
func passedDown(keys []uint64, bs uint64, off, n int64) []deviotest.Call {
	var out []deviotest.Call
	for pos, end := off, off+n; pos < end; {
		next := min(end, (pos/int64(bs)+1)*int64(bs)) // the next block's start
		if _, found := slices.BinarySearch(keys, uint64(pos)/bs); !found {
			if k := len(out); k > 0 && out[k-1].Off+out[k-1].N == pos {
				out[k-1].N += next - pos
			} else {
				out = append(out, deviotest.Call{Off: pos, N: next - pos})
			}
		}
		pos = next
	}
	return out
}

// failAfter is a writer that fails once it has taken limit bytes.
type failAfter struct {
	bytes.Buffer
	limit int
}

var errWriter = errors.New("writer failed")

func (w *failAfter) Write(p []byte) (int, error) {
	if room := w.limit - w.Len(); len(p) > room {
		w.Buffer.Write(p[:room])
		return room, errWriter
	}
	return w.Buffer.Write(p)
}

// TestOverlayWriteRange checks WriteRange against ReadAt over an overlay
// of replaced blocks at the start, in runs, alone and at the end, and
// that exactly the runs of blocks not replaced reach the base.
func TestOverlayWriteRange(t *testing.T) {
	const bs = 1024
	dev := deviotest.NewRecorder(pattern(1, 64*bs))
	size := int64(64*bs - 300) // the last block is cut
	ov := &overlay{base: dev, size: size, bs: bs}
	for i, k := range []uint64{0, 5, 6, 20, 62, 63} {
		ov.keys = append(ov.keys, k)
		ov.vals = append(ov.vals, pattern(100+i, bs))
	}
	want := make([]byte, size)
	if n, err := ov.ReadAt(want, 0); n != len(want) || err != nil {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	ctx := context.Background()
	type rng struct{ off, n int64 }
	ranges := []rng{{0, size}, {0, 1}, {bs - 1, 2}, {5*bs + 10, 2 * bs}, {4 * bs, 3 * bs}, {7 * bs, 13 * bs}, {size - 1, 1}, {62*bs - 1, size - 62*bs + 1}}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := r.Int64N(size)
		ranges = append(ranges, rng{off, r.Int64N(size-off) + 1})
	}
	for _, rg := range ranges {
		dev.Take()
		var buf bytes.Buffer
		m, err := ov.WriteRange(ctx, &buf, rg.off, rg.n)
		if m != rg.n || err != nil || !bytes.Equal(buf.Bytes(), want[rg.off:rg.off+rg.n]) {
			t.Fatalf("WriteRange(%d bytes at %d): %d, %v; bytes differ from ReadAt's", rg.n, rg.off, m, err)
		}
		calls, reads := dev.Take()
		if exp := passedDown(ov.keys, bs, rg.off, rg.n); !slices.Equal(calls, exp) || reads != 0 {
			t.Fatalf("WriteRange(%d bytes at %d): base saw %v and %d reads, want %v", rg.n, rg.off, calls, reads, exp)
		}
	}

	// Past the end: what there is, and io.ErrUnexpectedEOF; the replaced
	// last block is cut where the image ends.
	for _, off := range []int64{size - 100, 62*bs + 10, size, size + bs} {
		var buf bytes.Buffer
		m, err := ov.WriteRange(ctx, &buf, off, 2*bs)
		exp := want[min(off, size):]
		if err != io.ErrUnexpectedEOF || m != int64(len(exp)) || !bytes.Equal(buf.Bytes(), exp) {
			t.Errorf("WriteRange past the end from %d: %d, %v", off, m, err)
		}
	}
	if m, err := ov.WriteRange(ctx, io.Discard, 10, 0); m != 0 || err != nil {
		t.Errorf("empty range: %d, %v", m, err)
	}
	if _, err := ov.WriteRange(ctx, io.Discard, -1, 10); err == nil {
		t.Error("negative offset: no error")
	}

	// A writer failing within a replaced block, and one failing within a
	// run of the base.
	for _, limit := range []int{5*bs + 100, 3 * bs} {
		fw := &failAfter{limit: limit}
		m, err := ov.WriteRange(ctx, fw, 0, size)
		if !errors.Is(err, errWriter) || m != int64(limit) || !bytes.Equal(fw.Bytes(), want[:limit]) {
			t.Errorf("writer failing after %d bytes: %d, %v", limit, m, err)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, off := range []int64{0, bs} { // a replaced block first, a run first
		if m, err := ov.WriteRange(cctx, io.Discard, off, bs); m != 0 || err != context.Canceled {
			t.Errorf("cancelled, from %d: %d, %v", off, m, err)
		}
	}
}

// TestOverlayWriteRangeReplay copies the whole of the ext4-journal
// fixture through the overlay its replay builds.
func TestOverlayWriteRangeReplay(t *testing.T) {
	img := gunzipSmall("../testdata/ext4-journal.img.gz", 64<<20)
	if img == nil {
		t.Fatal("cannot read ../testdata/ext4-journal.img.gz")
	}
	dev := deviotest.NewRecorder(img)
	fsys, err := Open(dev, int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	ov, ok := fsys.r.(*overlay)
	if !ok || len(ov.keys) == 0 {
		t.Fatalf("no journal replayed: %v", fsys.Warnings())
	}
	want := make([]byte, len(img))
	if n, err := ov.ReadAt(want, 0); n != len(want) || err != nil && err != io.EOF {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	dev.Take()
	var buf bytes.Buffer
	if m, err := ov.WriteRange(context.Background(), &buf, 0, int64(len(img))); m != int64(len(img)) || err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteRange: %d, %v; bytes differ from ReadAt's", m, err)
	}
	calls, reads := dev.Take()
	if exp := passedDown(ov.keys, ov.bs, 0, int64(len(img))); !slices.Equal(calls, exp) || reads != 0 {
		t.Errorf("base saw %d calls and %d reads, want %d calls", len(calls), reads, len(exp))
	}
}
