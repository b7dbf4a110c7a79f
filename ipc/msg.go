package ipc

import (
	"fmt"
	"time"
)

// ProtocolVersion is the message protocol version exchanged in hello. A peer
// with a different version is refused with ErrVersion.
const ProtocolVersion = 1

// Capability bits exchanged in hello.
const (
	// capSHM: reads may name a slot of the shared-memory region passed with
	// the shell's hello. The worker echoes it only if it mapped the region.
	capSHM uint64 = 1 << 0
	// capStream: the worker takes output files (stream open, with the
	// file's descriptor attached) and writes disk ranges to them (copy).
	capStream uint64 = 1 << 1

	knownCaps = capSHM | capStream
)

// noSlot in a read request asks for the data inline in the reply frame.
const noSlot = ^uint32(0)

// hello, both directions:
//
//	uint16 version, uint64 caps, uint32 slots, uint32 slot size, uint32 max inline read
//
// The shell sends the shape of its region (fd attached with SCM_RIGHTS);
// the worker answers with what it accepted.
type helloMsg struct {
	Version   uint16
	Caps      uint64
	Slots     uint32
	SlotSize  uint32
	MaxInline uint32
}

func (m helloMsg) encode(e *encoder) {
	e.u16(m.Version)
	e.u64(m.Caps)
	e.u32(m.Slots)
	e.u32(m.SlotSize)
	e.u32(m.MaxInline)
}

func decodeHello(d *decoder) helloMsg {
	return helloMsg{
		Version:   d.u16("hello version"),
		Caps:      d.u64("hello caps"),
		Slots:     d.u32("hello slots"),
		SlotSize:  d.u32("hello slot size"),
		MaxInline: d.u32("hello max inline"),
	}
}

// open request: string spec. Reply: uint32 disk id, int64 size, string name.
// list reply: uint32 count, then per disk a uint16-length record of
// uint32 id, int64 size, string name.
type DiskInfo struct {
	ID   uint32 // the worker's id for the disk; changes when the worker restarts
	Size int64
	Name string
}

func (m DiskInfo) encode(e *encoder) {
	e.u32(m.ID)
	e.i64(m.Size)
	e.str(m.Name, maxName)
}

func decodeDiskInfo(d *decoder) DiskInfo {
	return DiskInfo{
		ID:   d.u32("disk id"),
		Size: d.i64("disk size"),
		Name: d.str(maxName, "disk name"),
	}
}

// read request: uint32 disk id, uint32 slot (noSlot: inline), int64 offset,
// uint32 length. Reply: uint32 n, then n bytes of data when inline.
type readReq struct {
	Disk uint32
	Slot uint32
	Off  int64
	Len  uint32
}

const readReqSize = 20

func (m readReq) encode(e *encoder) {
	e.u32(m.Disk)
	e.u32(m.Slot)
	e.i64(m.Off)
	e.u32(m.Len)
}

func decodeReadReq(d *decoder) readReq {
	return readReq{
		Disk: d.u32("read disk"),
		Slot: d.u32("read slot"),
		Off:  d.i64("read offset"),
		Len:  d.u32("read length"),
	}
}

// stream open request: no body; the file descriptor comes with the
// frame's bytes (SCM_RIGHTS). Reply: uint64 stream id.
//
// copy request: uint32 disk id, uint64 stream id, uint64 sequence number,
// int64 offset, uint32 length (at most maxCopyLen). The worker reads the
// range and writes it to the stream's file once every copy of the stream
// with a lower sequence number has been written. Reply: uint32 bytes
// written.
//
// stream close request: uint64 stream id. The reply comes once no copy of
// the stream writes any longer and its file is closed.
type copyReq struct {
	Disk   uint32
	Stream uint64
	Seq    uint64
	Off    int64
	Len    uint32
}

func (m copyReq) encode(e *encoder) {
	e.u32(m.Disk)
	e.u64(m.Stream)
	e.u64(m.Seq)
	e.i64(m.Off)
	e.u32(m.Len)
}

func decodeCopyReq(d *decoder) copyReq {
	return copyReq{
		Disk:   d.u32("copy disk"),
		Stream: d.u64("copy stream"),
		Seq:    d.u64("copy sequence"),
		Off:    d.i64("copy offset"),
		Len:    d.u32("copy length"),
	}
}

// DiskStatus is what the worker reports about one open disk.
//
// On the wire (status reply: uint32 count, then one record per disk) each
// record is a uint16 length followed by uint32 id, int64 size, uint64
// bytes, requests and errors, int64 last error time (Unix nanoseconds, 0
// for none), strings name, last error and state, then the fields added
// later: string format, uint32 connection id, uint64 reconnects. A decoder
// ignores bytes after the fields it knows, and leaves the fields a record
// ends before at their defaults, so either side may be the older one.
type DiskStatus struct {
	ID        uint32
	Name      string
	Size      int64
	Bytes     uint64    // bytes served
	Requests  uint64    // read requests served
	Errors    uint64    // read requests that failed (io.EOF excluded)
	LastErr   string    // "" if none: the newer of the worker's and the backend's
	LastErrAt time.Time // zero if none
	State     string    // the disk's connection state, "ready" for a local file

	Format     string // image format ("raw", "qcow2", "vmdk", ...), "" if the backend does not say
	ConnID     uint32 // the backend's connection id; the disk's ID if it has none
	Reconnects uint64 // times the backend reconnected
}

func (m DiskStatus) encode(e *encoder) {
	var r encoder
	r.u32(m.ID)
	r.i64(m.Size)
	r.u64(m.Bytes)
	r.u64(m.Requests)
	r.u64(m.Errors)
	var at int64
	if !m.LastErrAt.IsZero() {
		at = m.LastErrAt.UnixNano()
	}
	r.i64(at)
	r.str(m.Name, maxName)
	r.str(m.LastErr, maxErrMsg)
	r.str(m.State, maxState)
	r.str(m.Format, maxFormat)
	r.u32(m.ConnID)
	r.u64(m.Reconnects)
	e.u16(uint16(len(r.b)))
	e.b = append(e.b, r.b...)
}

func decodeDiskStatus(d *decoder) DiskStatus {
	n := int(d.u16("status record length"))
	r := decoder{b: d.take(n, "status record")}
	if d.err != nil {
		return DiskStatus{}
	}
	m := DiskStatus{
		ID:       r.u32("status id"),
		Size:     r.i64("status size"),
		Bytes:    r.u64("status bytes"),
		Requests: r.u64("status requests"),
		Errors:   r.u64("status errors"),
	}
	if at := r.i64("status error time"); at != 0 {
		m.LastErrAt = time.Unix(0, at)
	}
	m.Name = r.str(maxName, "status name")
	m.LastErr = r.str(maxErrMsg, "status error")
	m.State = r.str(maxState, "status state")
	m.ConnID = m.ID
	if r.err == nil && len(r.b) > 0 {
		m.Format = r.str(maxFormat, "status format")
		m.ConnID = r.u32("status connection id")
		m.Reconnects = r.u64("status reconnects")
	}
	// Fields a later version appends are skipped with the record.
	if r.err != nil {
		d.err = r.err
	}
	return m
}

// decodeCount reads a uint32 count and checks it against max and against
// the bytes left (each item takes at least minSize bytes), so a hostile
// count cannot size an allocation.
func decodeCount(d *decoder, max, minSize int, what string) int {
	n := d.u32(what + " count")
	if d.err != nil {
		return 0
	}
	if int64(n) > int64(max) || int64(n)*int64(minSize) > int64(len(d.b)) {
		d.err = fmt.Errorf("%w: %s count %d too large", ErrProtocol, what, n)
		d.b = nil
		return 0
	}
	return int(n)
}
