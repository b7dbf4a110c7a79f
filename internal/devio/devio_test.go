package devio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

// data returns n bytes that differ from their neighbours, so a misplaced
// byte shows.
func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// call is one WriteRange call a rangeDev saw.
type call struct{ off, n int64 }

// rangeDev is a device that is a RangeWriter: it records the calls and
// writes the bytes itself, and counts the ReadAt calls.
type rangeDev struct {
	b     []byte
	calls []call
	reads int
}

func (d *rangeDev) ReadAt(p []byte, off int64) (int, error) {
	d.reads++
	return bytes.NewReader(d.b).ReadAt(p, off)
}

func (d *rangeDev) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	d.calls = append(d.calls, call{off, n})
	if off < 0 || off > int64(len(d.b)) {
		return 0, io.ErrUnexpectedEOF
	}
	end := min(off+n, int64(len(d.b)))
	k, err := w.Write(d.b[off:end])
	if err == nil && end < off+n {
		err = io.ErrUnexpectedEOF
	}
	return int64(k), err
}

// shortWriter accepts at most half of each write, without an error.
type shortWriter struct{ bytes.Buffer }

func (w *shortWriter) Write(p []byte) (int, error) { return w.Buffer.Write(p[:len(p)/2]) }

// failWriter fails once it has taken limit bytes.
type failWriter struct {
	bytes.Buffer
	limit int
}

var errWrite = errors.New("write failed")

func (w *failWriter) Write(p []byte) (int, error) {
	if room := w.limit - w.Len(); len(p) > room {
		w.Buffer.Write(p[:max(room, 0)])
		return max(room, 0), errWrite
	}
	return w.Buffer.Write(p)
}

// cancelWriter cancels a context at its first write.
type cancelWriter struct {
	bytes.Buffer
	cancel context.CancelFunc
	writes int
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.writes++
	w.cancel()
	return w.Buffer.Write(p)
}

// faultyReader reads b but fails reads that reach bad, returning the
// bytes before it.
type faultyReader struct {
	b   []byte
	bad int64
}

var errRead = errors.New("read failed")

func (r *faultyReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= r.bad {
		return bytes.NewReader(r.b).ReadAt(p, off)
	}
	n := copy(p, r.b[off:max(off, r.bad)])
	return n, errRead
}

// lyingReader returns fewer bytes than asked for without an error.
type lyingReader struct{ b []byte }

func (r lyingReader) ReadAt(p []byte, off int64) (int, error) {
	return copy(p[:len(p)/2], r.b[off:]), nil
}

// eofReader says io.EOF with a full read that ends at its end, as
// io.ReaderAt allows.
type eofReader struct{ b []byte }

func (r eofReader) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, r.b[off:])
	if off+int64(n) == int64(len(r.b)) {
		return n, io.EOF
	}
	return n, nil
}

func TestCopy(t *testing.T) {
	src := data(5<<20 + 123)
	r := bytes.NewReader(src)
	for _, tc := range []struct {
		off, n int64
		err    error
	}{
		{0, 0, nil},
		{10, -3, nil},
		{0, 1, nil},
		{7, 1000, nil},
		{0, bufSize, nil},
		{1, bufSize + 1, nil},
		{12345, 3*bufSize + 77, nil},
		{0, int64(len(src)), nil},
		{int64(len(src)) - 5, 5, nil},
		{int64(len(src)) - 5, 6, io.ErrUnexpectedEOF},
		{int64(len(src)) - bufSize - 9, 2 * bufSize, io.ErrUnexpectedEOF},
		{int64(len(src)), 1, io.ErrUnexpectedEOF},
		{int64(len(src)) + 10, 1, io.ErrUnexpectedEOF},
	} {
		t.Run(fmt.Sprintf("%d+%d", tc.off, tc.n), func(t *testing.T) {
			var out bytes.Buffer
			m, err := Copy(context.Background(), r, &out, tc.off, tc.n)
			if !errors.Is(err, tc.err) || err != nil && tc.err == nil {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			lo := min(max(tc.off, 0), int64(len(src)))
			hi := min(max(lo, tc.off+max(tc.n, 0)), int64(len(src)))
			want := src[lo:hi]
			if m != int64(out.Len()) || !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("wrote %d bytes (returned %d), want %d bytes of the source", out.Len(), m, len(want))
			}
		})
	}
}

func TestCopyReaders(t *testing.T) {
	src := data(3*bufSize + 10)
	ctx := context.Background()

	// A full read at the end that says io.EOF is not an error.
	var out bytes.Buffer
	if m, err := Copy(ctx, eofReader{src}, &out, 0, int64(len(src))); err != nil || m != int64(len(src)) || !bytes.Equal(out.Bytes(), src) {
		t.Errorf("reader saying io.EOF at its end: %d, %v", m, err)
	}

	// A short read without an error is the end of the device.
	out.Reset()
	if m, err := Copy(ctx, lyingReader{src}, &out, 0, 100); err != io.ErrUnexpectedEOF || m != 50 || !bytes.Equal(out.Bytes(), src[:50]) {
		t.Errorf("short read without an error: %d, %v", m, err)
	}

	// A read error comes back with the bytes before it written.
	out.Reset()
	bad := int64(bufSize + 500)
	m, err := Copy(ctx, &faultyReader{src, bad}, &out, 100, int64(len(src))-100)
	if !errors.Is(err, errRead) || m != bad-100 || !bytes.Equal(out.Bytes(), src[100:bad]) {
		t.Errorf("read error: %d, %v; wrote %d bytes", m, err, out.Len())
	}
}

func TestCopyWriter(t *testing.T) {
	src := data(2*bufSize + 10)
	r := bytes.NewReader(src)
	ctx := context.Background()

	var sw shortWriter
	if m, err := Copy(ctx, r, &sw, 3, 1000); err != io.ErrShortWrite || m != 500 || !bytes.Equal(sw.Bytes(), src[3:503]) {
		t.Errorf("short write: %d, %v", m, err)
	}

	fw := &failWriter{limit: bufSize + 7}
	if m, err := Copy(ctx, r, fw, 0, int64(len(src))); err != errWrite || m != bufSize+7 || !bytes.Equal(fw.Bytes(), src[:bufSize+7]) {
		t.Errorf("write error: %d, %v", m, err)
	}
}

func TestCopyContext(t *testing.T) {
	src := data(4 * bufSize)
	r := bytes.NewReader(src)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if m, err := Copy(ctx, r, &out, 0, 10); err != context.Canceled || m != 0 || out.Len() != 0 {
		t.Errorf("cancelled before: %d, %v, wrote %d", m, err, out.Len())
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	cw := &cancelWriter{cancel: cancel}
	m, err := Copy(ctx, r, cw, 5, int64(len(src))-5)
	if err != context.Canceled || cw.writes != 1 || m != bufSize || !bytes.Equal(cw.Bytes(), src[5:5+bufSize]) {
		t.Errorf("cancelled while copying: %d, %v after %d writes", m, err, cw.writes)
	}
}

func TestWriteRange(t *testing.T) {
	src := data(10000)
	ctx := context.Background()

	// A RangeWriter writes the range itself: nothing is read.
	d := &rangeDev{b: src}
	var out bytes.Buffer
	if m, err := WriteRange(ctx, d, &out, 100, 2000); err != nil || m != 2000 || !bytes.Equal(out.Bytes(), src[100:2100]) {
		t.Errorf("RangeWriter: %d, %v", m, err)
	}
	if len(d.calls) != 1 || d.calls[0] != (call{100, 2000}) || d.reads != 0 {
		t.Errorf("RangeWriter saw calls %v and %d reads", d.calls, d.reads)
	}

	// Nothing to write asks the device for nothing.
	d.calls = nil
	if m, err := WriteRange(ctx, d, &out, 100, 0); m != 0 || err != nil || len(d.calls) != 0 {
		t.Errorf("empty range: %d, %v, calls %v", m, err, d.calls)
	}

	// Any other reader is read and written.
	out.Reset()
	r := &faultyReader{src, 1 << 62}
	if m, err := WriteRange(ctx, r, &out, 9000, 1000); err != nil || m != 1000 || !bytes.Equal(out.Bytes(), src[9000:]) {
		t.Errorf("fallback: %d, %v", m, err)
	}
	out.Reset()
	if m, err := WriteRange(ctx, r, &out, 9000, 1001); err != io.ErrUnexpectedEOF || m != 1000 {
		t.Errorf("fallback past the end: %d, %v", m, err)
	}
}

func TestWriteZeros(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int64{-1, 0, 1, bufSize, 2*bufSize + 3} {
		var out bytes.Buffer
		m, err := WriteZeros(ctx, &out, n)
		if err != nil || m != max(n, 0) || int64(out.Len()) != m || bytes.ContainsFunc(out.Bytes(), func(r rune) bool { return r != 0 }) {
			t.Errorf("WriteZeros(%d): %d, %v, wrote %d bytes", n, m, err, out.Len())
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cw := &cancelWriter{cancel: cancel}
	if m, err := WriteZeros(ctx, cw, 3*bufSize); err != context.Canceled || m != bufSize || cw.writes != 1 {
		t.Errorf("cancelled: %d, %v after %d writes", m, err, cw.writes)
	}

	var sw shortWriter
	if m, err := WriteZeros(context.Background(), &sw, 10); err != io.ErrShortWrite || m != 5 {
		t.Errorf("short write: %d, %v", m, err)
	}
}

// TestSectionReadAt compares Section with io.SectionReader, which it
// stands in for.
func TestSectionReadAt(t *testing.T) {
	src := data(5000)
	r := bytes.NewReader(src)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sec := range [][2]int64{{0, 5000}, {100, 1000}, {4000, 1000}, {4000, 2000}, {6000, 10}, {10, 0}} {
		s := NewSection(r, sec[0], sec[1])
		want := io.NewSectionReader(r, sec[0], sec[1])
		offs := []int64{-1, 0, 1, sec[1] - 1, sec[1], sec[1] + 1}
		for range 50 {
			offs = append(offs, rng.Int64N(sec[1]+20))
		}
		for _, off := range offs {
			for _, n := range []int{0, 1, 7, 999, 3000} {
				p, q := make([]byte, n), make([]byte, n)
				gn, gerr := s.ReadAt(p, off)
				wn, werr := want.ReadAt(q, off)
				if gn != wn || gerr != werr || !bytes.Equal(p, q) {
					t.Fatalf("section %v: ReadAt(%d bytes at %d) = %d, %v; io.SectionReader: %d, %v", sec, n, off, gn, gerr, wn, werr)
				}
			}
		}
	}
}

func TestNewSectionHuge(t *testing.T) {
	s := NewSection(bytes.NewReader(data(10)), 4, math.MaxInt64)
	if s.Off+s.Size != math.MaxInt64 {
		t.Fatalf("section from 4 of MaxInt64 bytes ends at %d", s.Off+s.Size)
	}
	p := make([]byte, 10)
	if n, err := s.ReadAt(p, math.MaxInt64-10); n != 0 || err == nil {
		t.Errorf("ReadAt near the largest offset: %d, %v", n, err)
	}
}

func TestSectionWriteRange(t *testing.T) {
	src := data(3*bufSize + 5000)
	ctx := context.Background()
	const off, size = 1000, 2*bufSize + 3000
	sec := src[off : off+size]

	for _, tc := range []struct {
		name   string
		off, n int64
		err    error
	}{
		{"start", 0, 10, nil},
		{"middle", 777, bufSize + 5, nil},
		{"all", 0, size, nil},
		{"end", size - 9, 9, nil},
		{"empty", 50, 0, nil},
		{"negative length", 50, -1, nil},
		{"past the end", size - 9, 10, io.ErrUnexpectedEOF},
		{"far past the end", size - bufSize - 1, 3 * bufSize, io.ErrUnexpectedEOF},
		{"at the end", size, 1, io.ErrUnexpectedEOF},
		{"after the end", size + 1, 1, io.ErrUnexpectedEOF},
		{"negative offset", -1, 1, errNegativeOffset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo := min(max(tc.off, 0), size)
			hi := min(max(lo, tc.off+max(tc.n, 0)), size)
			if tc.off < 0 {
				hi = lo
			}
			want := sec[lo:hi]

			// Through a RangeWriter, the call moves by the section's
			// offset, cut at its end.
			d := &rangeDev{b: src}
			var out bytes.Buffer
			m, err := NewSection(d, off, size).WriteRange(ctx, &out, tc.off, tc.n)
			if err != tc.err || m != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("over a RangeWriter: %d, %v; wrote %d bytes, want %d", m, err, out.Len(), len(want))
			}
			if len(want) > 0 && (len(d.calls) != 1 || d.calls[0] != (call{off + lo, int64(len(want))})) {
				t.Errorf("device saw %v, want one call for %d bytes at %d", d.calls, len(want), off+lo)
			}
			if len(want) == 0 && len(d.calls) != 0 || d.reads != 0 {
				t.Errorf("device saw calls %v and %d reads", d.calls, d.reads)
			}

			// Over a plain reader, the same bytes.
			out.Reset()
			m, err = NewSection(bytes.NewReader(src), off, size).WriteRange(ctx, &out, tc.off, tc.n)
			if err != tc.err || m != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("over a reader: %d, %v; wrote %d bytes, want %d", m, err, out.Len(), len(want))
			}
		})
	}

	// A section whose device is shorter than the section writes what the
	// device has.
	var out bytes.Buffer
	m, err := NewSection(bytes.NewReader(src), int64(len(src))-100, 1000).WriteRange(ctx, &out, 50, 200)
	if err != io.ErrUnexpectedEOF || m != 50 || !bytes.Equal(out.Bytes(), src[len(src)-50:]) {
		t.Errorf("past the device's end: %d, %v", m, err)
	}

	// Sections of sections add their offsets.
	d := &rangeDev{b: src}
	out.Reset()
	inner := NewSection(NewSection(d, 100, 5000), 30, 400)
	if m, err := WriteRange(ctx, inner, &out, 5, 300); err != nil || m != 300 || !bytes.Equal(out.Bytes(), src[135:435]) {
		t.Errorf("nested: %d, %v", m, err)
	}
	if len(d.calls) != 1 || d.calls[0] != (call{135, 300}) {
		t.Errorf("nested: device saw %v", d.calls)
	}
}

func TestSectionWriteRangeErrors(t *testing.T) {
	src := data(3 * bufSize)
	s := NewSection(&faultyReader{src, 2*bufSize + 10}, bufSize, 2*bufSize)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if m, err := s.WriteRange(ctx, &out, 0, 10); err != context.Canceled || m != 0 || out.Len() != 0 {
		t.Errorf("cancelled: %d, %v", m, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	cw := &cancelWriter{cancel: cancel}
	if m, err := s.WriteRange(ctx, cw, 0, 2*bufSize); err != context.Canceled || m != bufSize {
		t.Errorf("cancelled while writing: %d, %v", m, err)
	}

	out.Reset()
	m, err := s.WriteRange(context.Background(), &out, 5, 2*bufSize-5)
	if !errors.Is(err, errRead) || m != bufSize+5 || !bytes.Equal(out.Bytes(), src[bufSize+5:2*bufSize+10]) {
		t.Errorf("read error: %d, %v", m, err)
	}

	var sw shortWriter
	if m, err := s.WriteRange(context.Background(), &sw, 0, 100); err != io.ErrShortWrite || m != 50 {
		t.Errorf("short write: %d, %v", m, err)
	}
}
