package nbd

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// goReplies answers options like a correct server until NBD_OPT_GO, which
// it answers with infos (each the payload of an NBD_REP_INFO) and final.
func goReplies(c *fconn, infos [][]byte, final uint32, msg string) {
	for {
		opt, _, err := c.option()
		if err != nil {
			return
		}
		switch opt {
		case optStructuredReply:
			c.reply(opt, repAck, nil)
		case optGo:
			for _, in := range infos {
				c.reply(opt, repInfo, in)
			}
			c.reply(opt, final, []byte(msg))
			if final == repAck {
				c.reads(func(r req) { c.chunk(replyFlagDone, chunkOffsetData, r.cookie, dataChunk(r.off, contents(r.off, r.n))) })
				return
			}
		default:
			c.reply(opt, repErrUnsup, nil)
		}
	}
}

func info(typ uint16, payload ...any) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	for _, p := range payload {
		switch v := p.(type) {
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		}
	}
	return b
}

var goodExport = info(infoExport, uint64(fakeSize), uint16(1))

func TestHandshakeErrors(t *testing.T) {
	tests := []struct {
		name  string
		serve func(c *fconn)
		want  string
		disc  bool // the error wraps ErrDisconnected
	}{
		{"not NBD", func(c *fconn) {
			c.put("HTTP/1.1 400 Bad Request\r\n\r\n")
		}, `not an NBD server: greeting starts "HTTP/1.1"`, true},
		{"bad second magic", func(c *fconn) {
			c.put(magicNBD, uint64(42))
		}, "greeting magic 0x2a is neither newstyle", true},
		{"hang up in the greeting", func(c *fconn) {
			c.put(magicNBD)
			c.Close()
		}, "handshake: reading the server's greeting: unexpected EOF", true},
		{"bad option reply magic", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			c.option()
			c.put(uint64(7), optStructuredReply, repAck, 0)
		}, "option reply magic 0x7", true},
		{"reply to another option", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			c.option()
			c.reply(optGo, repAck, nil)
		}, "reply to NBD_OPT_GO while waiting for one to NBD_OPT_STRUCTURED_REPLY", true},
		{"huge option reply", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			c.option()
			c.put(magicOptReply, optStructuredReply, repErrUnsup, 1<<20)
		}, "NBD_REP_ERR_UNSUP of 1048576 bytes to NBD_OPT_STRUCTURED_REPLY", true},
		{"odd reply to structured replies", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			c.option()
			c.reply(optStructuredReply, repInfo, nil)
		}, "NBD_REP_INFO in reply to NBD_OPT_STRUCTURED_REPLY", true},
		{"export info of the wrong length", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{goodExport[:11]}, repAck, "")
		}, "NBD_INFO_EXPORT of 11 bytes, want 12", true},
		{"empty info", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{{0}}, repAck, "")
		}, "NBD_REP_INFO of 1 bytes", true},
		{"no export info", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, nil, repAck, "")
		}, "NBD_OPT_GO succeeded without NBD_INFO_EXPORT", true},
		{"export too large", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{info(infoExport, uint64(1)<<63, uint16(1))}, repAck, "")
		}, "export size 9223372036854775808 is too large", true},
		{"minimum block size not a power of two", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{goodExport, info(infoBlockSize, uint32(3), uint32(4096), uint32(65536))}, repAck, "")
		}, "minimum block size 3 is not a power of two", true},
		{"minimum block size too large", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{goodExport, info(infoBlockSize, uint32(1<<17), uint32(1<<17), uint32(1<<20))}, repAck, "")
		}, "minimum block size 131072", true},
		{"maximum block size not a multiple", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{goodExport, info(infoBlockSize, uint32(512), uint32(4096), uint32(5000))}, repAck, "")
		}, "maximum block size 5000 does not fit minimum block size 512", true},
		{"block size info of the wrong length", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, [][]byte{goodExport, info(infoBlockSize, uint32(512))}, repAck, "")
		}, "NBD_INFO_BLOCK_SIZE of 6 bytes, want 14", true},
		{"unknown export", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, nil, repErrUnknown, "no \x1bsuch\nthing")
		}, `the server has no export "" (NBD_REP_ERR_UNKNOWN: no �such�thing)`, false},
		{"policy", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, nil, repErrPolicy, "")
		}, `the server's policy refuses NBD_OPT_GO for export "" (NBD_REP_ERR_POLICY)`, false},
		{"other refusal", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, nil, repErrBit|99, "hmm")
		}, "the server refused NBD_OPT_GO (error reply 0x80000063: hmm)", false},
		{"odd reply to NBD_OPT_GO", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			goReplies(c, nil, 77, "")
		}, "reply type 77 in reply to NBD_OPT_GO", true},
		{"shutting down", func(c *fconn) {
			c.greet(flagFixedNewstyle)
			c.option()
			c.reply(optStructuredReply, repErrShutdown, []byte("bye"))
		}, "the server is shutting down (NBD_REP_ERR_SHUTDOWN: bye)", true},
		{"hang up after NBD_OPT_EXPORT_NAME", func(c *fconn) {
			c.greet(0)
			c.option()
			c.Close()
		}, `the server hung up after NBD_OPT_EXPORT_NAME "" (no such export, or it requires TLS)`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(c *fconn) {
				tt.serve(c)
				io.Copy(io.Discard, c)
			})
			err := dialErr(t, f.uri, Options{Timeout: 5 * time.Second})
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "nbd: nbd+unix:///?socket=") {
				t.Fatalf("Dial: %v; want an error containing %q", err, tt.want)
			}
			if errors.Is(err, ErrDisconnected) != tt.disc {
				t.Fatalf("Dial: %v: errors.Is(ErrDisconnected) = %v", err, !tt.disc)
			}
		})
	}
}

// TestHandshakeAbort: after a refusal the client ends negotiation with
// NBD_OPT_ABORT, as the protocol asks.
func TestHandshakeAbort(t *testing.T) {
	got := make(chan uint32, 1)
	f := newFake(t, func(c *fconn) {
		c.greet(flagFixedNewstyle)
		for {
			opt, _, err := c.option()
			if err != nil {
				got <- 0
				return
			}
			if opt == optGo {
				c.reply(opt, repErrUnknown, nil)
				opt, _, _ = c.option()
				got <- opt
				return
			}
			c.reply(opt, repErrUnsup, nil)
		}
	})
	dialErr(t, f.uri, Options{})
	if opt := <-got; opt != optAbort {
		t.Fatalf("after the refusal the client sent %s", optName(opt))
	}
}

// TestHandshakeVariants connects to servers speaking older forms of the
// handshake, and checks what the client sends them.
func TestHandshakeVariants(t *testing.T) {
	tests := []struct {
		name      string
		handshake string
		wantFlags uint32 // client flags the server must see
		serve     func(c *fconn) bool
	}{
		{"oldstyle", "oldstyle", 0, func(c *fconn) bool {
			c.put(magicNBD, magicOldstyle, uint64(fakeSize), uint32(3), make([]byte, 124))
			return true
		}},
		{"newstyle", "newstyle", 0, func(c *fconn) bool {
			return c.exportName(0, "disk")
		}},
		{"newstyle, no zeroes", "newstyle", clientNoZeroes, func(c *fconn) bool {
			return c.exportName(flagNoZeroes, "disk")
		}},
		{"fixed newstyle without NBD_OPT_GO", "fixed newstyle", clientFixedNewstyle, func(c *fconn) bool {
			return c.exportName(flagFixedNewstyle, "disk")
		}},
		{"fixed newstyle without NBD_OPT_GO, no zeroes", "fixed newstyle", clientFixedNewstyle | clientNoZeroes, func(c *fconn) bool {
			return c.exportName(flagFixedNewstyle|flagNoZeroes, "disk")
		}},
		{"fixed newstyle with unknown handshake flags", "fixed newstyle", clientFixedNewstyle, func(c *fconn) bool {
			return c.exportName(flagFixedNewstyle|0x8000, "disk")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := make(chan uint32, 1)
			f := newFake(t, func(c *fconn) {
				c.sawFlags = flags
				if tt.serve(c) {
					c.reads(func(r req) { c.simple(r.cookie, 0, contents(r.off, r.n)) })
				}
			})
			uri := f.uri
			if tt.handshake != "oldstyle" {
				uri = strings.Replace(uri, ":///", ":///disk", 1)
			}
			c := dial(t, uri, Options{})
			if info := c.Info(); info.Handshake != tt.handshake || info.Size != fakeSize || info.StructuredReplies {
				t.Fatalf("Info() = %+v", info)
			}
			if tt.handshake != "oldstyle" {
				if got := <-flags; got != tt.wantFlags {
					t.Fatalf("client flags %#x, want %#x", got, tt.wantFlags)
				}
			}
			b := make([]byte, 3000)
			if n, err := c.ReadAt(b, 99); n != len(b) || err != nil || string(b) != string(contents(99, 3000)) {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
		})
	}
}

// exportName plays a server that knows no option but NBD_OPT_EXPORT_NAME,
// which it expects for name; it sends the 124 zeroes unless the client
// asked it not to.
func (c *fconn) exportName(hflags uint16, name string) bool {
	cf, err := c.greet(hflags)
	if err != nil {
		return false
	}
	if c.sawFlags != nil {
		c.sawFlags <- cf
	}
	for {
		opt, data, err := c.option()
		if err != nil {
			return false
		}
		if opt != optExportName {
			if hflags&flagFixedNewstyle == 0 {
				return false // the original newstyle knows nothing else
			}
			c.reply(opt, repErrUnsup, nil)
			continue
		}
		if string(data) != name {
			return false
		}
		c.put(exportInfo(fakeSize, 1))
		if !c.noZeroes {
			c.put(make([]byte, 124))
		}
		return true
	}
}

// TestHandshakeTLSRefused: a server that cannot do TLS is refused for an
// nbds URI, whatever handshake it speaks.
func TestHandshakeTLSRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		serve func(c *fconn)
		want  string
	}{
		{"oldstyle", func(c *fconn) {
			c.put(magicNBD, magicOldstyle, uint64(fakeSize), uint32(1), make([]byte, 124))
		}, "oldstyle handshake, which cannot do TLS"},
		{"newstyle", func(c *fconn) { c.exportName(0, "") }, "not fixed newstyle, so it cannot do TLS"},
		{"unsupported", func(c *fconn) { c.exportName(flagFixedNewstyle, "") }, "the server does not offer TLS (NBD_REP_ERR_UNSUP), and nbds+unix:// requires it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(c *fconn) {
				tt.serve(c)
				io.Copy(io.Discard, c)
			})
			uri := strings.Replace(f.uri, "nbd+unix", "nbds+unix", 1)
			if err := dialErr(t, uri, Options{TLSInsecure: true}); !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Dial: %v; want %q", err, tt.want)
			}
		})
	}
}

// TestHandshakeInfo: names and descriptions the server volunteers are
// kept, cleaned; info types the client does not know are skipped.
func TestHandshakeInfo(t *testing.T) {
	f := newFake(t, func(c *fconn) {
		c.greet(flagFixedNewstyle)
		goReplies(c, [][]byte{
			info(99, "whatever this is"),
			info(infoName, "canonical"),
			info(infoDescription, "a \x1b[1mdisk\x1b[0m"),
			info(infoBlockSize, uint32(512), uint32(4096), uint32(math.MaxUint32)),
			goodExport,
		}, repAck, "")
	})
	c := dial(t, f.uri, Options{})
	info := c.Info()
	if info.ServerExport != "canonical" || info.Description != "a �[1mdisk�[0m" || info.MinBlock != 512 ||
		info.MaxBlock != math.MaxUint32 || info.MaxRequest != maxRequestSize || info.Size != fakeSize {
		t.Fatalf("Info() = %+v", info)
	}
	b := make([]byte, 700)
	if n, err := c.ReadAt(b, 1000); n != 700 || err != nil || string(b) != string(contents(1000, 700)) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
}

// TestHandshakeTimeout: a server that says nothing is given up on after
// Options.Timeout, and a cancelled context ends Dial at once.
func TestHandshakeTimeout(t *testing.T) {
	f := newFake(t, func(c *fconn) { io.Copy(io.Discard, c) })
	start := time.Now()
	err := dialErr(t, f.uri, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("Dial: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial took %v", d)
	}

	// The caller's deadline, sooner than the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = Dial(ctx, f.uri, Options{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrDisconnected) {
		t.Fatalf("Dial past the context's deadline: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = Dial(ctx, f.uri, Options{Timeout: -1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context: %v", err)
	}

	// Nobody listening at all.
	err = dialErr(t, "nbd://127.0.0.1:"+freePort(t)+"/x", Options{})
	if !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Dial to a closed port: %v", err)
	}
}
