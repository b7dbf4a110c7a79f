package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
			if info.Flags&FlagReadOnly == 0 || info.Flags&FlagCanMultiConn == 0 {
				t.Errorf("flags %v lack read-only or multi-conn", info.Flags)
			}
			waitConns(t, c, 4)
			checkReads(t, c, want)
			// One connection only, when asked.
			c1 := dial(t, s.exportURI("", false), Options{Connections: 1})
			checkReads(t, c1, want)
			if n := c1.Info().Connections; n != 1 {
				t.Errorf("%d connections, asked for 1", n)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReadAt(make([]byte, 10), 0); err != ErrClosed || !errors.Is(err, fs.ErrClosed) || err.Error() != "nbd: connection closed" {
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

// TestNbdkitBlockSize serves an export that refuses requests not aligned
// to 4 KiB or longer than 64 KiB: reads at any offset and of any length
// must be widened and split to fit.
func TestNbdkitBlockSize(t *testing.T) {
	want := pattern(1<<20, 4)
	file := writeFile(t, "disk.img", want)
	s := startNbdkit(t, true, []string{"-r", "--filter=blocksize-policy"}, "file", file,
		"blocksize-minimum=4096", "blocksize-preferred=8192", "blocksize-maximum=65536", "blocksize-error-policy=error")
	c := dial(t, s.exportURI("", false), Options{})
	info := c.Info()
	if !info.BlockSizes || info.MinBlock != 4096 || info.PreferredBlock != 8192 || info.MaxBlock != 65536 || info.MaxRequest != 65536 {
		t.Fatalf("Info() = %+v", info)
	}
	for _, r := range []struct{ off, n int }{{1, 1}, {4095, 2}, {4096, 4096}, {100, 200000}, {5000, 8192}, {0, 65536*3 + 1}} {
		b := make([]byte, r.n)
		if n, err := c.ReadAt(b, int64(r.off)); n != r.n || err != nil {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", r.n, r.off, n, err)
		}
		if !bytes.Equal(b, want[r.off:r.off+r.n]) {
			t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", r.n, r.off)
		}
	}
	checkReads(t, c, want)
}

// TestNbdkitHandshakes connects to nbdkit speaking the oldstyle and the
// original newstyle handshakes.
func TestNbdkitHandshakes(t *testing.T) {
	want := pattern(256<<10, 5)
	file := writeFile(t, "disk.img", want)
	for _, tt := range []struct{ flag, handshake string }{
		{"--oldstyle", "oldstyle"},
		{"--newstyle", "fixed newstyle"},
	} {
		t.Run(tt.handshake, func(t *testing.T) {
			s := startNbdkit(t, false, []string{"-r", tt.flag}, "file", file)
			c := dial(t, s.exportURI("", false), Options{})
			if info := c.Info(); info.Handshake != tt.handshake {
				t.Fatalf("handshake %q, want %q", info.Handshake, tt.handshake)
			}
			checkReads(t, c, want)
			if tt.handshake == "oldstyle" {
				if _, err := Dial(context.Background(), s.exportURI("named", false), Options{}); err == nil || !strings.Contains(err.Error(), "no export names") {
					t.Fatalf("Dial with an export name to an oldstyle server: %v", err)
				}
			}
		})
	}
}

// TestNbdkitErrors injects read errors with nbdkit's error filter: each
// read fails with an *Error naming the errno and the offset, and the
// connection stays usable once the errors stop.
func TestNbdkitErrors(t *testing.T) {
	want := pattern(1<<20, 6)
	file := writeFile(t, "disk.img", want)
	for _, sr := range []bool{true, false} {
		t.Run(map[bool]string{true: "structured", false: "simple"}[sr], func(t *testing.T) {
			trigger := filepath.Join(t.TempDir(), "inject")
			flags := []string{"-r", "--filter=error"}
			if !sr {
				flags = append(flags, "--no-sr")
			}
			s := startNbdkit(t, true, flags, "file", file, "error=EIO", "error-pread-rate=100%", "error-pread-file="+trigger)
			c := dial(t, s.exportURI("", false), Options{})
			b := make([]byte, 10000)
			if _, err := c.ReadAt(b, 12345); err != nil {
				t.Fatalf("ReadAt before errors: %v", err)
			}
			if err := os.WriteFile(trigger, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			n, err := c.ReadAt(b, 12345)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ReadAt = %d, %v; want an *Error", n, err)
			}
			if e.Errno != 5 || e.Off != 12345 || e.Op != "read" || !errors.Is(err, syscall.EIO) || errors.Is(err, ErrDisconnected) {
				t.Fatalf("ReadAt: %#v (%v)", e, err)
			}
			if !strings.Contains(err.Error(), "EIO") || !strings.Contains(err.Error(), "offset 12345") || !strings.HasPrefix(err.Error(), "nbd: nbd+unix://") {
				t.Fatalf("error text %q", err)
			}
			// A long read fails at its first request.
			big := make([]byte, 9<<20)
			if n, err := c.ReadAt(big, 0); n != 0 || !errors.As(err, &e) {
				t.Fatalf("ReadAt(9 MiB) = %d, %v", n, err)
			}
			if err := os.Remove(trigger); err != nil {
				t.Fatal(err)
			}
			if c.Err() != nil {
				t.Fatalf("Err() = %v after server errors", c.Err())
			}
			checkReads(t, c, want)
		})
	}
}

// TestNbdkitShutdown: a server that answers ESHUTDOWN is going away; the
// read fails with an *Error that also reads as ErrDisconnected, and the
// connection ends.
func TestNbdkitShutdown(t *testing.T) {
	file := writeFile(t, "disk.img", pattern(64<<10, 7))
	s := startNbdkit(t, true, []string{"-r", "--filter=error"}, "file", file, "error=ESHUTDOWN", "error-pread-rate=100%")
	c := dial(t, s.exportURI("", false), Options{})
	_, err := c.ReadAt(make([]byte, 512), 0)
	var e *Error
	if !errors.As(err, &e) || e.Errno != 108 || !errors.Is(err, ErrDisconnected) || !errors.Is(err, syscall.ESHUTDOWN) {
		t.Fatalf("ReadAt = %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after ESHUTDOWN")
	}
	if _, err := c.ReadAt(make([]byte, 512), 0); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("ReadAt after ESHUTDOWN = %v", err)
	}
}

// TestNbdkitCancel cancels reads the server is slow to answer: they return
// ctx.Err() at once, and the connection stays usable, the late replies
// dropped.
func TestNbdkitCancel(t *testing.T) {
	want := pattern(1<<20, 8)
	file := writeFile(t, "disk.img", want)
	s := startNbdkit(t, true, []string{"-r", "--filter=delay"}, "file", file, "rdelay=300ms")
	c := dial(t, s.exportURI("", false), Options{})
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		b := make([]byte, 9<<20)
		start := time.Now()
		n, err := c.ReadAtContext(ctx, b, 0)
		cancel()
		if n != 0 || err != context.DeadlineExceeded {
			t.Fatalf("ReadAtContext = %d, %v; want 0, DeadlineExceeded", n, err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Fatalf("cancelled read took %v", d)
		}
		// The buffer is the caller's again: nothing writes into it.
		clear(b)
	}
	b := make([]byte, 100000)
	if n, err := c.ReadAt(b, 4321); n != len(b) || err != nil || !bytes.Equal(b, want[4321:4321+len(b)]) {
		t.Fatalf("ReadAt after cancelled reads = %d, %v", n, err)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

// TestNbdkitKilled kills the server while reads wait for it: they fail
// with ErrDisconnected, and so does every read after.
func TestNbdkitKilled(t *testing.T) {
	file := writeFile(t, "disk.img", pattern(1<<20, 9))
	s := startNbdkit(t, false, []string{"-r", "--filter=delay"}, "file", file, "rdelay=10")
	c := dial(t, s.exportURI("", false), Options{})
	errc := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := c.ReadAt(make([]byte, 3<<20), int64(i)*1000)
			errc <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	s.kill()
	for range 4 {
		select {
		case err := <-errc:
			if !errors.Is(err, ErrDisconnected) {
				t.Fatalf("ReadAt while the server died = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ReadAt hangs after the server died")
		}
	}
	if _, err := c.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrDisconnected) || !errors.Is(c.Err(), ErrDisconnected) {
		t.Fatalf("ReadAt after the server died = %v; Err() = %v", err, c.Err())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNbdkitPattern reads nbdkit's pattern plugin, whose every 8 bytes
// hold their own offset, big-endian; and its memory plugin, all zeroes.
func TestNbdkitPattern(t *testing.T) {
	const size = 5<<20 + 24
	want := make([]byte, size)
	for off := 0; off < size; off += 8 {
		binary.BigEndian.PutUint64(want[off:], uint64(off))
	}
	s := startNbdkit(t, false, nil, "pattern", fmt.Sprint("size=", size))
	c := dial(t, s.exportURI("", false), Options{})
	checkReads(t, c, want)

	m := startNbdkit(t, true, nil, "memory", "size=3M")
	cm := dial(t, m.exportURI("", false), Options{})
	if cm.Info().Flags&FlagReadOnly != 0 {
		t.Fatalf("flags %v: nbdkit memory is writable, the client just does not write", cm.Info().Flags)
	}
	checkReads(t, cm, make([]byte, 3<<20))
}
