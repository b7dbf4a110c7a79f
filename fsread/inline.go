package fsread

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Inline data (the inline_data feature): a small file, directory or
// symbolic link keeps its contents in the inode instead of in blocks. The
// first 60 bytes are in i_block; the rest is the value of the extended
// attribute "system.data" in the inode's in-inode attribute area. An
// inline directory starts with the 4-byte inode number of its parent,
// followed by ordinary directory entries up to the end of i_block, and
// continues with more entries in the value of system.data.

// maxInline bounds the inline data of one inode: i_block and an attribute
// value in the rest of a 64 KiB inode.
const maxInline = 60 + 64<<10

// inlineValue returns the value of system.data from the in-inode
// attribute area of in (entries and values after the magic), or nil if
// there is none.
func inlineValue(in *inode) ([]byte, error) {
	area := in.ibody
	le := binary.LittleEndian
	for p := 0; ; {
		if p+4 > len(area) || le.Uint32(area[p:]) == 0 {
			return nil, nil
		}
		if p+16 > len(area) {
			return nil, formatErr(-1, "inode %d: in-inode attribute entry at byte %d truncated", in.ino, p)
		}
		nameLen := int(area[p])
		index := area[p+1]
		offs := int(le.Uint16(area[p+2:]))
		inum := le.Uint32(area[p+4:])
		size := int(le.Uint32(area[p+8:]))
		next := p + (16+nameLen+3)&^3
		if next > len(area) {
			return nil, formatErr(-1, "inode %d: in-inode attribute entry at byte %d truncated", in.ino, p)
		}
		if index == xattrIndexSystemData && string(area[p+16:p+16+nameLen]) == "data" {
			if inum != 0 {
				return nil, formatErr(-1, "inode %d: inline data kept in another inode", in.ino)
			}
			if offs > len(area) || size > len(area)-offs {
				return nil, formatErr(-1, "inode %d: inline data of %d bytes at offset %d lies outside the inode", in.ino, size, offs)
			}
			return area[offs : offs+size], nil
		}
		p = next
	}
}

// xattrIndexSystemData is the name index of "system.data".
const xattrIndexSystemData = 7

// inlineData returns the contents of an inode with inline data, exactly
// i_size bytes long.
func (f *FS) inlineData(in *inode) ([]byte, error) {
	v, err := inlineValue(in)
	if err != nil {
		return nil, err
	}
	if in.size > uint64(len(in.block)+len(v)) {
		return nil, formatErr(-1, "inode %d: size %d exceeds the %d bytes of inline data", in.ino, in.size, len(in.block)+len(v))
	}
	out := make([]byte, 0, in.size)
	out = append(out, in.block[:min(in.size, uint64(len(in.block)))]...)
	return append(out, v[:in.size-uint64(len(out))]...), nil
}

// readInline is dataReader.ReadAt for an inode with inline data.
func (d *dataReader) readInline(p []byte, off int64) (int, error) {
	data, err := d.fs.inlineData(d.in)
	if err != nil {
		return 0, err
	}
	data = data[:min(int64(len(data)), d.size)]
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// parseInlineDir appends the entries of an inline directory to l.
func (f *FS) parseInlineDir(in *inode, l *dirList) error {
	parent := binary.LittleEndian.Uint32(in.block[:])
	if parent == 0 || uint64(parent) > uint64(f.sb.inodesCount) {
		return formatErr(-1, "inline directory inode %d: parent inode %d out of range", in.ino, parent)
	}
	if err := f.parseDirBlock(in, 0, 0, in.block[4:], l); err != nil {
		return fmt.Errorf("inline directory: %w", err)
	}
	v, err := inlineValue(in)
	if err != nil {
		return err
	}
	if len(v) > 0 {
		if err := f.parseDirBlock(in, 1, 0, v, l); err != nil {
			return fmt.Errorf("inline directory: %w", err)
		}
	}
	return nil
}
