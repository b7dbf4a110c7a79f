// Package partition reads the partition table of a disk: an MBR (DOS)
// table with its primary partitions and the logical partitions in the chain
// of extended boot records, or a GUID partition table (GPT) behind a
// protective or hybrid MBR, with 512- or 4096-byte logical sectors.
//
// Read reports partitions as Linux numbers and places them, with their type,
// name, PARTUUID and flags, and the names util-linux's sfdisk gives their
// types.
//
// # Security
//
// The disk is untrusted input. Every count, size and offset read from it is
// checked against the disk's size and against fixed limits before it sizes
// an allocation or a loop: a GPT entry array is at most 1 MiB, a chain of
// extended boot records at most 1024 links and never visits a sector twice.
// A damaged table gives a warning in Table.Warnings or an error, never a
// panic or a hang. Read only reads.
package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrNoTable means the disk has no partition table Read recognises: sector 0
// has no 0x55AA boot signature, or it is the boot sector of a filesystem
// (FAT, NTFS, exFAT) rather than an MBR. Read wraps it with the reason.
var ErrNoTable = errors.New("partition: no partition table")

// Table is a disk's partition table.
type Table struct {
	Scheme     string // "gpt" or "mbr"
	SectorSize int    // logical sector size the table is in: 512 or 4096
	// DiskID is the GPT disk GUID (lower-case canonical form) or the MBR
	// disk signature as 8 lower-case hex digits.
	DiskID string
	// Partitions are the usable partitions in Linux order: GPT in entry
	// order, MBR primaries then logicals. MBR extended partitions (the
	// containers of logicals) are not included.
	//
	// A partition that extends past the end of the disk is kept as the
	// table says, not clipped, and Warnings says so; reading beyond the end
	// of the disk gives io.EOF.
	Partitions []Partition
	// Warnings describe damage Read worked around, such as a bad primary
	// GPT header replaced by the backup, or a broken chain of logical
	// partitions. Each starts with "gpt: " or "mbr: ".
	Warnings []string
}

// Partition is one partition of a Table.
type Partition struct {
	// Number is the partition number as Linux gives it: GPT entry index
	// plus one; MBR primaries 1-4 by slot, logicals 5, 6, ... in chain
	// order.
	Number int
	Start  int64 // byte offset on the disk
	Size   int64 // bytes
	// Type is the GPT partition type GUID (lower-case canonical form) or
	// the MBR type byte as "0x83".
	Type string
	// TypeName is sfdisk's name for Type, such as "Linux filesystem" or
	// "EFI System", or "" if the type is not a known one.
	TypeName string
	Name     string // GPT partition name; "" for MBR
	// UUID is the PARTUUID: the GPT unique partition GUID (lower-case), or
	// for MBR "<disk signature>-<number as 2 hex digits>", as blkid prints.
	UUID       string
	Bootable   bool   // MBR active flag (0x80), or GPT legacy BIOS bootable attribute (bit 2)
	Attributes uint64 // GPT attribute bits; 0 for MBR
}

// FormatError reports a partition table too damaged to read.
type FormatError struct {
	Off int64  // byte offset on the disk of the structure at fault
	Msg string // what is wrong
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("partition: %s (at byte offset %d)", e.Msg, e.Off)
}

// Limits on what a table read from disk may make Read do.
const (
	maxEntryArray = 1 << 20 // bytes in a GPT partition entry array
	maxEBRs       = 1024    // links followed in a chain of extended boot records
)

// Read reads the partition table of a disk of size bytes.
//
// A GPT is read when sector 0 holds a protective or hybrid MBR (a partition
// of type 0xEE), and also, with a warning, when sector 0 has no boot
// signature at all but a GPT header is found. Otherwise an MBR is read.
// When the disk has no table the error wraps ErrNoTable; a table too damaged
// to read gives a *FormatError or an I/O error from r.
func Read(r io.ReaderAt, size int64) (*Table, error) {
	if size < 512 {
		return nil, fmt.Errorf("%w: disk of %d bytes is smaller than one sector", ErrNoTable, size)
	}
	var s0 [512]byte
	if err := readAt(r, size, s0[:], 0); err != nil {
		return nil, err
	}
	sig := s0[510] == 0x55 && s0[511] == 0xAA
	entries := mbrEntries(s0[:])
	if sig && hasProtective(entries) {
		t, err := readGPT(r, size)
		if err != nil {
			return nil, err
		}
		if isHybrid(entries) {
			t.Warnings = append([]string{"mbr: hybrid MBR: its partitions other than the GPT protective one are ignored; the GPT is used"}, t.Warnings...)
		}
		return t, nil
	}
	if !sig {
		if gptSignature(r, size) {
			t, err := readGPT(r, size)
			if err != nil {
				return nil, err
			}
			t.Warnings = append([]string{"gpt: sector 0 has no protective MBR (no 0x55AA signature); the GPT is used anyway"}, t.Warnings...)
			return t, nil
		}
		return nil, fmt.Errorf("%w: no 0x55AA boot signature in sector 0", ErrNoTable)
	}
	if fs := filesystemBootSector(s0[:]); fs != "" {
		return nil, fmt.Errorf("%w: sector 0 is the boot sector of a %s filesystem", ErrNoTable, fs)
	}
	for i, e := range entries {
		if e.boot != 0 && e.boot != 0x80 {
			return nil, fmt.Errorf("%w: sector 0 has a boot signature but is not an MBR (entry %d has boot indicator %#02x)", ErrNoTable, i+1, e.boot)
		}
	}
	t, err := readMBR(r, size, s0[:])
	if err != nil {
		return nil, err
	}
	if gptSignature(r, size) {
		if len(t.Partitions) == 0 {
			// An MBR with no partitions in front of a GPT: the GPT is
			// the table that means something.
			if g, err := readGPT(r, size); err == nil {
				g.Warnings = append([]string{"gpt: sector 0 is an empty MBR without a protective entry; the GPT is used anyway"}, g.Warnings...)
				return g, nil
			}
		}
		t.Warnings = append(t.Warnings, "mbr: a GPT header is present but the MBR has no protective (0xEE) entry; the MBR is used, as Linux does")
	}
	return t, nil
}

// readAt reads len(buf) bytes at off, which must lie within the disk.
func readAt(r io.ReaderAt, size int64, buf []byte, off int64) error {
	if off < 0 || off > size || int64(len(buf)) > size-off {
		return &FormatError{Off: off, Msg: fmt.Sprintf("%d bytes at offset %d lie beyond the end of the disk (%d bytes)", len(buf), off, size)}
	}
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("partition: reading %d bytes at offset %d: %w", len(buf), off, err)
}

var le = binary.LittleEndian

// guidString formats a GUID stored in the mixed-endian on-disk form as the
// canonical lower-case string.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b[0:]), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

// lbaRange converts a range of sectors to bytes, reporting false if the
// byte values would not fit in an int64.
func lbaRange(first, count uint64, ss int64) (start, size int64, ok bool) {
	max := uint64(math.MaxInt64 / ss)
	if first > max || count > max || first+count > max {
		return 0, 0, false
	}
	return int64(first) * ss, int64(count) * ss, true
}
