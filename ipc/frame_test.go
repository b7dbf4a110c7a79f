package ipc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	cases := []struct {
		h    header
		body []byte
	}{
		{header{Type: msgHello, ID: 1}, []byte{1, 2, 3}},
		{header{Type: msgRead | replyBit, ID: 1<<64 - 1}, bytes.Repeat([]byte{0xAB}, 5000)},
		{header{Type: msgList, ID: 0}, nil},
		{header{Type: msgClose | replyBit, ID: 42}, []byte("x")},
	}
	var stream []byte
	for _, c := range cases {
		stream = appendFrame(stream, c.h, c.body)
	}
	r := bytes.NewReader(stream)
	for _, c := range cases {
		h, body, err := readFrame(r, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		want := c.h
		want.Length = uint32(len(c.body))
		if h != want || !bytes.Equal(body, c.body) {
			t.Errorf("got %+v %d bytes, want %+v %d bytes", h, len(body), want, len(c.body))
		}
	}
	if _, _, err := readFrame(r, 1<<20); err != io.EOF {
		t.Errorf("after last frame: %v, want io.EOF", err)
	}
}

func TestFrameTruncation(t *testing.T) {
	frame := appendFrame(nil, header{Type: msgOpen, ID: 7}, []byte("some/disk.img"))
	for n := range len(frame) {
		_, _, err := readFrame(bytes.NewReader(frame[:n]), 1<<20)
		if err == nil {
			t.Fatalf("frame cut to %d of %d bytes: no error", n, len(frame))
		}
		if n == 0 && err != io.EOF {
			t.Errorf("empty stream: %v, want io.EOF", err)
		}
		if n > 0 && !errors.Is(err, ErrProtocol) {
			t.Errorf("frame cut to %d bytes: %v, want ErrProtocol", n, err)
		}
	}
}

func TestFrameBadHeader(t *testing.T) {
	good := appendFrame(nil, header{Type: msgRead, ID: 3}, make([]byte, 20))
	mut := map[string]func(b []byte){
		"magic":    func(b []byte) { b[0] ^= 1 },
		"version":  func(b []byte) { b[4] = 2 },
		"type":     func(b []byte) { b[5] = 0x7f },
		"type0":    func(b []byte) { b[5] = 0 },
		"flags":    func(b []byte) { b[6] = 1 },
		"reserved": func(b []byte) { b[23] = 1 },
	}
	for name, f := range mut {
		b := bytes.Clone(good)
		f(b)
		if _, _, err := readFrame(bytes.NewReader(b), 1<<20); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}

// headerOnly fails the test if anything past the header is read.
type headerOnly struct {
	t *testing.T
	b []byte
}

func (r *headerOnly) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		r.t.Fatal("read past the header of an oversized frame")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestFrameTooLarge(t *testing.T) {
	var hb [headerSize]byte
	putHeader(hb[:], header{Type: msgRead | replyBit, ID: 1, Length: 1<<32 - 1})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		_, _, err := readFrame(&headerOnly{t, hb[:]}, maxReplyBody)
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("got %v, want ErrFrameTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("rejecting 100 oversized frames allocated %d bytes", d)
	}
	// One byte over the limit is refused too.
	putHeader(hb[:], header{Type: msgOpen, Length: maxRequestBody + 1})
	if _, _, err := readFrame(&headerOnly{t, hb[:]}, maxRequestBody); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("limit+1: %v, want ErrFrameTooLarge", err)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	var e encoder
	hello := helloMsg{Version: 1, Caps: capSHM, Slots: 8, SlotSize: 1 << 20, MaxInline: MaxInline}
	hello.encode(&e)
	info := DiskInfo{ID: 9, Size: 1 << 40, Name: "disk.qcow2"}
	info.encode(&e)
	rr := readReq{Disk: 9, Slot: noSlot, Off: 1<<40 + 5, Len: 4096}
	rr.encode(&e)
	st := DiskStatus{ID: 9, Name: "nbd://host/export", Size: 77, Bytes: 1 << 33, Requests: 12, Errors: 1,
		LastErr: "read: connection reset", LastErrAt: time.Unix(1700000000, 123), State: "reconnecting",
		Format: "qcow2", ConnID: 3, Reconnects: 5}
	st.encode(&e)
	appendErr(&e, &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT})

	d := decoder{b: e.b}
	if got := decodeHello(&d); got != hello {
		t.Errorf("hello: %+v", got)
	}
	if got := decodeDiskInfo(&d); got != info {
		t.Errorf("info: %+v", got)
	}
	if got := decodeReadReq(&d); got != rr {
		t.Errorf("read: %+v", got)
	}
	got := decodeDiskStatus(&d)
	if !got.LastErrAt.Equal(st.LastErrAt) {
		t.Errorf("status time %v, want %v", got.LastErrAt, st.LastErrAt)
	}
	got.LastErrAt = st.LastErrAt
	if got != st {
		t.Errorf("status: %+v", got)
	}
	err := decodeErr(&d)
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) || err.Error() != "open /x: no such file or directory" {
		t.Errorf("error: %v", err)
	}
	if err := d.end("test"); err != nil {
		t.Error(err)
	}
}

// A status record from a later version, with a field appended, still
// decodes, and the fields after it too.
func TestStatusExtensible(t *testing.T) {
	var r encoder
	DiskStatus{ID: 1, Name: "a", State: "ready"}.encode(&r)
	rec := r.b[2:]
	rec = append(rec, "future field"...)
	var e encoder
	e.u32(2)
	e.u16(uint16(len(rec)))
	e.b = append(e.b, rec...)
	DiskStatus{ID: 2, Name: "b"}.encode(&e)
	d := decoder{b: e.b}
	n := decodeCount(&d, maxDisks, 2, "status")
	a, b := decodeDiskStatus(&d), decodeDiskStatus(&d)
	if err := d.end("status"); err != nil || n != 2 || a.ID != 1 || a.State != "ready" || b.ID != 2 || b.Name != "b" {
		t.Errorf("n=%d a=%+v b=%+v err=%v", n, a, b, err)
	}
}

// A status record from a worker that predates the format, connection id
// and reconnect fields decodes with their defaults.
func TestStatusOlder(t *testing.T) {
	var r encoder
	DiskStatus{ID: 4, Name: "a", State: "ready"}.encode(&r)
	rec := r.b[2 : len(r.b)-(2+4+8)] // format "", connection id, reconnects
	var e encoder
	e.u16(uint16(len(rec)))
	e.b = append(e.b, rec...)
	d := decoder{b: e.b}
	got := decodeDiskStatus(&d)
	want := DiskStatus{ID: 4, Name: "a", State: "ready", ConnID: 4}
	if err := d.end("status"); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
}

func TestMessageTruncation(t *testing.T) {
	var e encoder
	helloMsg{Version: 1}.encode(&e)
	DiskInfo{ID: 1, Size: 2, Name: "n"}.encode(&e)
	readReq{}.encode(&e)
	DiskStatus{Name: "x", LastErr: "y", State: "z"}.encode(&e)
	appendErr(&e, errors.New("boom"))
	for n := range len(e.b) {
		d := decoder{b: e.b[:n]}
		decodeHello(&d)
		decodeDiskInfo(&d)
		decodeReadReq(&d)
		decodeDiskStatus(&d)
		decodeErr(&d)
		if d.err == nil {
			t.Fatalf("messages cut to %d of %d bytes: no error", n, len(e.b))
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	// A string longer than its limit.
	var e encoder
	e.u16(maxName + 1)
	e.b = append(e.b, make([]byte, maxName+1)...)
	d := decoder{b: e.b}
	d.str(maxName, "name")
	if !errors.Is(d.err, ErrProtocol) {
		t.Errorf("long string: %v", d.err)
	}
	// A count that the bytes left cannot hold.
	e = encoder{}
	e.u32(200)
	d = decoder{b: e.b}
	if n := decodeCount(&d, maxDisks, 2, "list"); n != 0 || d.err == nil {
		t.Errorf("count 200 with no bytes: n=%d err=%v", n, d.err)
	}
	e = encoder{}
	e.u32(maxDisks + 1)
	e.b = append(e.b, make([]byte, 2*(maxDisks+1))...)
	d = decoder{b: e.b}
	if decodeCount(&d, maxDisks, 2, "list"); d.err == nil {
		t.Error("count over maxDisks accepted")
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err  error
		is   []error
		same bool // comes back as the identical value
	}{
		{nil, nil, true},
		{io.EOF, []error{io.EOF}, true},
		{io.ErrUnexpectedEOF, []error{io.ErrUnexpectedEOF}, true},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, []error{fs.ErrNotExist, syscall.ENOENT}, false},
		{syscall.EIO, []error{syscall.EIO}, false},
		{fmt.Errorf("wrapped: %w", fs.ErrNotExist), []error{fs.ErrNotExist}, false},
		{os.ErrPermission, []error{fs.ErrPermission}, false},
		{fmt.Errorf("ext4: bigalloc: %w", errors.ErrUnsupported), []error{errors.ErrUnsupported}, false},
		{fmt.Errorf("x: %w", ErrVersion), []error{ErrVersion}, false},
		{errors.New("something else"), nil, false},
	}
	for _, c := range cases {
		var e encoder
		appendErr(&e, c.err)
		d := decoder{b: e.b}
		got := decodeErr(&d)
		if d.err != nil {
			t.Fatal(d.err)
		}
		if c.same && got != c.err {
			t.Errorf("%v came back as %#v", c.err, got)
		}
		if c.err != nil && (got == nil || got.Error() != c.err.Error()) && !c.same {
			t.Errorf("%v came back as %v", c.err, got)
		}
		for _, target := range c.is {
			if !errors.Is(got, target) {
				t.Errorf("%v: errors.Is(%v) false", got, target)
			}
		}
	}
}

func TestTruncateUTF8(t *testing.T) {
	s := "aé" // 'é' is two bytes
	if got := truncate(s, 2); got != "a" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate(s, 3); got != s {
		t.Errorf("truncate = %q", got)
	}
}

func TestDisplayName(t *testing.T) {
	for spec, want := range map[string]string{
		"/var/lib/images/vm.qcow2":            "vm.qcow2",
		"disk.raw":                            "disk.raw",
		"nbd://user:secret@host:10809/export": "nbd://host:10809/export",
		"nbd://host?tls=1":                    "nbd://host",
	} {
		if got := displayName(spec); got != want {
			t.Errorf("displayName(%q) = %q, want %q", spec, got, want)
		}
	}
}
