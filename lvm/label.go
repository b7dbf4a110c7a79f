// Package lvm reads LVM2 in userspace, without device-mapper.
//
// ReadLabel reads what one volume says of itself: the label and
// physical-volume header in its first sectors, the metadata-area header
// and the current metadata text in the area's circular buffer. ParseVG
// parses that text (ParseText is the bare parser) into a volume group, its
// physical volumes and its logical volumes' segments. Assemble groups the
// physical volumes found on any number of disks into volume groups by the
// newest metadata, names the missing ones, and Group.Open turns a logical
// volume into a Volume, an io.ReaderAt built from its segments: linear and
// striped areas, mirror and raid images, a thin pool's mappings (ThinPool)
// and a snapshot's exceptions (COWStore).
//
// # Security
//
// The volumes are untrusted input. Every count, size and offset read from
// them is checked against the volume's size and against fixed limits before
// it sizes an allocation or a loop: at most 64 disk areas per list, metadata
// text at most 64 MiB and read in chunks, text nesting at most 64 deep, LVs
// stacked on LVs at most 32 deep, loops between LVs refused, thin-pool
// btrees bounded in depth and cached in a fixed number of nodes. Metadata
// whose checksums do not match, or that maps segments outside their
// physical volumes, gives an error, never a panic or a hang. Nothing here
// writes.
package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrNoLabel means no LVM2 label was found in the first four sectors.
var ErrNoLabel = errors.New("lvm: no physical volume label")

// FormatError reports damaged on-disk LVM2 structures.
type FormatError struct {
	Off int64  // byte offset on the volume of the structure at fault
	Msg string // what is wrong
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("lvm: %s (at byte offset %d)", e.Msg, e.Off)
}

const (
	sectorSize    = 512
	labelScan     = 4 // sectors searched for the label
	labelID       = "LABELONE"
	labelType     = "LVM2 001"
	mdaMagic      = " LVM2 x[5A%r0N*>"
	mdaHeaderSize = 512
	crcInitial    = 0xf597a6cf

	maxAreas    = 64       // entries in one disk-area list
	maxMetadata = 64 << 20 // bytes of metadata text
	readChunk   = 1 << 20  // bytes read at once from a length found on disk

	rawLocnIgnored = 1 // raw location flag: metadata area ignored
)

var le = binary.LittleEndian

// crc computes LVM2's checksum: a reflected CRC-32 with the IEEE polynomial,
// started from crc rather than all ones and with no final inversion. Passing
// the result of one call as crc of the next continues the checksum.
func crc(c uint32, p []byte) uint32 {
	return ^crc32.Update(^c, crc32.IEEETable, p)
}

// Area is a region of a physical volume, in bytes from its start.
type Area struct {
	Offset int64
	Size   int64 // 0 for a data area means "to the end of the volume"
}

// PV is what the label and metadata areas of one physical volume hold.
type PV struct {
	LabelSector int    // sector (0-3) holding the label
	UUID        string // the 32-character PV UUID, without dashes
	DeviceSize  int64  // bytes, as the PV header records it
	DataAreas   []Area
	MetaAreas   []Area
	// Metadata is the current metadata text of the first metadata area
	// that has one, checksum verified, without trailing NUL bytes. It is
	// nil when no area holds metadata (a PV not in a VG, or with all
	// areas ignored).
	Metadata []byte
	// MetadataArea is the index in MetaAreas that Metadata came from.
	MetadataArea int
}

// FormattedUUID returns the UUID in LVM2's display form, grouped
// 6-4-4-4-4-4-6 with dashes.
func FormattedUUID(u string) string {
	if len(u) != 32 {
		return u
	}
	groups := []int{6, 4, 4, 4, 4, 4, 6}
	var b []byte
	i := 0
	for n, g := range groups {
		if n > 0 {
			b = append(b, '-')
		}
		b = append(b, u[i:i+g]...)
		i += g
	}
	return string(b)
}

// readAt reads len(buf) bytes at off, treating a short read inside the
// volume's size as an error and a read past size as a FormatError.
func readAt(r io.ReaderAt, size int64, buf []byte, off int64) error {
	if off < 0 || off > size || int64(len(buf)) > size-off {
		return &FormatError{Off: off, Msg: fmt.Sprintf("%d bytes at offset %d reach beyond the volume's %d bytes", len(buf), off, size)}
	}
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("lvm: reading %d bytes at offset %d: %w", len(buf), off, err)
}

// ReadLabel reads the LVM2 label, PV header and current metadata text of
// the physical volume r, which is size bytes long. It returns an error
// wrapping ErrNoLabel when none of the first four sectors holds a label,
// a *FormatError when the label or a metadata area is damaged, and I/O
// errors as they are.
func ReadLabel(r io.ReaderAt, size int64) (*PV, error) {
	buf := make([]byte, sectorSize)
	for s := 0; s < labelScan; s++ {
		off := int64(s) * sectorSize
		if off+sectorSize > size {
			break
		}
		if err := readAt(r, size, buf, off); err != nil {
			return nil, err
		}
		if string(buf[:8]) != labelID {
			continue
		}
		return parseLabel(r, size, buf, s)
	}
	return nil, fmt.Errorf("%w: no %s in the first %d sectors", ErrNoLabel, labelID, labelScan)
}

func parseLabel(r io.ReaderAt, size int64, buf []byte, s int) (*PV, error) {
	off := int64(s) * sectorSize
	bad := func(format string, args ...any) (*PV, error) {
		return nil, &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
	}
	if got := le.Uint64(buf[8:]); got != uint64(s) {
		return bad("label in sector %d records sector %d", s, got)
	}
	if want, got := le.Uint32(buf[16:]), crc(crcInitial, buf[20:]); want != got {
		return bad("label checksum %#08x, computed %#08x", want, got)
	}
	if t := string(buf[24:32]); t != labelType {
		return bad("label type %q, want %q", t, labelType)
	}
	hoff := le.Uint32(buf[20:])
	// The PV header: UUID, device size and two zero-terminated area lists.
	if hoff < 32 || hoff > sectorSize-32-8-16 {
		return bad("PV header offset %d out of range", hoff)
	}
	pv := &PV{LabelSector: s, UUID: string(buf[hoff : hoff+32])}
	for i := 0; i < len(pv.UUID); i++ {
		c := pv.UUID[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return bad("PV UUID %q has a byte %#02x", pv.UUID, c)
		}
	}
	ds := le.Uint64(buf[hoff+32:])
	if ds > 1<<62 {
		return bad("device size %d out of range", ds)
	}
	pv.DeviceSize = int64(ds)
	p := int(hoff) + 40
	readList := func(what string) ([]Area, error) {
		var list []Area
		for {
			if p+16 > len(buf) {
				return nil, &FormatError{Off: off + int64(p), Msg: what + " area list runs past the label sector"}
			}
			ao, as := le.Uint64(buf[p:]), le.Uint64(buf[p+8:])
			p += 16
			if ao == 0 {
				return list, nil
			}
			if len(list) == maxAreas {
				return nil, &FormatError{Off: off + int64(p), Msg: fmt.Sprintf("more than %d %s areas", maxAreas, what)}
			}
			if ao > uint64(size) || as > uint64(size)-ao {
				return nil, &FormatError{Off: off + int64(p-16), Msg: fmt.Sprintf("%s area at %d, %d bytes, lies beyond the volume's %d bytes", what, ao, as, size)}
			}
			list = append(list, Area{Offset: int64(ao), Size: int64(as)})
		}
	}
	var err error
	if pv.DataAreas, err = readList("data"); err != nil {
		return nil, err
	}
	if pv.MetaAreas, err = readList("metadata"); err != nil {
		return nil, err
	}
	for i, a := range pv.MetaAreas {
		text, err := readMetadata(r, size, a)
		if err != nil {
			return nil, err
		}
		if text != nil {
			pv.Metadata, pv.MetadataArea = text, i
			break
		}
	}
	return pv, nil
}

// readMetadata reads the metadata-area header at a and the current
// metadata text it points at; it returns nil text when the area holds none
// or is ignored.
func readMetadata(r io.ReaderAt, size int64, a Area) ([]byte, error) {
	off := a.Offset
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, &FormatError{Off: off, Msg: "metadata area: " + fmt.Sprintf(format, args...)}
	}
	if a.Size <= mdaHeaderSize {
		return bad("size %d too small", a.Size)
	}
	h := make([]byte, mdaHeaderSize)
	if err := readAt(r, size, h, off); err != nil {
		return nil, err
	}
	if string(h[4:20]) != mdaMagic {
		return bad("bad magic %q", h[4:20])
	}
	if want, got := le.Uint32(h), crc(crcInitial, h[4:]); want != got {
		return bad("header checksum %#08x, computed %#08x", want, got)
	}
	if v := le.Uint32(h[20:]); v != 1 {
		return bad("version %d, want 1", v)
	}
	if start := le.Uint64(h[24:]); start != uint64(a.Offset) {
		return bad("header records start %d, PV header says %d", start, a.Offset)
	}
	if msize := le.Uint64(h[32:]); msize != uint64(a.Size) {
		return bad("header records size %d, PV header says %d", msize, a.Size)
	}
	// The first raw location is the current metadata.
	loff, lsize := le.Uint64(h[40:]), le.Uint64(h[48:])
	lsum, lflags := le.Uint32(h[56:]), le.Uint32(h[60:])
	if loff == 0 || lflags&rawLocnIgnored != 0 {
		return nil, nil
	}
	if lsize == 0 {
		return bad("current metadata is empty")
	}
	ring := uint64(a.Size) - mdaHeaderSize
	if loff < mdaHeaderSize || loff >= uint64(a.Size) {
		return bad("metadata offset %d outside the area of %d bytes", loff, a.Size)
	}
	if lsize > ring || lsize > maxMetadata {
		return bad("metadata size %d larger than the area's buffer of %d bytes (limit %d)", lsize, ring, maxMetadata)
	}
	// The text runs from loff to the end of the area and wraps around to
	// just after the header.
	first := min(lsize, uint64(a.Size)-loff)
	text, err := readChunked(r, size, nil, a.Offset+int64(loff), int64(first))
	if err != nil {
		return nil, err
	}
	if rest := lsize - first; rest > 0 {
		if text, err = readChunked(r, size, text, a.Offset+mdaHeaderSize, int64(rest)); err != nil {
			return nil, err
		}
	}
	if got := crc(crcInitial, text); got != lsum {
		return bad("metadata text checksum %#08x, computed %#08x", lsum, got)
	}
	return bytes.TrimRight(text, "\x00"), nil
}

// readChunked appends n bytes read at off to buf, growing it no more than
// readChunk at a time so that a bad length fails at the end of the volume
// before it exhausts memory.
func readChunked(r io.ReaderAt, size int64, buf []byte, off, n int64) ([]byte, error) {
	for n > 0 {
		c := min(n, readChunk)
		l := len(buf)
		buf = append(buf, make([]byte, c)...)
		if err := readAt(r, size, buf[l:], off); err != nil {
			return nil, err
		}
		off += c
		n -= c
	}
	return buf, nil
}
