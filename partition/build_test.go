package partition

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"strings"
	"unicode/utf16"
)

// Hand-built disks for tests that do not need sfdisk or sgdisk.

// guidBytes encodes a canonical GUID string in the on-disk mixed-endian form.
func guidBytes(s string) [16]byte {
	h, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(h) != 16 {
		panic("bad GUID " + s)
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = h[3], h[2], h[1], h[0]
	g[4], g[5] = h[5], h[4]
	g[6], g[7] = h[7], h[6]
	copy(g[8:], h[8:])
	return g
}

type gptEntry struct {
	index       int // 0-based slot in the array
	typ, uniq   string
	first, last uint64
	attrs       uint64
	name        string
}

type gptDisk struct {
	ss         int64
	size       int64
	diskGUID   string
	numEntries uint32 // default 128
	entrySize  uint32 // default 128
	entries    []gptEntry
	noPMBR     bool
	hybrid     bool // add a 0x83 entry to the protective MBR
}

// build writes a disk with a protective MBR, primary and backup headers and
// entry arrays.
func (g gptDisk) build() []byte {
	if g.numEntries == 0 {
		g.numEntries = 128
	}
	if g.entrySize == 0 {
		g.entrySize = 128
	}
	disk := make([]byte, g.size)
	last := uint64(g.size/g.ss - 1)
	if !g.noPMBR {
		putMBREntry(disk, 0, 0, 0xee, 1, uint32(min(last, 0xffffffff)))
		if g.hybrid {
			putMBREntry(disk, 1, 0x80, 0x83, 2048, 2048)
		}
		disk[510], disk[511] = 0x55, 0xaa
	}
	arr := make([]byte, int(g.numEntries)*int(g.entrySize))
	for _, e := range g.entries {
		b := arr[e.index*int(g.entrySize):]
		typ, uniq := guidBytes(e.typ), guidBytes(e.uniq)
		copy(b[0:], typ[:])
		copy(b[16:], uniq[:])
		le.PutUint64(b[32:], e.first)
		le.PutUint64(b[40:], e.last)
		le.PutUint64(b[48:], e.attrs)
		for i, c := range utf16.Encode([]rune(e.name)) {
			le.PutUint16(b[56+2*i:], c)
		}
	}
	arrSectors := (uint64(len(arr)) + uint64(g.ss) - 1) / uint64(g.ss)
	backupArr := last - arrSectors
	header := func(my, alt, arrLBA uint64) []byte {
		h := make([]byte, g.ss)
		copy(h, gptMagic)
		le.PutUint32(h[8:], 0x00010000)
		le.PutUint32(h[12:], 92)
		le.PutUint64(h[24:], my)
		le.PutUint64(h[32:], alt)
		le.PutUint64(h[40:], 2+arrSectors)
		le.PutUint64(h[48:], backupArr-1)
		dg := guidBytes(g.diskGUID)
		copy(h[56:], dg[:])
		le.PutUint64(h[72:], arrLBA)
		le.PutUint32(h[80:], g.numEntries)
		le.PutUint32(h[84:], g.entrySize)
		le.PutUint32(h[88:], crc32.ChecksumIEEE(arr))
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	copy(disk[g.ss:], header(1, last, 2))
	copy(disk[2*g.ss:], arr)
	copy(disk[int64(backupArr)*g.ss:], arr)
	copy(disk[int64(last)*g.ss:], header(last, 1, backupArr))
	return disk
}

// rehash recomputes the header checksum of the GPT header at off, after a
// test changed a field.
func rehash(disk []byte, off int64) {
	h := disk[off:]
	clear(h[16:20])
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:le.Uint32(h[12:])]))
}

func putMBREntry(sector []byte, i int, boot, typ byte, start, count uint32) {
	b := sector[446+16*i:]
	b[0] = boot
	b[4] = typ
	le.PutUint32(b[8:], start)
	le.PutUint32(b[12:], count)
}

// mbrDisk returns a disk of size bytes whose sector 0 is an MBR with disk
// signature sig and the given entries.
func mbrDisk(size int, sig uint32, entries ...[4]uint32) []byte {
	disk := make([]byte, size)
	le.PutUint32(disk[440:], sig)
	for i, e := range entries {
		putMBREntry(disk, i, byte(e[0]), byte(e[1]), e[2], e[3])
	}
	disk[510], disk[511] = 0x55, 0xaa
	return disk
}

// putEBR writes an extended boot record at byte offset off: a data entry
// (start relative to the record) and a link entry (start relative to the
// extended partition); a zero count leaves an entry empty.
func putEBR(disk []byte, off int64, dataTyp byte, dataStart, dataCount, linkStart, linkCount uint32) {
	s := disk[off : off+512]
	clear(s)
	if dataCount != 0 {
		putMBREntry(s, 0, 0, dataTyp, dataStart, dataCount)
	}
	if linkCount != 0 {
		putMBREntry(s, 1, 0, 0x05, linkStart, linkCount)
	}
	s[510], s[511] = 0x55, 0xaa
}

// sampleGPT is a small GPT disk used by several tests and as a fuzz seed.
func sampleGPT(ss int64) []byte {
	size := int64(1 << 20)
	if ss == 4096 {
		size = 4 << 20
	}
	return gptDisk{
		ss: ss, size: size,
		diskGUID:   "01234567-89ab-cdef-0123-456789abcdef",
		numEntries: 8,
		entries: []gptEntry{
			{index: 0, typ: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", uniq: "11111111-1111-1111-1111-111111111111", first: 40, last: 99, attrs: 1 << 2, name: "EFI"},
			{index: 2, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "33333333-3333-3333-3333-333333333333", first: 100, last: 199, attrs: 1<<63 | 1, name: "root 😀 ü"},
			{index: 7, typ: "12345678-9abc-def0-1234-56789abcdef0", uniq: "88888888-8888-8888-8888-888888888888", first: 200, last: 209},
		},
	}.build()
}

// sampleMBR is a small MBR disk with two primaries and three logical
// partitions in an extended partition.
func sampleMBR() []byte {
	disk := mbrDisk(1<<20, 0xdeadbeef,
		[4]uint32{0x80, 0x83, 64, 64},
		[4]uint32{0, 0x0f, 256, 1024},
		[4]uint32{0, 0x82, 1500, 100},
	)
	putEBR(disk, 256*512, 0x83, 8, 56, 64, 128)        // logical 5: 264-319
	putEBR(disk, (256+64)*512, 0x8e, 8, 100, 200, 100) // logical 6: 328-427
	putEBR(disk, (256+200)*512, 0x07, 4, 400, 0, 0)    // logical 7: 460-859
	return disk
}

func withBytes(disk []byte, off int, b ...byte) []byte {
	d := bytes.Clone(disk)
	copy(d[off:], b)
	return d
}
