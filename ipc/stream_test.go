package ipc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// openStreamFile opens a stream on a new file in a temporary directory.
func openStreamFile(t *testing.T, c *Client) (*Stream, *os.File) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s, err := c.OpenStream(f)
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

// The worker writes ranges to the shell's file in order, between bytes the
// shell writes itself, in every mode of the client: the ranges are big
// (many copies in flight), small, unaligned, and at the end of the disk,
// and a run of small ones follow each other with their copies in flight
// together.
func TestStreamWriteRange(t *testing.T) {
	name, data := tempImage(t, 40<<20+123)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			d := openDisk(t, c, name)
			s, f := openStreamFile(t, c)
			var want bytes.Buffer
			ranges := []struct{ off, n int64 }{
				{0, 40 << 20}, {5, 1}, {4<<20 - 3, 9<<20 + 7}, {int64(len(data)) - 1000, 1000}, {77, 0},
			}
			for i, r := range ranges {
				got, err := d.WriteRange(context.Background(), s, r.off, r.n)
				if err != nil || got != r.n {
					t.Fatalf("range %d: wrote %d of %d: %v", i, got, r.n, err)
				}
				want.Write(data[r.off : r.off+r.n])
				fmt := []byte{'|', byte(i)}
				if _, err := s.Write(fmt); err != nil {
					t.Fatal(err)
				}
				want.Write(fmt)
			}
			for i := range int64(300) {
				off, n := (i*7919<<10)%(40<<20), 1000+i*331
				if got, err := d.WriteRange(context.Background(), s, off, n); err != nil || got != n {
					t.Fatalf("small range %d: wrote %d of %d: %v", i, got, n, err)
				}
				want.Write(data[off : off+n])
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			out, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, want.Bytes()) {
				t.Fatalf("the file holds %d bytes, not the %d expected (or other bytes)", len(out), want.Len())
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close: %v", err)
			}
		})
	}
}

// A range past the end writes what there is and says so; a read error of
// the disk fails the copy naming it (WriteRange returns it, or the Write or
// Close after it), and nothing more is written to the stream afterwards.
func TestStreamErrors(t *testing.T) {
	name, data := tempImage(t, 8<<20)
	c := startClient(t, Config{})
	d := openDisk(t, c, name)
	s, f := openStreamFile(t, c)
	n, err := d.WriteRange(context.Background(), s, 7<<20, 2<<20)
	if n != 1<<20 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("range past the end: wrote %d, %v", n, err)
	}
	s.Close()
	if out, _ := os.ReadFile(f.Name()); !bytes.Equal(out, data[7<<20:]) {
		t.Fatalf("range past the end: the file holds %d bytes", len(out))
	}

	const from, to = 5<<20 + 100, 5<<20 + 200
	bad := openDisk(t, c, badSpec(name, from, to))
	s, f = openStreamFile(t, c)
	n, err = bad.WriteRange(context.Background(), s, 0, 8<<20)
	if err != nil && n > from {
		t.Fatalf("copy over a bad range: wrote %d, %v", n, err)
	}
	ferr := s.Flush()
	if ferr == nil {
		t.Fatal("Flush after a failed copy: no error")
	}
	if err == nil {
		err = ferr
	}
	t.Logf("error: %v", err)
	if ferr.Error() != err.Error() {
		t.Errorf("Flush after a failed copy: %v, want %v", ferr, err)
	}
	if _, werr := s.Write([]byte("x")); werr == nil || werr.Error() != err.Error() {
		t.Errorf("Write after a failed copy: %v", werr)
	}
	if cerr := s.Close(); cerr == nil || cerr.Error() != err.Error() {
		t.Errorf("Close after a failed copy: %v", cerr)
	}
	if ferr := s.Flush(); !errors.Is(ferr, ErrClosed) {
		t.Errorf("Flush after Close: %v", ferr)
	}
	out, _ := os.ReadFile(f.Name())
	if len(out) > from || !bytes.Equal(out, data[:len(out)]) {
		t.Fatalf("after a failed copy the file holds %d bytes", len(out))
	}
	if len(out)%maxCopyLen != 0 {
		t.Errorf("a copy was written in part: %d bytes", len(out))
	}
}

// A write to a pipe whose reader has gone fails with EPIPE; copies that
// wait for a reader that does not read stop at Interrupt, and Close
// returns once the worker no longer writes.
func TestStreamPipe(t *testing.T) {
	name, _ := tempImage(t, 16<<20)
	c := startClient(t, Config{Timeout: 2 * time.Second})
	d := openDisk(t, c, name)

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.OpenStream(w)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.Close()
	if _, err = d.WriteRange(context.Background(), s, 0, 16<<20); err == nil {
		err = s.Close()
	}
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("copy to a pipe nobody reads: %v, want EPIPE", err)
	}
	s.Close()

	r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s, err = c.OpenStream(w)
	if err != nil {
		t.Fatal(err)
	}
	// More than copyAhead copies: WriteRange waits for the first.
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 3 && err == nil; i++ {
			_, err = d.WriteRange(context.Background(), s, 0, 16<<20)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the pipe fills; the worker waits
	select {
	case err := <-done:
		t.Fatalf("copy to a full pipe returned: %v", err)
	default:
	}
	c.Interrupt()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInterrupted) {
			t.Errorf("interrupted copy: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Interrupt did not stop the copy")
	}
	// The worker's write stays blocked until the pipe is read; Close
	// waits for it at most the timeout.
	go io.Copy(io.Discard, r)
	if err := s.Close(); !errors.Is(err, ErrInterrupted) {
		t.Errorf("Close after the interrupted copies: %v", err)
	}
	// The disk is still fine.
	p := make([]byte, 100)
	if _, err := d.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
}

// WriteRange to any other writer reads and writes in this process.
func TestWriteRangeFallback(t *testing.T) {
	name, data := tempImage(t, 3<<20)
	c := startClient(t, Config{})
	d := openDisk(t, c, name)
	var b bytes.Buffer
	n, err := d.WriteRange(context.Background(), &b, 1000, 2<<20)
	if err != nil || n != 2<<20 || !bytes.Equal(b.Bytes(), data[1000:1000+2<<20]) {
		t.Fatalf("wrote %d, %v", n, err)
	}
}

// Hostile stream requests get error replies, and the worker keeps serving:
// a stream open without a descriptor or with a body, copies to a stream
// that does not exist, of a disk that does not exist, too long, or with a
// sequence number outside the window; closing an unknown stream.
func TestServeBadStreamRequests(t *testing.T) {
	name, _ := tempImage(t, 1<<20)
	c, _ := serveInProcess(t)
	info := helloOpen(t, c, name)
	sendFrame(t, c, msgStreamOpen, 3, nil)
	if _, rerr, _ := recvReply(t, c); !errors.Is(rerr, ErrProtocol) {
		t.Errorf("stream open without a descriptor: %v", rerr)
	}

	// A real stream, on a file.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	frame := appendFrame(nil, header{Type: msgStreamOpen, ID: 4}, nil)
	if _, _, err := c.WriteMsgUnix(frame, syscall.UnixRights(int(out.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	_, rerr, payload := recvReply(t, c)
	d := decoder{b: payload}
	sid := d.u64("stream id")
	if rerr != nil || d.end("reply") != nil {
		t.Fatal(rerr, d.err)
	}

	reqs := map[string]copyReq{
		"unknown stream": {Disk: info.ID, Stream: sid + 1, Len: 10},
		"unknown disk":   {Disk: 77, Stream: sid, Seq: 0, Len: 10},
		"far ahead":      {Disk: info.ID, Stream: sid, Seq: maxCopyAhead + 5, Len: 10},
		"too long":       {Disk: info.ID, Stream: sid, Seq: 0, Len: maxCopyLen + 1},
	}
	id := uint64(10)
	for _, what := range []string{"unknown stream", "unknown disk", "far ahead", "too long"} {
		var e encoder
		reqs[what].encode(&e)
		sendFrame(t, c, msgCopy, id, e.b)
		h, rerr, payload := recvReply(t, c)
		if h.ID != id || rerr == nil || len(payload) != 4 {
			t.Errorf("%s: reply %+v err %v payload %d bytes", what, h, rerr, len(payload))
		}
		t.Logf("%s: %v", what, rerr)
		id++
	}
	var e encoder
	e.u64(sid + 9)
	sendFrame(t, c, msgStreamClose, id, e.b)
	if _, rerr, _ := recvReply(t, c); rerr == nil {
		t.Error("closing an unknown stream succeeded")
	}
	e = encoder{}
	e.u64(sid)
	sendFrame(t, c, msgStreamClose, id+1, e.b)
	if _, rerr, _ := recvReply(t, c); rerr != nil {
		t.Errorf("closing the stream: %v", rerr)
	}
	// Still serving.
	sendFrame(t, c, msgList, id+2, nil)
	if _, rerr, _ := recvReply(t, c); rerr != nil {
		t.Errorf("list after the bad requests: %v", rerr)
	}
}
