package shell

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// This file identifies the filesystems and containers vmsh does not read,
// by the signatures blkid looks for, and finds their labels and UUIDs where
// blkid finds them, so that lsblk and mounts can say what a volume holds.
// Every offset and count comes from the disk: each is checked against the
// bytes read and the volume's size before it is used.

// fsID is what identification finds on a volume: blkid's TYPE, LABEL and
// UUID.
type fsID struct {
	typ, label, uuid string
}

// identify recognises a filesystem or container from head, the volume's
// first bytes (up to 64 KiB), reading more through r (size bytes long) where
// a format keeps its label or UUID further in. It returns a zero fsID when
// nothing is recognised.
func identify(head []byte, r io.ReaderAt, size int64) fsID {
	at := func(off int, sig string) bool {
		return off+len(sig) <= len(head) && string(head[off:off+len(sig)]) == sig
	}
	switch {
	case at(0, "XFSB") && len(head) >= 120:
		// The superblock: sb_uuid at 32, sb_fname (12 bytes) at 108.
		return fsID{"xfs", cString(head[108:120]), uuidString(head[32:48])}
	case at(0, "LUKS\xba\xbe") && len(head) >= 208:
		id := fsID{typ: "crypto_LUKS", uuid: cString(head[168:208])}
		if binary.BigEndian.Uint16(head[6:]) == 2 {
			id.label = cString(head[24:72]) // LUKS2 keeps a label in its binary header
		}
		return id
	case at(0, "hsqs"):
		return fsID{typ: "squashfs"}
	case at(3, "NTFS    "):
		return ntfsID(head, r, size)
	case at(3, "EXFAT   "):
		return exfatID(head, r, size)
	case at(82, "FAT32   "), at(54, "FAT12   "), at(54, "FAT16   "), at(54, "FAT     "):
		return fatID(head, r, size)
	}
	return btrfsID(r, size)
}

// btrfsID reads the btrfs superblock at 64 KiB: the fsid at 0x20 is the
// filesystem's UUID, the label (256 bytes) is at 0x12b.
func btrfsID(r io.ReaderAt, size int64) fsID {
	const off, sbSize = 64 << 10, 4096
	if size < off+sbSize {
		return fsID{}
	}
	sb := make([]byte, sbSize)
	if _, err := r.ReadAt(sb, off); err != nil || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return fsID{}
	}
	return fsID{"btrfs", cString(sb[0x12b : 0x12b+256]), uuidString(sb[0x20:0x30])}
}

// ntfsID reads an NTFS boot sector: the volume serial number at 0x48 is the
// UUID, printed as blkid does (16 upper-case hex digits), and the label is
// the $VOLUME_NAME attribute of the $Volume file, MFT record 3.
func ntfsID(head []byte, r io.ReaderAt, size int64) fsID {
	if len(head) < 512 {
		return fsID{typ: "ntfs"}
	}
	id := fsID{typ: "ntfs", uuid: fmt.Sprintf("%016X", binary.LittleEndian.Uint64(head[0x48:]))}
	sector := int64(binary.LittleEndian.Uint16(head[0x0b:]))
	if sector < 256 || sector > 4096 || sector&(sector-1) != 0 {
		return id
	}
	// Sectors per cluster: a byte, or above 0x80 the negated exponent of
	// a power of two, as Windows writes for clusters of 64 KiB and more.
	spc := int64(head[0x0d])
	if spc > 0x80 {
		if 256-spc > 12 {
			return id
		}
		spc = 1 << (256 - spc)
	}
	cluster := sector * spc
	if cluster == 0 || cluster > 2<<20 {
		return id
	}
	// Clusters per MFT record, or, negative, the log2 of its size in bytes.
	rec := int64(int8(head[0x40]))
	switch {
	case rec > 0:
		rec *= cluster
	case rec < -31 || rec == 0:
		return id
	default:
		rec = 1 << -rec
	}
	mft := int64(binary.LittleEndian.Uint64(head[0x30:]))
	if rec < 512 || rec > 64<<10 || mft <= 0 || mft > size/cluster {
		return id
	}
	off := mft*cluster + 3*rec
	if off+rec > size {
		return id
	}
	b := make([]byte, rec)
	if _, err := r.ReadAt(b, off); err != nil || string(b[:4]) != "FILE" {
		return id
	}
	// Undo the update sequence: the last two bytes of every 512 bytes
	// were replaced by a check value, kept in the array at usaOff.
	usaOff, usaCount := int(binary.LittleEndian.Uint16(b[4:])), int(binary.LittleEndian.Uint16(b[6:]))
	if usaCount < 1 || usaOff+2*usaCount > len(b) || (usaCount-1)*512 > len(b) {
		return id
	}
	for i := 1; i < usaCount; i++ {
		end := i*512 - 2
		if !bytes.Equal(b[end:end+2], b[usaOff:usaOff+2]) {
			return id // a torn write
		}
		copy(b[end:end+2], b[usaOff+2*i:usaOff+2*i+2])
	}
	const volumeName, endMarker = 0x60, 0xffffffff
	a := int(binary.LittleEndian.Uint16(b[0x14:]))
	for a+24 <= len(b) {
		typ := binary.LittleEndian.Uint32(b[a:])
		n := int(binary.LittleEndian.Uint32(b[a+4:]))
		if typ == endMarker || n < 24 || n > len(b)-a {
			break
		}
		if typ == volumeName && b[a+8] == 0 { // resident
			vlen := int(binary.LittleEndian.Uint32(b[a+16:]))
			voff := int(binary.LittleEndian.Uint16(b[a+20:]))
			if voff+vlen <= n {
				id.label = utf16String(b[a+voff : a+voff+vlen])
			}
			break
		}
		a += n
	}
	return id
}

// fatID reads a FAT boot sector. The UUID is the volume id (at 67 for
// FAT32, 39 for FAT12 and FAT16) as XXXX-XXXX; the label is that of the
// volume-label entry in the root directory, as blkid takes it, or when the
// root directory cannot be read the boot sector's, unless "NO NAME".
func fatID(head []byte, r io.ReaderAt, size int64) fsID {
	if len(head) < 512 {
		return fsID{typ: "vfat"}
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(head[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(head[o:])) }
	fat32 := le16(22) == 0 // FAT12/16 keep the FAT size here; FAT32 at 36
	idOff, labelOff := 39, 43
	if fat32 {
		idOff, labelOff = 67, 71
	}
	id := fsID{typ: "vfat", uuid: fmt.Sprintf("%04X-%04X", le16(idOff+2), le16(idOff))}
	bootLabel := strings.TrimRight(string(head[labelOff:labelOff+11]), " ")
	if bootLabel == "NO NAME" {
		bootLabel = ""
	}
	id.label = bootLabel

	sector, spc, reserved, nfats := le16(11), int64(head[13]), le16(14), int64(head[16])
	if sector < 512 || sector > 4096 || sector&(sector-1) != 0 || spc == 0 || spc&(spc-1) != 0 || nfats == 0 || nfats > 4 {
		return id
	}
	cluster := sector * spc
	var dir []byte
	if !fat32 {
		start := (reserved + nfats*le16(22)) * sector
		n := min(le16(17)*32, 64<<10)
		if n <= 0 || start+n > size {
			return id
		}
		dir = make([]byte, n)
		if _, err := r.ReadAt(dir, start); err != nil {
			return id
		}
	} else {
		// The root directory's first cluster: the volume label is, in
		// practice, among its first entries.
		data := (reserved + nfats*le32(36)) * sector
		c := le32(44) & 0x0fffffff
		off := data + (c-2)*cluster
		if c < 2 || cluster > 64<<10 || off < 0 || off+cluster > size {
			return id
		}
		dir = make([]byte, cluster)
		if _, err := r.ReadAt(dir, off); err != nil {
			return id
		}
	}
	id.label = ""
	for e := 0; e+32 <= len(dir); e += 32 {
		ent := dir[e : e+32]
		if ent[0] == 0 {
			break
		}
		attr := ent[11]
		if ent[0] == 0xe5 || attr&0x0f == 0x0f || attr&0x18 != 0x08 {
			continue // deleted, a long-name piece, or not a volume label
		}
		name := bytes.Clone(ent[:11])
		if name[0] == 0x05 {
			name[0] = 0xe5
		}
		if l := strings.TrimRight(string(name), " "); l != "NO NAME" {
			id.label = l
		}
		break
	}
	return id
}

// exfatID reads an exFAT boot sector: the volume serial number at 100 is
// the UUID (XXXX-XXXX), and the label is the volume-label entry (type 0x83)
// of the root directory's first cluster.
func exfatID(head []byte, r io.ReaderAt, size int64) fsID {
	if len(head) < 512 {
		return fsID{typ: "exfat"}
	}
	serial := binary.LittleEndian.Uint32(head[100:])
	id := fsID{typ: "exfat", uuid: fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff)}
	shift, cshift := int(head[108]), int(head[109])
	if shift < 9 || shift > 12 || cshift > 25-shift {
		return id
	}
	sector := int64(1) << shift
	cluster := sector << cshift
	heap := int64(binary.LittleEndian.Uint32(head[88:])) * sector
	root := int64(binary.LittleEndian.Uint32(head[96:]))
	off := heap + (root-2)*cluster
	n := min(cluster, 64<<10)
	if root < 2 || off < 0 || off+n > size {
		return id
	}
	dir := make([]byte, n)
	if _, err := r.ReadAt(dir, off); err != nil {
		return id
	}
	for e := 0; e+32 <= len(dir); e += 32 {
		switch dir[e] {
		case 0:
			return id
		case 0x83:
			chars := min(int(dir[e+1]), 11)
			id.label = utf16String(dir[e+2 : e+2+2*chars])
			return id
		}
	}
	return id
}

// utf16String decodes little-endian UTF-16.
func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
