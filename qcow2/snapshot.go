package qcow2

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

const snapshotEntryLen = 40 // fixed part of a snapshot table entry

// readSnapshots decodes the snapshot table the header points at.
func (m *Image) readSnapshots() ([]SnapshotInfo, error) {
	h := &m.hdr
	if h.nbSnapshots == 0 {
		return nil, nil
	}
	off := h.snapshotsOff
	bad := func(at uint64, format string, args ...any) ([]SnapshotInfo, error) {
		return nil, &FormatError{Path: m.path, Off: int64(min(at, 1<<62)), Msg: "snapshot table: " + fmt.Sprintf(format, args...)}
	}
	if h.nbSnapshots > maxSnapshots {
		return bad(off, "%d snapshots exceed the limit of %d", h.nbSnapshots, maxSnapshots)
	}
	fsize := uint64(m.f.Size())
	if off%uint64(m.clusterSize) != 0 || off == 0 || off >= fsize {
		return bad(off, "offset %#x is not a cluster inside the file (%#x bytes)", off, fsize)
	}
	limit := min(fsize-off, maxSnapTable)
	r := bufio.NewReaderSize(io.NewSectionReader(m.f, int64(off), int64(limit)), 4096)
	pos := off
	var fixed [snapshotEntryLen]byte
	snaps := make([]SnapshotInfo, 0, min(h.nbSnapshots, 64))
	for i := range h.nbSnapshots {
		entry := pos
		if _, err := io.ReadFull(r, fixed[:]); err != nil {
			return bad(entry, "entry %d at %#x runs past the end of the table: %v", i, entry, err)
		}
		l1Off := be.Uint64(fixed[0:])
		s := SnapshotInfo{
			l1Off:       int64(min(l1Off, 1<<62)),
			l1Size:      be.Uint32(fixed[8:]),
			Date:        time.Unix(int64(be.Uint32(fixed[16:])), int64(be.Uint32(fixed[20:]))%1e9).UTC(),
			VMClock:     time.Duration(min(be.Uint64(fixed[24:]), 1<<63-1)),
			VMStateSize: int64(be.Uint32(fixed[32:])),
			Size:        int64(h.size),
		}
		idLen, nameLen := int(be.Uint16(fixed[12:])), int(be.Uint16(fixed[14:]))
		extraLen := be.Uint32(fixed[36:])
		if extraLen > maxSnapshotData {
			return bad(entry, "entry %d at %#x: %d bytes of extra data exceed %d", i, entry, extraLen, maxSnapshotData)
		}
		rest := make([]byte, int(extraLen)+idLen+nameLen)
		if _, err := io.ReadFull(r, rest); err != nil {
			return bad(entry, "entry %d at %#x runs past the end of the table: %v", i, entry, err)
		}
		extra := rest[:extraLen]
		if len(extra) >= 8 {
			s.VMStateSize = int64(min(be.Uint64(extra), 1<<63-1))
		}
		if len(extra) >= 16 {
			size := be.Uint64(extra[8:])
			if size > 1<<63-1 {
				return bad(entry, "entry %d at %#x: virtual size %#x does not fit in 63 bits", i, entry, size)
			}
			s.Size = int64(size)
		}
		s.ID = string(rest[extraLen : int(extraLen)+idLen])
		s.Name = string(rest[int(extraLen)+idLen:])
		n := uint64(snapshotEntryLen + len(rest))
		pad := (8 - n%8) % 8
		if _, err := r.Discard(int(pad)); err != nil && i+1 < h.nbSnapshots {
			return bad(entry, "entry %d at %#x runs past the end of the table: %v", i, entry, err)
		}
		pos += n + pad
		snaps = append(snaps, s)
		if uint64(s.l1Size)*8 <= maxL1Bytes && s.l1Size > 0 {
			m.meta = append(m.meta, span{s.l1Off, int64(s.l1Size) * 8, "L1 table of snapshot " + s.ID})
		}
	}
	m.meta = append(m.meta, span{int64(off), int64(pos - off), "snapshot table"})
	return snaps, nil
}

// findSnapshot returns the snapshot whose id is key or, failing that, the
// first whose name is key.
func (m *Image) findSnapshot(key string) *SnapshotInfo {
	for i := range m.snapshots {
		if m.snapshots[i].ID == key {
			return &m.snapshots[i]
		}
	}
	for i := range m.snapshots {
		if m.snapshots[i].Name == key {
			return &m.snapshots[i]
		}
	}
	return nil
}
