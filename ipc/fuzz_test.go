package ipc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader and every message
// decoder. It asserts only that nothing panics, that errors are errors, and
// that no body larger than the limit is ever returned (so allocation is
// bounded by the limit, not by the input's claims).
func FuzzReadFrame(f *testing.F) {
	var e encoder
	helloMsg{Version: ProtocolVersion, Caps: capSHM, Slots: 8, SlotSize: 1 << 20}.encode(&e)
	f.Add(appendFrame(nil, header{Type: msgHello, ID: 1}, e.b))
	e = encoder{}
	e.str("disk.img", maxSpec)
	f.Add(appendFrame(nil, header{Type: msgOpen, ID: 2}, e.b))
	e = encoder{}
	readReq{Disk: 1, Slot: noSlot, Off: 512, Len: 4096}.encode(&e)
	f.Add(appendFrame(nil, header{Type: msgRead, ID: 3}, e.b))
	e = encoder{}
	appendErr(&e, io.EOF)
	e.u32(3)
	e.b = append(e.b, "abc"...)
	f.Add(appendFrame(nil, header{Type: msgRead | replyBit, ID: 3}, e.b))
	e = encoder{}
	appendErr(&e, nil)
	e.u32(1)
	DiskStatus{ID: 1, Name: "x", LastErr: "y", LastErrAt: time.Unix(1, 0), State: "ready",
		Format: "vmdk", ConnID: 2, Reconnects: 3}.encode(&e)
	f.Add(appendFrame(nil, header{Type: msgStatus | replyBit, ID: 4}, e.b))
	e = encoder{}
	copyReq{Disk: 1, Stream: 1, Seq: 0, Off: 4096, Len: 1 << 20}.encode(&e)
	f.Add(appendFrame(nil, header{Type: msgCopy, ID: 5}, e.b))
	var hb [headerSize]byte
	putHeader(hb[:], header{Type: msgRead, Length: 1<<32 - 1})
	f.Add(hb[:])

	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			h, body, err := readFrame(r, limit)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(body) > limit || uint32(len(body)) != h.Length {
				t.Fatalf("body of %d bytes, header says %d, limit %d", len(body), h.Length, limit)
			}
			decodeAll(body)
			// The inline read-reply path reads straight from the stream.
			cl := &call{typ: msgRead, dst: make([]byte, 4096)}
			h.Type = msgRead | replyBit
			readInlineBody(bufioReader(body), h, cl, false)
			readInlineBody(bufioReader(body), h, &call{typ: msgRead, dst: make([]byte, 4096)}, true)
		}
	})
}

// decodeAll runs every decoder over body.
func decodeAll(body []byte) {
	for _, f := range []func(d *decoder){
		func(d *decoder) { decodeHello(d) },
		func(d *decoder) { d.str(maxSpec, "spec") },
		func(d *decoder) { decodeReadReq(d) },
		func(d *decoder) { decodeCopyReq(d) },
		func(d *decoder) { decodeErr(d); decodeDiskInfo(d) },
		func(d *decoder) {
			decodeErr(d)
			for range decodeCount(d, maxDisks, 2, "status") {
				decodeDiskStatus(d)
			}
		},
		func(d *decoder) {
			decodeErr(d)
			for range decodeCount(d, maxDisks, 14, "list") {
				decodeDiskInfo(d)
			}
		},
	} {
		d := decoder{b: body}
		f(&d)
		d.end("fuzz")
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
