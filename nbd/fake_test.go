package nbd

import (
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// A fake is a small NBD server written for a test: it speaks just enough of
// the protocol, the way the test wants, right or wrong.
type fake struct {
	ln  net.Listener
	uri string // nbd+unix URI of the default export
}

// newFake listens on a unix socket and runs serve on each connection.
func newFake(t *testing.T, serve func(c *fconn)) *fake {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{ln: ln, uri: "nbd+unix:///?socket=" + sock}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				serve(&fconn{Conn: nc})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return f
}

// fconn is the fake server's side of one connection. Its writes ignore
// errors: the client may well have hung up, which is what some tests want.
type fconn struct {
	net.Conn
	noZeroes bool          // the client sent NBD_FLAG_C_NO_ZEROES
	sawFlags chan<- uint32 // if set, exportName sends the client's flags here
}

func (c *fconn) put(parts ...any) {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case int:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		default:
			panic("fconn.put: bad part")
		}
	}
	c.Write(b)
}

// greet sends the newstyle greeting with hflags and reads the client's
// flags.
func (c *fconn) greet(hflags uint16) (uint32, error) {
	c.put(magicNBD, magicOpt, hflags)
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, err
	}
	cf := binary.BigEndian.Uint32(b[:])
	c.noZeroes = cf&clientNoZeroes != 0
	return cf, nil
}

// option reads one option request.
func (c *fconn) option() (uint32, []byte, error) {
	var h [16]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[12:])
	if n > 1<<16 {
		return 0, nil, io.ErrShortBuffer
	}
	data := make([]byte, n)
	_, err := io.ReadFull(c, data)
	return binary.BigEndian.Uint32(h[8:]), data, err
}

// reply sends an option reply.
func (c *fconn) reply(opt, typ uint32, data []byte) {
	c.put(magicOptReply, opt, typ, len(data), data)
}

// negotiate runs a correct fixed newstyle negotiation for an export of
// size bytes, agreeing to structured replies if sr, advertising block
// sizes if bs is not nil.
func (c *fconn) negotiate(size uint64, sr bool, bs []uint32) bool {
	if _, err := c.greet(flagFixedNewstyle | flagNoZeroes); err != nil {
		return false
	}
	for {
		opt, _, err := c.option()
		if err != nil {
			return false
		}
		switch opt {
		case optStructuredReply:
			if sr {
				c.reply(opt, repAck, nil)
			} else {
				c.reply(opt, repErrUnsup, nil)
			}
		case optGo:
			c.reply(opt, repInfo, append([]byte{0, 0}, exportInfo(size, 1|uint16(FlagReadOnly))...))
			if bs != nil {
				c.put(magicOptReply, opt, repInfo, 14, infoBlockSize, bs[0], bs[1], bs[2])
			}
			c.reply(opt, repAck, nil)
			return true
		default:
			c.reply(opt, repErrUnsup, nil)
		}
	}
}

func exportInfo(size uint64, flags uint16) []byte {
	b := binary.BigEndian.AppendUint64(nil, size)
	return binary.BigEndian.AppendUint16(b, flags)
}

// A req is a request as the fake server read it.
type req struct {
	cmd    uint16
	cookie uint64
	off    uint64
	n      uint32
}

// request reads one request.
func (c *fconn) request() (req, error) {
	var b [requestHeaderSize]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return req{}, err
	}
	if binary.BigEndian.Uint32(b[:]) != magicRequest {
		return req{}, io.ErrUnexpectedEOF
	}
	return req{
		cmd:    binary.BigEndian.Uint16(b[6:]),
		cookie: binary.BigEndian.Uint64(b[8:]),
		off:    binary.BigEndian.Uint64(b[16:]),
		n:      binary.BigEndian.Uint32(b[24:]),
	}, nil
}

// reads reads requests until the client hangs up or sends NBD_CMD_DISC,
// and calls answer on each read.
func (c *fconn) reads(answer func(r req)) {
	for {
		r, err := c.request()
		if err != nil || r.cmd != cmdRead {
			return
		}
		answer(r)
	}
}

func (c *fconn) simple(cookie uint64, errno uint32, data []byte) {
	c.put(magicSimple, errno, cookie, data)
}

func (c *fconn) chunk(flags, typ uint16, cookie uint64, payload []byte) {
	c.put(magicStructured, flags, typ, cookie, len(payload), payload)
}

func dataChunk(off uint64, data []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, off), data...)
}

func holeChunk(off uint64, n uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, off), n)
}

func errChunk(errno uint32, msg string) []byte {
	b := binary.BigEndian.AppendUint32(nil, errno)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

func errOffsetChunk(errno uint32, msg string, off uint64) []byte {
	return binary.BigEndian.AppendUint64(errChunk(errno, msg), off)
}

// content is the fake export's byte at off.
func content(off uint64) byte { return byte(off*7 + off>>9) }

func contents(off uint64, n uint32) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = content(off + uint64(i))
	}
	return b
}
