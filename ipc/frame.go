package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame header layout (little-endian), headerSize bytes:
//
//	0  uint32 magic   "VMSH"
//	4  uint8  frame layout version (frameVersion)
//	5  uint8  message type; a reply has replyBit set
//	6  uint16 flags (none defined; must be zero)
//	8  uint64 request id, echoed by the reply
//	16 uint32 body length
//	20 uint32 reserved (must be zero)
const (
	headerSize          = 24
	frameMagic   uint32 = 'V' | 'M'<<8 | 'S'<<16 | 'H'<<24
	frameVersion uint8  = 1
)

// Message types.
const (
	msgHello  uint8 = 1
	msgOpen   uint8 = 2
	msgList   uint8 = 3
	msgRead   uint8 = 4
	msgStatus uint8 = 5
	msgClose  uint8 = 6
	// Output streams (see stream.go).
	msgStreamOpen  uint8 = 7
	msgCopy        uint8 = 8
	msgStreamClose uint8 = 9

	replyBit uint8 = 0x80
)

// Limits. Every length read from the peer is checked against one of these
// before it sizes an allocation.
const (
	// MaxInline is the largest read whose data travels in a reply frame
	// (the socket path). Shared-memory reads are bounded by the slot size.
	MaxInline = 1 << 20

	maxSlots    = 64
	maxSlotSize = 8 << 20
	maxShmSize  = 256 << 20

	maxSpec   = 4096 // open disk: spec string
	maxName   = 256  // display name of a disk
	maxErrMsg = 1024 // error message carried in a reply
	maxState  = 64   // state word in a status record
	maxFormat = 32   // image format name in a status record
	maxDisks  = 256  // disks open at once in one worker

	// maxRequestBody bounds every frame the worker accepts.
	maxRequestBody = 8 << 10
	// maxReplyBody bounds every frame the shell accepts: an inline read
	// reply, or a list/status reply for maxDisks disks.
	maxReplyBody = MaxInline + 4096
)

// ErrProtocol is wrapped by every error about a malformed frame or message.
var ErrProtocol = errors.New("ipc: protocol error")

// ErrFrameTooLarge is wrapped when a frame header announces a body longer than
// the receiver accepts; the connection is closed without reading the body.
var ErrFrameTooLarge = errors.New("ipc: frame too large")

type header struct {
	Type   uint8
	Flags  uint16
	ID     uint64
	Length uint32
}

func msgName(t uint8) string {
	s := "unknown"
	switch t &^ replyBit {
	case msgHello:
		s = "hello"
	case msgOpen:
		s = "open"
	case msgList:
		s = "list"
	case msgRead:
		s = "read"
	case msgStatus:
		s = "status"
	case msgClose:
		s = "close"
	case msgStreamOpen:
		s = "stream open"
	case msgCopy:
		s = "copy"
	case msgStreamClose:
		s = "stream close"
	}
	if t&replyBit != 0 {
		s += " reply"
	}
	return s
}

func knownType(t uint8) bool {
	t &^= replyBit
	return t >= msgHello && t <= msgStreamClose
}

func putHeader(b []byte, h header) {
	_ = b[headerSize-1]
	binary.LittleEndian.PutUint32(b[0:], frameMagic)
	b[4] = frameVersion
	b[5] = h.Type
	binary.LittleEndian.PutUint16(b[6:], h.Flags)
	binary.LittleEndian.PutUint64(b[8:], h.ID)
	binary.LittleEndian.PutUint32(b[16:], h.Length)
	binary.LittleEndian.PutUint32(b[20:], 0)
}

// appendFrame appends a frame with header h (its Length set from body) and body.
func appendFrame(dst []byte, h header, body []byte) []byte {
	h.Length = uint32(len(body))
	var hb [headerSize]byte
	putHeader(hb[:], h)
	dst = append(dst, hb[:]...)
	return append(dst, body...)
}

// parseHeader decodes and validates a frame header. max is the largest body
// length the caller accepts.
func parseHeader(b []byte, max uint32) (header, error) {
	if len(b) < headerSize {
		return header{}, fmt.Errorf("%w: short frame header (%d bytes)", ErrProtocol, len(b))
	}
	if m := binary.LittleEndian.Uint32(b[0:]); m != frameMagic {
		return header{}, fmt.Errorf("%w: bad frame magic %#08x", ErrProtocol, m)
	}
	if v := b[4]; v != frameVersion {
		return header{}, fmt.Errorf("%w: frame layout version %d, want %d", ErrProtocol, v, frameVersion)
	}
	h := header{
		Type:   b[5],
		Flags:  binary.LittleEndian.Uint16(b[6:]),
		ID:     binary.LittleEndian.Uint64(b[8:]),
		Length: binary.LittleEndian.Uint32(b[16:]),
	}
	if !knownType(h.Type) {
		return header{}, fmt.Errorf("%w: unknown message type %#x", ErrProtocol, h.Type)
	}
	if h.Flags != 0 {
		return header{}, fmt.Errorf("%w: unknown frame flags %#x", ErrProtocol, h.Flags)
	}
	if r := binary.LittleEndian.Uint32(b[20:]); r != 0 {
		return header{}, fmt.Errorf("%w: reserved header field %#x", ErrProtocol, r)
	}
	if h.Length > max {
		return header{}, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrFrameTooLarge, msgName(h.Type), h.Length, max)
	}
	return h, nil
}

// readHeader reads and validates one frame header. It returns io.EOF only if
// the stream ended cleanly before the first byte of the header.
func readHeader(r io.Reader, max uint32) (header, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return header{}, fmt.Errorf("%w: truncated frame header", ErrProtocol)
		}
		return header{}, err
	}
	return parseHeader(b[:], max)
}

// readFrame reads one frame whose body is at most max bytes. The body is
// allocated only after its length has been checked.
func readFrame(r io.Reader, max uint32) (header, []byte, error) {
	h, err := readHeader(r, max)
	if err != nil {
		return h, nil, err
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: truncated %s body", ErrProtocol, msgName(h.Type))
		}
		return h, nil, err
	}
	return h, body, nil
}

// encoder appends little-endian fields to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }

// str appends a uint16 length and the bytes of s, cut to max bytes.
func (e *encoder) str(s string, max int) {
	s = truncate(s, max)
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}

// truncate cuts s to at most max bytes without splitting a UTF-8 sequence.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}

// decoder reads little-endian fields from an untrusted body. The first
// failure sticks; later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or malformed %s", ErrProtocol, what)
	}
	d.b = nil
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) uint8 {
	if b := d.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if b := d.take(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if b := d.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if b := d.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) i64(what string) int64 { return int64(d.u64(what)) }

// str reads a uint16-length-prefixed string of at most max bytes.
func (d *decoder) str(max int, what string) string {
	n := int(d.u16(what))
	if d.err != nil {
		return ""
	}
	if n > max {
		d.err = fmt.Errorf("%w: %s of %d bytes, limit %d", ErrProtocol, what, n, max)
		d.b = nil
		return ""
	}
	return string(d.take(n, what))
}

// end reports the first failure, or an error if bytes are left over.
func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d stray bytes after %s", ErrProtocol, len(d.b), what)
	}
	return d.err
}
