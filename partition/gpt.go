package partition

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

const gptMagic = "EFI PART"

// gptHeader is the part of a GPT header Read uses.
type gptHeader struct {
	ss          int64  // sector size the header was found with
	lba         uint64 // where it was found
	altLBA      uint64 // the other header
	firstUsable uint64
	lastUsable  uint64
	diskGUID    [16]byte
	entriesLBA  uint64
	numEntries  uint32
	entrySize   uint32
	entriesCRC  uint32
}

// errNoGPTMagic means there is no "EFI PART" signature where a header should be.
var errNoGPTMagic = errors.New("no GPT signature")

// gptSignature reports whether a GPT header signature is at LBA 1 for
// 512- or 4096-byte sectors.
func gptSignature(r io.ReaderAt, size int64) bool {
	var b [8]byte
	for _, off := range []int64{512, 4096} {
		if readAt(r, size, b[:], off) == nil && string(b[:]) == gptMagic {
			return true
		}
	}
	return false
}

// lastLBA is the last sector of the disk with sector size ss.
func lastLBA(size, ss int64) uint64 { return uint64(size/ss - 1) }

// gptLoad reads and checks the GPT header at lba with sector size ss and
// its partition entry array. A problem with the header or the array is
// returned as a *FormatError whose message says which; I/O errors are
// returned as they are.
func gptLoad(r io.ReaderAt, size, ss int64, lba uint64) (*gptHeader, []byte, error) {
	if size/ss < 3 || lba > lastLBA(size, ss) {
		return nil, nil, errNoGPTMagic
	}
	off := int64(lba) * ss
	buf := make([]byte, ss)
	if err := readAt(r, size, buf, off); err != nil {
		return nil, nil, err
	}
	if string(buf[:8]) != gptMagic {
		return nil, nil, errNoGPTMagic
	}
	bad := func(format string, args ...any) (*gptHeader, []byte, error) {
		return nil, nil, &FormatError{Off: off, Msg: "gpt: " + fmt.Sprintf(format, args...)}
	}
	hsize := le.Uint32(buf[12:])
	if hsize < 92 || int64(hsize) > ss {
		return bad("header size %d out of range", hsize)
	}
	want := le.Uint32(buf[16:])
	hdr := bytes.Clone(buf[:hsize])
	clear(hdr[16:20])
	if got := crc32.ChecksumIEEE(hdr); got != want {
		return bad("header checksum mismatch")
	}
	h := &gptHeader{
		ss:          ss,
		lba:         lba,
		altLBA:      le.Uint64(buf[32:]),
		firstUsable: le.Uint64(buf[40:]),
		lastUsable:  le.Uint64(buf[48:]),
		entriesLBA:  le.Uint64(buf[72:]),
		numEntries:  le.Uint32(buf[80:]),
		entrySize:   le.Uint32(buf[84:]),
		entriesCRC:  le.Uint32(buf[88:]),
	}
	copy(h.diskGUID[:], buf[56:72])
	if my := le.Uint64(buf[24:]); my != lba {
		return bad("header at LBA %d says it is at LBA %d", lba, my)
	}
	if h.firstUsable > h.lastUsable {
		return bad("first usable LBA %d is after last usable LBA %d", h.firstUsable, h.lastUsable)
	}
	if h.entrySize < 128 || h.entrySize%128 != 0 {
		return bad("partition entry size %d is not a multiple of 128", h.entrySize)
	}
	n := int64(h.numEntries) * int64(h.entrySize)
	if n > maxEntryArray {
		return bad("partition entry array of %d entries of %d bytes is larger than %d bytes", h.numEntries, h.entrySize, maxEntryArray)
	}
	if h.entriesLBA > lastLBA(size, ss) || int64(h.entriesLBA)*ss > size-n {
		return bad("partition entry array at LBA %d lies beyond the end of the disk", h.entriesLBA)
	}
	arr := make([]byte, n)
	if err := readAt(r, size, arr, int64(h.entriesLBA)*ss); err != nil {
		return nil, nil, err
	}
	if crc32.ChecksumIEEE(arr) != h.entriesCRC {
		return nil, nil, &FormatError{Off: int64(h.entriesLBA) * ss, Msg: "gpt: partition entry array checksum mismatch"}
	}
	return h, arr, nil
}

// describe turns a gptLoad error into words for a warning or an error.
func describe(err error) string {
	var fe *FormatError
	switch {
	case errors.Is(err, errNoGPTMagic):
		return "header not found"
	case errors.As(err, &fe):
		return strings.TrimPrefix(fe.Msg, "gpt: ")
	default:
		return err.Error()
	}
}

// readGPT reads the GPT of the disk: the primary header at LBA 1, or if it
// or its entry array is bad, the backup header at the last LBA.
func readGPT(r io.ReaderAt, size int64) (*Table, error) {
	var warnings []string
	// The primary header: the sector size is the one it is found with.
	var (
		h       *gptHeader
		arr     []byte
		primErr error      = errNoGPTMagic
		primHdr *gptHeader // a primary header that is good but has a bad entry array
		sizes   = []int64{512, 4096}
	)
	for i, ss := range []int64{512, 4096} {
		hh, a, err := gptLoad(r, size, ss, 1)
		if err == nil {
			h, arr, primErr = hh, a, nil
			break
		}
		if !isFormatError(err) && !errors.Is(err, errNoGPTMagic) {
			return nil, err
		}
		if errors.Is(primErr, errNoGPTMagic) && !errors.Is(err, errNoGPTMagic) {
			// A damaged primary: look for the backup with this
			// sector size first.
			primErr = err
			sizes[0], sizes[i] = ss, sizes[0]
			primHdr = headerOnly(r, size, ss)
		}
	}
	if primErr == nil {
		warnings = append(warnings, checkBackup(r, size, h)...)
		return gptTable(h, arr, size, warnings), nil
	}
	// The backup header: at the last LBA, or where the primary header
	// (good, with a bad array) says it is.
	type place struct {
		ss  int64
		lba uint64
	}
	var places []place
	for _, ss := range sizes {
		if size/ss >= 3 {
			places = append(places, place{ss, lastLBA(size, ss)})
		}
	}
	if primHdr != nil && primHdr.altLBA != lastLBA(size, primHdr.ss) {
		places = append(places, place{primHdr.ss, primHdr.altLBA})
	}
	var backErr error = errNoGPTMagic
	for _, p := range places {
		var err error
		h, arr, err = gptLoad(r, size, p.ss, p.lba)
		if err == nil {
			what := "primary " + describe(primErr)
			if errors.Is(primErr, errNoGPTMagic) {
				what = "primary header not found at LBA 1"
			}
			warnings = append(warnings, fmt.Sprintf("gpt: %s, using backup header at LBA %d", what, p.lba))
			if p.lba != lastLBA(size, p.ss) {
				warnings = append(warnings, fmt.Sprintf("gpt: backup header is at LBA %d, not at the last LBA %d", p.lba, lastLBA(size, p.ss)))
			}
			return gptTable(h, arr, size, warnings), nil
		}
		if !isFormatError(err) && !errors.Is(err, errNoGPTMagic) {
			return nil, err
		}
		if errors.Is(backErr, errNoGPTMagic) {
			backErr = err
		}
	}
	off := int64(512)
	var fe *FormatError
	if errors.As(primErr, &fe) {
		off = fe.Off
	}
	return nil, &FormatError{Off: off, Msg: fmt.Sprintf("gpt: no valid GPT: primary %s; backup %s", describe(primErr), describe(backErr))}
}

func isFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}

// headerOnly returns the primary header at LBA 1 if its own checksum is
// good, ignoring its entry array, or nil.
func headerOnly(r io.ReaderAt, size, ss int64) *gptHeader {
	buf := make([]byte, ss)
	if readAt(r, size, buf, ss) != nil || string(buf[:8]) != gptMagic {
		return nil
	}
	hsize := le.Uint32(buf[12:])
	if hsize < 92 || int64(hsize) > ss {
		return nil
	}
	want := le.Uint32(buf[16:])
	clear(buf[16:20])
	if crc32.ChecksumIEEE(buf[:hsize]) != want || le.Uint64(buf[24:]) != 1 {
		return nil
	}
	return &gptHeader{ss: ss, lba: 1, altLBA: le.Uint64(buf[32:])}
}

// checkBackup returns warnings about the backup header of a good primary
// header h: missing, damaged, or not at the end of the disk.
func checkBackup(r io.ReaderAt, size int64, h *gptHeader) []string {
	last := lastLBA(size, h.ss)
	if h.altLBA > last {
		return []string{fmt.Sprintf("gpt: backup header LBA %d is beyond the end of the disk (last LBA %d); the disk image may be truncated", h.altLBA, last)}
	}
	var ws []string
	if h.altLBA != last {
		ws = append(ws, fmt.Sprintf("gpt: backup header is at LBA %d, not at the last LBA %d; the disk may have been resized", h.altLBA, last))
	}
	if _, _, err := gptLoad(r, size, h.ss, h.altLBA); err != nil {
		ws = append(ws, fmt.Sprintf("gpt: backup header at LBA %d is bad (%s); the primary is good", h.altLBA, describe(err)))
	}
	return ws
}

// gptTable builds the Table from a good header and its entry array.
func gptTable(h *gptHeader, arr []byte, size int64, warnings []string) *Table {
	t := &Table{Scheme: "gpt", SectorSize: int(h.ss), DiskID: guidString(h.diskGUID[:]), Warnings: warnings}
	if h.lastUsable > lastLBA(size, h.ss) {
		t.Warnings = append(t.Warnings, fmt.Sprintf("gpt: last usable LBA %d is beyond the end of the disk (last LBA %d)", h.lastUsable, lastLBA(size, h.ss)))
	}
	var zero [16]byte
	for i := 0; i < int(h.numEntries); i++ {
		e := arr[i*int(h.entrySize):][:128]
		if bytes.Equal(e[:16], zero[:]) {
			continue // unused entry
		}
		num := i + 1
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		if last < first {
			t.Warnings = append(t.Warnings, fmt.Sprintf("gpt: partition %d ends (LBA %d) before it starts (LBA %d); skipped", num, last, first))
			continue
		}
		start, sz, ok := lbaRange(first, last-first+1, h.ss)
		if !ok {
			t.Warnings = append(t.Warnings, fmt.Sprintf("gpt: partition %d (LBA %d-%d) is too far out to address; skipped", num, first, last))
			continue
		}
		if sz > size || start > size-sz {
			t.Warnings = append(t.Warnings, fmt.Sprintf("gpt: partition %d (bytes %d-%d) extends past the end of the disk (%d bytes)", num, start, start+sz-1, size))
		}
		typ := guidString(e[:16])
		attrs := le.Uint64(e[48:])
		t.Partitions = append(t.Partitions, Partition{
			Number:     num,
			Start:      start,
			Size:       sz,
			Type:       typ,
			TypeName:   gptTypeNames[typ],
			Name:       utf16Name(e[56:128]),
			UUID:       guidString(e[16:32]),
			Bootable:   attrs&(1<<2) != 0,
			Attributes: attrs,
		})
	}
	return t
}

// utf16Name decodes a NUL-terminated UTF-16LE name.
func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
