package nbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

// checkReads reads c in several ways and compares with want: the whole
// export in one read, reads across and past the end, and many concurrent
// reads at odd offsets and lengths.
func checkReads(t *testing.T, c *Conn, want []byte) {
	t.Helper()
	if c.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", c.Size(), len(want))
	}
	got := make([]byte, len(want))
	if n, err := c.ReadAt(got, 0); n != len(want) || err != nil {
		t.Fatalf("ReadAt(all) = %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAt(all): wrong bytes (first difference at %d)", firstDiff(got, want))
	}
	buf := make([]byte, 1000)
	off := int64(len(want) - 100)
	if n, err := c.ReadAt(buf, off); n != 100 || err != io.EOF {
		t.Fatalf("ReadAt across the end = %d, %v; want 100, io.EOF", n, err)
	}
	if !bytes.Equal(buf[:100], want[off:]) {
		t.Fatal("ReadAt across the end: wrong bytes")
	}
	for _, off := range []int64{int64(len(want)), int64(len(want)) + 4096} {
		if n, err := c.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt(%d) = %d, %v; want 0, io.EOF", off, n, err)
		}
	}
	if _, err := c.ReadAt(buf, -1); err == nil {
		t.Fatal("ReadAt(-1) succeeded")
	}
	if n, err := c.ReadAt(nil, 5); n != 0 || err != nil {
		t.Fatalf("ReadAt(nil) = %d, %v", n, err)
	}

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 50 {
				n := rng.IntN(200 << 10)
				off := rng.Int64N(int64(len(want)))
				b := make([]byte, n)
				got, err := c.ReadAt(b, off)
				wantN := min(n, len(want)-int(off))
				if got != wantN || (err != nil && !(err == io.EOF && wantN < n)) {
					errc <- errorf("ReadAt(%d bytes at %d) = %d, %v", n, off, got, err)
					return
				}
				if !bytes.Equal(b[:got], want[off:off+int64(got)]) {
					errc <- errorf("ReadAt(%d bytes at %d): wrong bytes", n, off)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func errorf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestNbdkitFile(t *testing.T) {
	want := pattern(3<<20+517, 1)
	file := writeFile(t, "disk.img", want)
	for _, unix := range []bool{true, false} {
		t.Run(map[bool]string{true: "unix", false: "tcp"}[unix], func(t *testing.T) {
			s := startNbdkit(t, unix, []string{"-r"}, "file", file)
			c := dial(t, s.exportURI("", false), Options{})
			info := c.Info()
			if info.Handshake != "fixed newstyle" || !info.StructuredReplies || info.TLS {
				t.Errorf("Info() = %+v", info)
			}
			if info.Flags&FlagReadOnly == 0 {
				t.Errorf("flags %v lack read-only", info.Flags)
			}
			checkReads(t, c, want)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrClosed) {
				t.Fatalf("ReadAt after Close: %v, want ErrClosed", err)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestNbdkitSimpleReplies(t *testing.T) {
	want := pattern(1<<20+3, 2)
	file := writeFile(t, "disk.img", want)
	s := startNbdkit(t, true, []string{"-r", "--no-sr"}, "file", file)
	c := dial(t, s.exportURI("", false), Options{})
	if c.Info().StructuredReplies {
		t.Fatal("structured replies agreed with nbdkit --no-sr")
	}
	checkReads(t, c, want)
}

func TestNbdkitContext(t *testing.T) {
	want := pattern(1<<20, 3)
	file := writeFile(t, "disk.img", want)
	s := startNbdkit(t, true, []string{"-r"}, "file", file)
	c := dial(t, s.exportURI("", false), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReadAtContext(ctx, make([]byte, 10), 0); err != context.Canceled {
		t.Fatalf("ReadAtContext(cancelled) = %v", err)
	}
	checkReads(t, c, want)
}
