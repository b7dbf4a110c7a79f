package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const fakeSize = 1 << 20

// TestReplies checks how the client takes replies from a fake server,
// good ones and bad ones: each case answers a read of 4096 bytes at 8192.
func TestReplies(t *testing.T) {
	const off, n = 8192, 4096
	tests := []struct {
		name   string
		sr     bool
		answer func(c *fconn, r req)
		want   string // "" for success; else part of the error
		proto  bool   // the error is a protocol error, the connection gone
	}{
		{"simple", false, func(c *fconn, r req) {
			c.simple(r.cookie, 0, contents(r.off, r.n))
		}, "", false},
		{"one data chunk", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, r.n)))
		}, "", false},
		{"chunks backwards, holes, then NONE", true, func(c *fconn, r req) {
			c.chunk(0, chunkOffsetData, r.cookie, dataChunk(r.off+3000, contents(r.off+3000, 1096)))
			c.chunk(0, chunkOffsetHole, r.cookie, holeChunk(r.off+1000, 2000))
			c.chunk(0, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, 1000)))
			c.chunk(replyFlagDone, chunkNone, r.cookie, nil)
		}, "", false},
		{"simple reply to a read after structured replies were agreed", true, func(c *fconn, r req) {
			c.simple(r.cookie, 0, contents(r.off, r.n))
		}, "", false},
		{"simple error", false, func(c *fconn, r req) {
			c.simple(r.cookie, 28, nil)
		}, "read at offset 8192: server error ENOSPC (no space left on device)", false},
		{"error chunk", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkError, r.cookie, errChunk(5, "disk \x1b[31mgone\x07"))
		}, "read at offset 8192: server error EIO (input/output error): disk \ufffd[31mgone\ufffd", false},
		{"error offset chunk after data", true, func(c *fconn, r req) {
			c.chunk(0, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, 100)))
			c.chunk(0, chunkErrorOffset, r.cookie, errOffsetChunk(1, "nope", r.off+100))
			c.chunk(replyFlagDone, chunkNone, r.cookie, nil)
		}, "read at offset 8292: server error EPERM (operation not permitted): nope", false},
		{"unknown error chunk type", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkErrBit|77, r.cookie, append(errChunk(75, "big"), 1, 2, 3))
		}, "server error EOVERFLOW", false},
		{"error value not in the protocol", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkError, r.cookie, errChunk(4242, ""))
		}, "server error 4242 (not an NBD error value; taken as EINVAL)", false},

		{"unknown cookie", false, func(c *fconn, r req) {
			c.simple(r.cookie+1, 0, contents(r.off, r.n))
		}, "simple reply for cookie", true},
		{"unknown cookie, structured", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkNone, r.cookie^0xff00, nil)
		}, "NBD_REPLY_TYPE_NONE for cookie", true},
		{"bad magic", false, func(c *fconn, r req) {
			c.put(uint32(0x12345678), uint32(0), r.cookie)
		}, "reply magic 0x12345678", true},
		{"structured reply not agreed", false, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, r.n)))
		}, "structured reply, which was not agreed", true},
		{"oversized data chunk", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, r.n+1)))
		}, "NBD_REPLY_TYPE_OFFSET_DATA of 4097 bytes for a read of 4096", true},
		{"huge data chunk", true, func(c *fconn, r req) {
			c.put(magicStructured, replyFlagDone, chunkOffsetData, r.cookie, uint32(0xffffffff))
		}, "of 4294967287 bytes for a read of 4096", true},
		{"data chunk beyond the request", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off+100, contents(r.off, r.n-50)))
		}, "NBD_REPLY_TYPE_OFFSET_DATA for 4046 bytes at offset 8292, outside the read of 4096 bytes at 8192", true},
		{"data chunk before the request", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off-1, contents(r.off, 10)))
		}, "outside the read", true},
		{"hole beyond the request", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetHole, r.cookie, holeChunk(r.off+4000, 97))
		}, "NBD_REPLY_TYPE_OFFSET_HOLE for 97 bytes at offset 12192, outside", true},
		{"hole with a wrapping offset", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetHole, r.cookie, holeChunk(^uint64(0)-10, 4096))
		}, "outside the read", true},
		{"empty hole", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetHole, r.cookie, holeChunk(r.off, 0))
		}, "of size 0", true},
		{"overlapping chunks", true, func(c *fconn, r req) {
			c.chunk(0, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, 2048)))
			c.chunk(replyFlagDone, chunkOffsetHole, r.cookie, holeChunk(r.off+2047, 2049))
		}, "overlaps data already received", true},
		{"done before all data", true, func(c *fconn, r req) {
			c.chunk(0, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, 1000)))
			c.chunk(replyFlagDone, chunkNone, r.cookie, nil)
		}, "reply to the read of 4096 bytes at offset 8192 ended with 1000 bytes of it", true},
		{"NONE with payload", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkNone, r.cookie, []byte{1})
		}, "NBD_REPLY_TYPE_NONE with 1 bytes of payload", true},
		{"short data chunk", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off, nil))
		}, "NBD_REPLY_TYPE_OFFSET_DATA of 8 bytes", true},
		{"block status in reply to a read", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkBlockStatus, r.cookie, make([]byte, 12))
		}, "NBD_REPLY_TYPE_BLOCK_STATUS in reply to a read", true},
		{"unknown chunk type", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, 42, r.cookie, nil)
		}, "chunk type 0x2a in reply to a read", true},
		{"error chunk with error 0", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkError, r.cookie, errChunk(0, "fine"))
		}, "with error value 0", true},
		{"error chunk message too long", true, func(c *fconn, r req) {
			p := errChunk(5, "abc")
			binary.BigEndian.PutUint16(p[4:], 10)
			c.chunk(replyFlagDone, chunkError, r.cookie, p)
		}, "with a message of 10 bytes in 9", true},
		{"huge error chunk", true, func(c *fconn, r req) {
			c.put(magicStructured, replyFlagDone, chunkError, r.cookie, uint32(1<<30))
		}, "NBD_REPLY_TYPE_ERROR of 1073741824 bytes", true},
		{"error offset outside the request", true, func(c *fconn, r req) {
			c.chunk(replyFlagDone, chunkErrorOffset, r.cookie, errOffsetChunk(5, "", r.off+r.uint()))
		}, "NBD_REPLY_TYPE_ERROR_OFFSET at offset 12288, outside", true},
		{"hang up in the middle of the data", false, func(c *fconn, r req) {
			c.put(magicSimple, uint32(0), r.cookie, contents(r.off, 100))
			c.Close()
		}, "in the middle of a reply", true},
		{"hang up", false, func(c *fconn, r req) {
			c.Close()
		}, "the server closed the connection", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(c *fconn) {
				if c.negotiate(fakeSize, tt.sr, nil) {
					c.reads(func(r req) { tt.answer(c, r) })
				}
			})
			c := dial(t, f.uri, Options{})
			b := make([]byte, n)
			got, err := c.ReadAt(b, off)
			if tt.want == "" {
				if err != nil || got != n {
					t.Fatalf("ReadAt = %d, %v", got, err)
				}
				if want := contents(off, n); tt.name == "chunks backwards, holes, then NONE" {
					clear(want[1000:3000])
					if !bytes.Equal(b, want) {
						t.Fatal("wrong bytes")
					}
				} else if !bytes.Equal(b, want) {
					t.Fatal("wrong bytes")
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadAt = %d, nil; want an error containing %q", got, tt.want)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "nbd: nbd+unix:///?socket=") {
				t.Fatalf("ReadAt: %v; want an error containing %q", err, tt.want)
			}
			var e *Error
			if tt.proto {
				if !errors.Is(err, ErrDisconnected) || errors.As(err, &e) || got != 0 {
					t.Fatalf("ReadAt = %d, %v: want a connection error", got, err)
				}
				if strings.Contains(tt.name, "hang up") == errors.Is(err, ErrProtocol) {
					t.Fatalf("ReadAt: %v: ErrProtocol is %v", err, errors.Is(err, ErrProtocol))
				}
				if _, err2 := c.ReadAt(b, 0); !errors.Is(err2, ErrDisconnected) {
					t.Fatalf("second ReadAt = %v; want the connection error", err2)
				}
				return
			}
			if !errors.As(err, &e) || errors.Is(err, ErrDisconnected) {
				t.Fatalf("ReadAt: %v: want an *Error", err)
			}
			if c.Err() != nil {
				t.Fatalf("Err() = %v after a server error", c.Err())
			}
		})
	}
}

func (r req) uint() uint64 { return uint64(r.n) }

// TestSimpleReplyTooLong: a simple reply carries more data than asked.
// The read gets what it asked for; the rest is taken for the next reply,
// which has no valid magic, so the connection ends at once.
func TestSimpleReplyTooLong(t *testing.T) {
	f := newFake(t, func(c *fconn) {
		if c.negotiate(fakeSize, false, nil) {
			c.reads(func(r req) {
				c.simple(r.cookie, 0, append(contents(r.off, r.n), "more than was asked"...))
			})
		}
	})
	c := dial(t, f.uri, Options{})
	b := make([]byte, 100)
	if n, err := c.ReadAt(b, 0); n != 100 || err != nil || !bytes.Equal(b, contents(0, 100)) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still up")
	}
	if err := c.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "reply magic 0x6d6f7265") {
		t.Fatalf("Err() = %v", err)
	}
}

// TestManyInFlight answers reads out of order, in small chunks interleaved
// across requests: every read gets its own bytes.
func TestManyInFlight(t *testing.T) {
	f := newFake(t, func(c *fconn) {
		if !c.negotiate(fakeSize, true, []uint32{1, 4096, 64 << 10}) {
			return
		}
		var queue []req
		flush := func() {
			// Answer in reverse, each in 1000-byte chunks taken in turn.
			type part struct {
				r  req
				at uint32
			}
			var parts []part
			for i := len(queue) - 1; i >= 0; i-- {
				parts = append(parts, part{queue[i], 0})
			}
			for len(parts) > 0 {
				var next []part
				for _, p := range parts {
					k := min(1000, p.r.n-p.at)
					flags := uint16(0)
					if p.at+k == p.r.n {
						flags = replyFlagDone
					}
					c.chunk(flags, chunkOffsetData, p.r.cookie, dataChunk(p.r.off+uint64(p.at), contents(p.r.off+uint64(p.at), k)))
					if p.at+k < p.r.n {
						next = append(next, part{p.r, p.at + k})
					}
				}
				parts = next
			}
			queue = queue[:0]
		}
		c.reads(func(r req) {
			queue = append(queue, r)
			if len(queue) == 8 {
				flush()
			}
		})
	})
	c := dial(t, f.uri, Options{})
	if c.Info().MaxRequest != 64<<10 {
		t.Fatalf("MaxRequest = %d", c.Info().MaxRequest)
	}
	// One read of 8 requests of 64 KiB, then 8 goroutines of one request each.
	b := make([]byte, 8<<16)
	if n, err := c.ReadAt(b, 777); n != len(b) || err != nil || !bytes.Equal(b, contents(777, uint32(len(b)))) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	errc := make(chan error, 8)
	for i := range 8 {
		go func() {
			b := make([]byte, 5000+i)
			off := int64(i) * 100000
			n, err := c.ReadAt(b, off)
			if err == nil && (n != len(b) || !bytes.Equal(b, contents(uint64(off), uint32(len(b))))) {
				err = errors.New("wrong bytes")
			}
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCancelLateReply: a cancelled read's reply comes later and is
// dropped; the next read on the connection works.
func TestCancelLateReply(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, func(c *fconn) {
		if !c.negotiate(fakeSize, true, nil) {
			return
		}
		first := true
		c.reads(func(r req) {
			if first {
				first = false
				<-release
			}
			c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, r.n)))
		})
	})
	c := dial(t, f.uri, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	b := make([]byte, 3000)
	done := make(chan error)
	go func() {
		_, err := c.ReadAtContext(ctx, b, 0)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled ReadAtContext = %v", err)
	}
	clear(b)
	close(release)
	b2 := make([]byte, 5000)
	if n, err := c.ReadAt(b2, 10); n != len(b2) || err != nil || !bytes.Equal(b2, contents(10, 5000)) {
		t.Fatalf("ReadAt after a cancelled read = %d, %v", n, err)
	}
	if !bytes.Equal(b, make([]byte, 3000)) {
		t.Fatal("the cancelled read's buffer was written after it returned")
	}
}

// TestCancelStall: the server sends half a reply to a read and stalls; the
// read is cancelled. It returns within the grace period and the connection
// is failed, since the rest of the reply cannot be skipped.
func TestCancelStall(t *testing.T) {
	defer func(g time.Duration) { cancelGrace = g }(cancelGrace)
	cancelGrace = 100 * time.Millisecond
	f := newFake(t, func(c *fconn) {
		if !c.negotiate(fakeSize, false, nil) {
			return
		}
		c.reads(func(r req) {
			c.put(magicSimple, uint32(0), r.cookie, contents(r.off, 1000))
			io.Copy(io.Discard, c) // and nothing more
		})
	})
	c := dial(t, f.uri, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.ReadAtContext(ctx, make([]byte, 1<<20), 0); err != context.DeadlineExceeded {
		t.Fatalf("ReadAtContext = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if err := c.Err(); !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("Err() = %v", err)
	}
}

// TestCloseWaits: Close sends NBD_CMD_DISC and lets the reads in flight
// finish; reads after it fail with ErrClosed.
func TestClose(t *testing.T) {
	gotDisc := make(chan bool, 1)
	f := newFake(t, func(c *fconn) {
		if !c.negotiate(fakeSize, true, nil) {
			return
		}
		var pending []req
		for {
			r, err := c.request()
			if err != nil {
				gotDisc <- false
				return
			}
			if r.cmd == cmdDisc {
				for _, p := range pending {
					c.chunk(replyFlagDone, chunkOffsetData, p.cookie, dataChunk(p.off, contents(p.off, p.n)))
				}
				gotDisc <- r.off == 0 && r.n == 0
				return
			}
			pending = append(pending, r)
		}
	})
	c := dial(t, f.uri, Options{})
	done := make(chan error)
	b := make([]byte, 4096)
	go func() {
		_, err := c.ReadAt(b, 4096)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !<-gotDisc {
		t.Fatal("the server saw no NBD_CMD_DISC")
	}
	if err := <-done; err != nil || !bytes.Equal(b, contents(4096, 4096)) {
		t.Fatalf("read in flight at Close = %v", err)
	}
	if _, err := c.ReadAt(b, 0); err != ErrClosed {
		t.Fatalf("ReadAt after Close = %v", err)
	}
	if c.Err() != ErrClosed {
		t.Fatalf("Err() after Close = %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

// TestReadOnly checks that the client sends nothing but reads and the
// disconnect, whatever the export's flags invite, on every connection it
// makes; and that it makes several when the server allows it.
func TestReadOnly(t *testing.T) {
	var mu sync.Mutex
	cmds := map[*fconn][]uint16{}
	var active atomic.Int32
	f := newFake(t, func(c *fconn) {
		active.Add(1)
		defer active.Add(-1)
		if _, err := c.greet(flagFixedNewstyle); err != nil {
			return
		}
		for {
			opt, _, err := c.option()
			if err != nil {
				return
			}
			if opt == optGo {
				// Writable, with every feature on offer, multi-conn too.
				c.reply(opt, repInfo, append([]byte{0, 0}, exportInfo(fakeSize, 0xffff&^uint16(FlagReadOnly))...))
				c.reply(opt, repAck, nil)
				break
			}
			c.reply(opt, repErrUnsup, nil)
		}
		for {
			r, err := c.request()
			if err != nil {
				return
			}
			mu.Lock()
			cmds[c] = append(cmds[c], r.cmd)
			mu.Unlock()
			if r.cmd == cmdRead {
				c.simple(r.cookie, 0, contents(r.off, r.n))
			}
		}
	})
	c := dial(t, f.uri, Options{})
	if c.Info().StructuredReplies {
		t.Fatal("structured replies agreed after NBD_REP_ERR_UNSUP")
	}
	if c.Info().Flags&FlagSendTrim == 0 {
		t.Fatalf("flags %v", c.Info().Flags)
	}
	for deadline := time.Now().Add(5 * time.Second); c.Info().Connections < defaultConnections; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after 5 s", c.Info().Connections)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.maxRequest = 4096 // 16 requests in flight
	b := make([]byte, 100<<10)
	if n, err := c.ReadAt(b, 3); n != len(b) || err != nil || !bytes.Equal(b, contents(3, uint32(len(b)))) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); active.Load() > 0; {
		if time.Now().After(deadline) {
			t.Fatal("fake server connections still open after Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cmds) != defaultConnections {
		t.Fatalf("requests came on %d connections, want %d", len(cmds), defaultConnections)
	}
	for _, cs := range cmds {
		if len(cs) < 2 || cs[len(cs)-1] != cmdDisc {
			t.Fatalf("commands on one connection: %v; want reads, then NBD_CMD_DISC", cs)
		}
		for _, cmd := range cs[:len(cs)-1] {
			if cmd != cmdRead {
				t.Fatalf("client sent command %d", cmd)
			}
		}
	}
}

// TestErrorNames checks the names and errno values of the protocol's
// errors.
func TestErrorNames(t *testing.T) {
	for v, en := range map[uint32]syscall.Errno{1: syscall.EPERM, 5: syscall.EIO, 12: syscall.ENOMEM, 22: syscall.EINVAL,
		28: syscall.ENOSPC, 75: syscall.EOVERFLOW, 95: syscall.ENOTSUP, 108: syscall.ESHUTDOWN, 9999: syscall.EINVAL} {
		e := &Error{Op: "read", Off: 1, Errno: v}
		if !errors.Is(e, en) {
			t.Errorf("%v does not match %v", e, en)
		}
		if errors.Is(e, ErrDisconnected) != (v == 108) {
			t.Errorf("%v: errors.Is(ErrDisconnected) wrong", e)
		}
	}
}
