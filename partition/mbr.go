package partition

import (
	"fmt"
	"io"
)

// mbrEntry is one 16-byte partition entry of an MBR or an EBR.
type mbrEntry struct {
	boot  byte   // 0x80 active, 0 inactive
	typ   byte   // partition type
	start uint32 // first sector (relative, in an EBR)
	count uint32 // number of sectors
}

// mbrEntries decodes the four entries at offset 446 of a 512-byte sector.
func mbrEntries(sector []byte) [4]mbrEntry {
	var es [4]mbrEntry
	for i := range es {
		b := sector[446+16*i:]
		es[i] = mbrEntry{boot: b[0], typ: b[4], start: le.Uint32(b[8:]), count: le.Uint32(b[12:])}
	}
	return es
}

func isExtended(typ byte) bool { return typ == 0x05 || typ == 0x0f || typ == 0x85 }

func hasProtective(es [4]mbrEntry) bool {
	for _, e := range es {
		if e.typ == 0xee {
			return true
		}
	}
	return false
}

// isHybrid reports whether a protective MBR also describes other partitions.
func isHybrid(es [4]mbrEntry) bool {
	for _, e := range es {
		if e.typ != 0xee && e.typ != 0 && e.count != 0 {
			return true
		}
	}
	return false
}

// filesystemBootSector names the filesystem whose boot sector s looks like
// (its BIOS parameter block is plausible), or returns "". Such a sector
// carries the 0x55AA signature of an MBR but is not one.
func filesystemBootSector(s []byte) string {
	switch {
	case string(s[3:11]) == "NTFS    ":
		return "NTFS"
	case string(s[3:11]) == "EXFAT   ":
		return "exFAT"
	}
	jump := s[0] == 0xEB && s[2] == 0x90 || s[0] == 0xE9
	if !jump {
		return ""
	}
	bps := le.Uint16(s[11:])
	spc := s[13]
	reserved := le.Uint16(s[14:])
	fats := s[16]
	media := s[21]
	if bps != 512 && bps != 1024 && bps != 2048 && bps != 4096 {
		return ""
	}
	if spc == 0 || spc&(spc-1) != 0 || reserved == 0 || fats < 1 || fats > 2 {
		return ""
	}
	if media != 0xF0 && media < 0xF8 {
		return ""
	}
	if string(s[54:57]) == "FAT" || string(s[82:87]) == "FAT32" {
		return "FAT"
	}
	return ""
}

// readMBR reads an MBR table whose sector 0 is s0. The sector size is 512
// unless the table only fits the disk with 4096-byte sectors (partitions and
// boot records beyond the end of the disk, or extended boot records without
// their signature, with 512; none of that with 4096).
func readMBR(r io.ReaderAt, size int64, s0 []byte) (*Table, error) {
	t, problems, err := readMBRSectors(r, size, s0, 512)
	if err != nil || problems == 0 || size%4096 != 0 {
		return t, err
	}
	t4, problems4, err4 := readMBRSectors(r, size, s0, 4096)
	if err4 == nil && problems4 == 0 && len(t4.Partitions) > 0 {
		t4.Warnings = append(t4.Warnings, "mbr: the table does not fit the disk with 512-byte sectors but does with 4096-byte sectors; 4096 used")
		return t4, nil
	}
	return t, nil
}

// readMBRSectors reads an MBR table with sector size ss, returning the table
// and the number of its problems that suggest a wrong sector size.
func readMBRSectors(r io.ReaderAt, size int64, s0 []byte, ss int64) (*Table, int, error) {
	sig := le.Uint32(s0[440:])
	t := &Table{Scheme: "mbr", SectorSize: int(ss), DiskID: fmt.Sprintf("%08x", sig)}
	problems := 0
	add := func(num int, e mbrEntry, start int64) {
		sz := int64(e.count) * ss
		if start+sz > size {
			problems++
			t.Warnings = append(t.Warnings, fmt.Sprintf("mbr: partition %d (bytes %d-%d) extends past the end of the disk (%d bytes)", num, start, start+sz-1, size))
		}
		t.Partitions = append(t.Partitions, Partition{
			Number:   num,
			Start:    start,
			Size:     sz,
			Type:     fmt.Sprintf("%#02x", e.typ),
			TypeName: mbrTypeNames[e.typ],
			UUID:     fmt.Sprintf("%08x-%02x", sig, num),
			Bootable: e.boot == 0x80,
		})
	}
	entries := mbrEntries(s0)
	for i, e := range entries {
		if e.count == 0 || isExtended(e.typ) {
			continue
		}
		add(i+1, e, int64(e.start)*ss)
	}
	next := 5
	for i, e := range entries {
		if e.count == 0 || !isExtended(e.typ) {
			continue
		}
		p, err := walkEBRs(r, size, t, ss, i+1, e, &next, add)
		problems += p
		if err != nil {
			return nil, 0, err
		}
	}
	return t, problems, nil
}

// walkEBRs follows the chain of extended boot records of the extended
// partition ext in primary slot slot, adding each logical partition with
// the next number. The data entry of an EBR is relative to the EBR; the
// link to the next EBR is relative to the start of the extended partition.
// It stops, with a warning, at a loop, a link outside the disk, a record
// without its signature, or after maxEBRs links.
func walkEBRs(r io.ReaderAt, size int64, t *Table, ss int64, slot int, ext mbrEntry, next *int, add func(int, mbrEntry, int64)) (problems int, err error) {
	first := int64(ext.start)                  // sectors
	extEnd := first + int64(ext.count)         // sectors
	this, thisCount := first, int64(ext.count) // current EBR and the size of its extended range
	seen := make(map[int64]bool)
	buf := make([]byte, 512)
	for hop := 0; ; hop++ {
		if hop == maxEBRs {
			t.Warnings = append(t.Warnings, fmt.Sprintf("mbr: extended partition %d: more than %d extended boot records; stopped", slot, maxEBRs))
			return problems, nil
		}
		if seen[this] {
			t.Warnings = append(t.Warnings, fmt.Sprintf("mbr: extended partition %d: the chain of extended boot records loops back to sector %d; stopped", slot, this))
			return problems, nil
		}
		seen[this] = true
		off := this * ss
		if off+512 > size {
			problems++
			t.Warnings = append(t.Warnings, fmt.Sprintf("mbr: extended partition %d: extended boot record at sector %d is beyond the end of the disk; stopped", slot, this))
			return problems, nil
		}
		if err := readAt(r, size, buf, off); err != nil {
			return problems, err
		}
		if buf[510] != 0x55 || buf[511] != 0xAA {
			problems++
			t.Warnings = append(t.Warnings, fmt.Sprintf("mbr: extended partition %d: no 0x55AA signature in the extended boot record at sector %d; stopped", slot, this))
			return problems, nil
		}
		es := mbrEntries(buf)
		// The data partitions. Like Linux, take the third and fourth
		// entries only when they lie inside the extended partition, as
		// they sometimes hold garbage.
		for i, e := range es {
			if e.count == 0 || isExtended(e.typ) {
				continue
			}
			start := this + int64(e.start)
			if i >= 2 && (int64(e.start)+int64(e.count) > thisCount || start < first || start+int64(e.count) > extEnd) {
				continue
			}
			add(*next, e, start*ss)
			*next++
		}
		// The link to the next record: the first extended entry.
		var link *mbrEntry
		for i := range es {
			if es[i].count != 0 && isExtended(es[i].typ) {
				link = &es[i]
				break
			}
		}
		if link == nil {
			return problems, nil
		}
		this = first + int64(link.start)
		thisCount = int64(link.count)
	}
}
