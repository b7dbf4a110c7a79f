package nbd

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzReads are the reads in flight when FuzzReply's bytes arrive.
var fuzzReads = []struct {
	cookie uint64
	off    uint64
	n      int
}{
	{1, 0, 4096},
	{2, 8192, 512},
	{3, 1 << 19, 70000},
}

// FuzzReply feeds arbitrary bytes, as the server's side of the
// transmission phase, to the reply reader while three reads are in
// flight. Nothing may panic or hang; every read ends, with its data, an
// *Error, or a connection error; data lands only in the buffers of the
// reads (the slices would panic otherwise).
func FuzzReply(f *testing.F) {
	simple := func(cookie uint64, errno uint32, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, magicSimple)
		b = binary.BigEndian.AppendUint32(b, errno)
		b = binary.BigEndian.AppendUint64(b, cookie)
		return append(b, data...)
	}
	chunk := func(flags, typ uint16, cookie uint64, payload []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, magicStructured)
		b = binary.BigEndian.AppendUint16(b, flags)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint64(b, cookie)
		b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
		return append(b, payload...)
	}
	var all []byte
	for _, r := range fuzzReads {
		all = append(all, simple(r.cookie, 0, make([]byte, r.n))...)
	}
	f.Add(false, all)
	f.Add(false, simple(2, 5, nil))
	f.Add(true, chunk(replyFlagDone, chunkOffsetData, 2, dataChunk(8192, make([]byte, 512))))
	var sr []byte
	sr = append(sr, chunk(0, chunkOffsetHole, 1, holeChunk(1000, 3096))...)
	sr = append(sr, chunk(0, chunkOffsetData, 3, dataChunk(1<<19+10, []byte("abc")))...)
	sr = append(sr, chunk(0, chunkOffsetData, 1, dataChunk(0, make([]byte, 1000)))...)
	sr = append(sr, chunk(replyFlagDone, chunkNone, 1, nil)...)
	sr = append(sr, chunk(0, chunkErrorOffset, 3, errOffsetChunk(5, "bad", 1<<19+100))...)
	sr = append(sr, chunk(replyFlagDone, chunkError, 2, errChunk(22, "no"))...)
	sr = append(sr, chunk(replyFlagDone, chunkErrBit|9, 3, errChunk(1, ""))...)
	f.Add(true, sr)
	f.Add(true, chunk(replyFlagDone, chunkBlockStatus, 1, make([]byte, 12)))

	f.Fuzz(func(t *testing.T, structured bool, data []byte) {
		client, server := net.Pipe()
		c := newConn(Info{Size: 1 << 20, MinBlock: 1, MaxBlock: 1 << 25, StructuredReplies: structured})
		c.addLane(client, client, structured)
		l := (*c.lanes.Load())[0]
		call := make(chan *request, len(fuzzReads))
		l.mu.Lock()
		for _, fr := range fuzzReads {
			r := &request{cookie: fr.cookie, off: fr.off, n: fr.n, buf: make([]byte, fr.n), sem: make(chan struct{}, 1), call: call}
			l.pending[r.cookie] = r
		}
		l.cookie = uint64(len(fuzzReads))
		l.mu.Unlock()
		go func() {
			server.Write(data)
			server.Close()
		}()
		timeout := time.After(10 * time.Second)
		for range fuzzReads {
			select {
			case r := <-call:
				var e *Error
				if r.err != nil && !errors.As(r.err, &e) && !errors.Is(r.err, ErrDisconnected) {
					t.Fatalf("read %d: unexpected error %v", r.cookie, r.err)
				}
				if e != nil && (e.Off < int64(r.off) || e.Off >= int64(r.off)+int64(r.n)) {
					t.Fatalf("read %d: error offset %d outside the read", r.cookie, e.Off)
				}
			case <-timeout:
				t.Fatal("reads still in flight after the server hung up")
			}
		}
		<-l.readerDone
		if !errors.Is(c.Err(), ErrDisconnected) {
			t.Fatalf("Err() = %v after the server hung up", c.Err())
		}
		c.Close()
	})
}

// FuzzHandshake feeds arbitrary bytes, as the server's side of the
// negotiation, to the client's handshake over a pipe. Nothing may panic or
// hang; a handshake that succeeds gives a sane Info.
func FuzzHandshake(f *testing.F) {
	optReply := func(opt, typ uint32, data []byte) []byte {
		b := binary.BigEndian.AppendUint64(nil, magicOptReply)
		b = binary.BigEndian.AppendUint32(b, opt)
		b = binary.BigEndian.AppendUint32(b, typ)
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	greeting := func(hflags uint16) []byte {
		b := binary.BigEndian.AppendUint64(nil, magicNBD)
		b = binary.BigEndian.AppendUint64(b, magicOpt)
		return binary.BigEndian.AppendUint16(b, hflags)
	}
	good := greeting(flagFixedNewstyle | flagNoZeroes)
	good = append(good, optReply(optStructuredReply, repAck, nil)...)
	good = append(good, optReply(optGo, repInfo, info(infoName, "canonical"))...)
	good = append(good, optReply(optGo, repInfo, info(infoBlockSize, uint32(512), uint32(4096), uint32(1<<20)))...)
	good = append(good, optReply(optGo, repInfo, goodExport)...)
	good = append(good, optReply(optGo, repAck, nil)...)
	f.Add(good)
	fallback := greeting(flagFixedNewstyle)
	fallback = append(fallback, optReply(optStructuredReply, repErrUnsup, nil)...)
	fallback = append(fallback, optReply(optGo, repErrUnsup, []byte("old"))...)
	fallback = append(fallback, exportInfo(fakeSize, 3)...)
	fallback = append(fallback, make([]byte, 124)...)
	f.Add(fallback)
	f.Add(append(greeting(0), append(exportInfo(fakeSize, 1), make([]byte, 124)...)...))
	old := binary.BigEndian.AppendUint64(nil, magicNBD)
	old = binary.BigEndian.AppendUint64(old, magicOldstyle)
	old = append(old, exportInfo(fakeSize, 0)...)
	f.Add(append(old, make([]byte, 126)...))
	refused := greeting(flagFixedNewstyle)
	refused = append(refused, optReply(optStructuredReply, repAck, nil)...)
	refused = append(refused, optReply(optGo, repErrUnknown, []byte("no such export"))...)
	f.Add(refused)

	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go io.Copy(io.Discard, server)
		go func() {
			server.Write(data)
			server.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := handshake(ctx, client, URI{Unix: true, Socket: "fuzz", Export: "x"}, nil)
		if err != nil {
			client.Close()
			if ctx.Err() != nil {
				t.Fatalf("handshake hung: %v", err)
			}
			return
		}
		defer c.Close()
		info := c.Info()
		if info.Size < 0 || info.MinBlock == 0 || info.MaxRequest < int(info.MinBlock) || info.MaxRequest > maxRequestSize ||
			info.MaxRequest%int(info.MinBlock) != 0 || len(info.ServerExport) > 600 || len(info.Description) > 600 {
			t.Fatalf("Info() = %+v", info)
		}
	})
}
