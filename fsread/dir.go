package fsread

import (
	"encoding/binary"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// Directory entry file types.
const (
	ftUnknown = 0
	ftReg     = 1
	ftDir     = 2
	ftChr     = 3
	ftBlk     = 4
	ftFifo    = 5
	ftSock    = 6
	ftSymlink = 7
)

// dirent is one parsed directory entry.
type dirent struct {
	name  string
	ino   uint64
	ftype uint8
}

// dirList is a directory's entries sorted by name, without "." and "..".
type dirList struct {
	ents []dirent
	cost int // memory estimate: names plus per-entry overhead
}

// lookup returns the inode number of name in the directory.
func (l *dirList) lookup(name string) (uint64, bool) {
	i, ok := slices.BinarySearchFunc(l.ents, name, func(e dirent, n string) int { return strings.Compare(e.name, n) })
	if !ok {
		return 0, false
	}
	return l.ents[i].ino, true
}

// dirChunk is how many bytes of a directory are read at once.
const dirChunk = 1 << 20

// readDirList parses every entry of directory in, using the cache.
func (f *FS) readDirList(in *inode) (*dirList, error) {
	f.mu.Lock()
	l, ok := f.dirs[in.ino]
	f.mu.Unlock()
	if ok {
		return l, nil
	}
	if err := f.checkReadable(in); err != nil {
		return nil, err
	}
	if in.size > maxDirSize {
		return nil, formatErr(-1, "directory inode %d: size %d too large", in.ino, in.size)
	}
	d := f.newDataReader(in)
	l = &dirList{}
	nblocks := (in.size + f.bs - 1) / f.bs
	if in.flags&flagInlineData != 0 {
		if err := f.parseInlineDir(in, l); err != nil {
			return nil, err
		}
		nblocks = 0
	}
	buf := make([]byte, 0)
	for lblk := uint64(0); lblk < nblocks; {
		r, err := d.runAt(lblk)
		if err != nil {
			return nil, err
		}
		n := min(r.lblk+r.n, nblocks) - lblk
		if r.hole {
			lblk += n // holes hold no entries
			continue
		}
		n = min(n, dirChunk/f.bs)
		if n == 0 {
			n = 1
		}
		if uint64(cap(buf)) < n*f.bs {
			buf = make([]byte, n*f.bs)
		}
		b := buf[:n*f.bs]
		phys := (r.pblk + (lblk - r.lblk)) * f.bs
		if err := f.readFull(b, int64(phys), "directory inode %d: block %d", in.ino, lblk); err != nil {
			return nil, err
		}
		for i := uint64(0); i < n; i++ {
			if err := f.verifyDirBlock(in, lblk+i, phys/f.bs+i, b[i*f.bs:(i+1)*f.bs]); err != nil {
				return nil, err
			}
			if err := f.parseDirBlock(in, lblk+i, phys+i*f.bs, b[i*f.bs:(i+1)*f.bs], l); err != nil {
				return nil, err
			}
		}
		lblk += n
	}
	slices.SortStableFunc(l.ents, func(a, b dirent) int { return strings.Compare(a.name, b.name) })

	f.mu.Lock()
	defer f.mu.Unlock()
	if l.cost <= maxCachedDirCost {
		if old, ok := f.dirs[in.ino]; ok {
			return old, nil
		}
		for f.dirCached+l.cost > maxCachedDirCost {
			for k, v := range f.dirs {
				f.dirCached -= v.cost
				delete(f.dirs, k)
				break
			}
		}
		f.dirs[in.ino] = l
		f.dirCached += l.cost
	}
	return l, nil
}

// recLen decodes a directory entry's record length.
func (f *FS) recLen(v uint16) uint64 {
	if f.bs < 65536 {
		return uint64(v)
	}
	if v == 0xFFFF || v == 0 {
		return f.bs
	}
	return uint64(v&0xFFFC) | uint64(v&3)<<16
}

// parseDirBlock appends the live entries of one directory block to l.
// Entries with inode 0 (deleted entries, htree index nodes and checksum
// tails) are skipped.
func (f *FS) parseDirBlock(in *inode, lblk, phys uint64, b []byte, l *dirList) error {
	le := binary.LittleEndian
	filetype := f.sb.incompat&incompatFiletype != 0
	for off := uint64(0); off < uint64(len(b)); {
		if off+8 > uint64(len(b)) {
			return formatErr(int64(phys+off), "directory inode %d, block %d: truncated entry at offset %d", in.ino, lblk, off)
		}
		e := b[off:]
		ino := uint64(le.Uint32(e))
		rl := f.recLen(le.Uint16(e[4:]))
		nameLen := uint64(e[6])
		if !filetype {
			nameLen = uint64(le.Uint16(e[6:]))
		}
		if rl < 8 || rl%4 != 0 || off+rl > uint64(len(b)) {
			return formatErr(int64(phys+off), "directory inode %d, block %d: bad record length %d at offset %d", in.ino, lblk, rl, off)
		}
		if ino != 0 {
			if nameLen == 0 || 8+nameLen > rl {
				return formatErr(int64(phys+off), "directory inode %d, block %d: bad name length %d at offset %d", in.ino, lblk, nameLen, off)
			}
			if ino > uint64(f.sb.inodesCount) {
				return formatErr(int64(phys+off), "directory inode %d, block %d: entry refers to inode %d out of range", in.ino, lblk, ino)
			}
			name := f.entryName(in, e[8:8+nameLen])
			if name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") {
				l.cost += len(name) + direntOverhead
				if l.cost > maxDirCost {
					return formatErr(-1, "directory inode %d: more than %d bytes of entries", in.ino, maxDirCost)
				}
				var ft uint8
				if filetype {
					ft = e[7] & 0x0F
				}
				l.ents = append(l.ents, dirent{name: name, ino: ino, ftype: ft})
			}
		}
		off += rl
	}
	return nil
}

// dirEntry implements fs.DirEntry.
type dirEntry struct {
	fsys *FS
	name string
	ino  uint64
	typ  fs.FileMode
}

func (e *dirEntry) Name() string      { return e.name }
func (e *dirEntry) IsDir() bool       { return e.typ.IsDir() }
func (e *dirEntry) Type() fs.FileMode { return e.typ }
func (e *dirEntry) Info() (fs.FileInfo, error) {
	in, err := e.fsys.inode(e.ino)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: e.name, Err: err}
	}
	return &fileInfo{name: e.name, in: in}, nil
}
func (e *dirEntry) String() string { return fs.FormatDirEntry(e) }

func ftypeMode(ft uint8) (fs.FileMode, bool) {
	switch ft {
	case ftReg:
		return 0, true
	case ftDir:
		return fs.ModeDir, true
	case ftChr:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case ftBlk:
		return fs.ModeDevice, true
	case ftFifo:
		return fs.ModeNamedPipe, true
	case ftSock:
		return fs.ModeSocket, true
	case ftSymlink:
		return fs.ModeSymlink, true
	}
	return 0, false
}

// dirEntries converts a directory list into fs.DirEntry values. Entry
// types come from the directory when it records them, else from the inode.
func (f *FS) dirEntries(l *dirList) []fs.DirEntry {
	out := make([]fs.DirEntry, len(l.ents))
	for i, e := range l.ents {
		typ, ok := ftypeMode(e.ftype)
		if !ok {
			typ = fs.ModeIrregular
			if in, err := f.inode(e.ino); err == nil {
				typ = fileMode(in.mode).Type()
			}
		}
		out[i] = &dirEntry{fsys: f, name: e.name, ino: e.ino, typ: typ}
	}
	return out
}

// dir is an open directory.
type dir struct {
	fsys *FS
	name string
	in   *inode

	mu     sync.Mutex
	ents   []fs.DirEntry
	loaded bool
	pos    int
	closed bool
}

func (d *dir) Stat() (fs.FileInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, &fs.PathError{Op: "stat", Path: d.name, Err: fs.ErrClosed}
	}
	return &fileInfo{name: d.name, in: d.in}, nil
}

func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errIsDir}
}

func (d *dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	d.ents = nil
	return nil
}

// ReadDir returns the next n entries in name order, as fs.ReadDirFile
// describes.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	if !d.loaded {
		l, err := d.fsys.readDirList(d.in)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: err}
		}
		d.ents = d.fsys.dirEntries(l)
		d.loaded = true
	}
	rest := d.ents[d.pos:]
	if n <= 0 {
		d.pos = len(d.ents)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.pos += n
	return slices.Clone(rest[:n]), nil
}
