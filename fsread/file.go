package fsread

import (
	"errors"
	"io"
	"io/fs"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
)

// Read-ahead sizes for sequential Read calls.
const (
	minReadAhead = 1 << 20
	maxReadAhead = 8 << 20
)

// Small ReadAt calls (at most smallReadAt bytes) that continue where the
// previous one ended are served from a buffer of atBufSize bytes.
const (
	smallReadAt = 4 << 10
	atBufSize   = 64 << 10
)

// dataReader reads the contents of one inode. It caches the part of the
// block map used last, so sequential reads do not walk the map again for
// every block. It is safe for concurrent use.
type dataReader struct {
	fs   *FS
	in   *inode
	size int64

	win atomic.Pointer[window] // the window used last
}

func (f *FS) newDataReader(in *inode) *dataReader {
	size := in.st.Size
	switch in.fileType() {
	case sIFREG, sIFDIR, sIFLNK:
	default:
		size = 0 // devices, FIFOs and sockets have no data
	}
	return &dataReader{fs: f, in: in, size: size}
}

// window returns the block map window containing lblk.
func (d *dataReader) window(lblk uint64) (*window, error) {
	w := d.win.Load()
	if w != nil && lblk >= w.lo && lblk < w.hi {
		return w, nil
	}
	w, err := d.fs.mapWindow(d.in, lblk)
	if err != nil {
		return nil, err
	}
	if lblk < w.lo || lblk >= w.hi || len(w.runs) == 0 {
		return nil, formatErr(-1, "inode %d: block map has no entry for logical block %d", d.in.ino, lblk)
	}
	d.win.Store(w)
	return w, nil
}

// runAt returns the run containing logical block lblk.
func (d *dataReader) runAt(lblk uint64) (run, error) {
	w, err := d.window(lblk)
	if err != nil {
		return run{}, err
	}
	return w.find(lblk), nil
}

// span returns how many of the next limit bytes of the file from pos one
// run of the block map holds, and where they lie in the image: phys is
// their byte offset, or -1 for a hole.
func (d *dataReader) span(pos, limit int64) (n, phys int64, err error) {
	bs := int64(d.fs.bs)
	lblk := uint64(pos / bs)
	r, err := d.runAt(lblk)
	if err != nil {
		return 0, 0, err
	}
	runEnd := int64(math.MaxInt64)
	if e := r.lblk + r.n; e < uint64(math.MaxInt64/bs) {
		runEnd = int64(e) * bs
	}
	n = min(limit, runEnd-pos)
	if r.hole {
		return n, -1, nil
	}
	return n, int64(r.pblk+(lblk-r.lblk))*bs + pos%bs, nil
}

// ReadAt reads file data at off. Holes read as zeros. Physically
// contiguous runs are read with one ReadAt on the image, straight into p.
func (d *dataReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= d.size {
		return 0, io.EOF
	}
	if d.in.flags&flagInlineData != 0 {
		return d.readInline(p, off)
	}
	want := len(p)
	if int64(want) > d.size-off {
		p = p[:d.size-off]
	}
	var (
		pendPhys int64 = -1 // physical byte offset of the pending read
		pendDst  int        // where in p it goes
		pendLen  int
	)
	flush := func() error {
		if pendLen == 0 {
			return nil
		}
		err := d.fs.readFull(p[pendDst:pendDst+pendLen], pendPhys, "inode %d: data", d.in.ino)
		pendLen = 0
		return err
	}
	pos := 0
	for pos < len(p) {
		m, phys, err := d.span(off+int64(pos), int64(len(p)-pos))
		if err != nil {
			return pos, err
		}
		n := int(m)
		if phys < 0 {
			if err := flush(); err != nil {
				return pos, err
			}
			clear(p[pos : pos+n])
		} else {
			if pendLen > 0 && pendPhys+int64(pendLen) == phys {
				pendLen += n
			} else {
				if err := flush(); err != nil {
					return pos, err
				}
				pendPhys, pendDst, pendLen = phys, pos, n
			}
		}
		pos += n
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// file is an open regular file, symbolic link target or special file.
// Devices, FIFOs and sockets read as empty files: the image holds no data
// for them. Besides fs.File it is an io.ReaderAt, an io.Seeker and a
// RegionFile, and its CopyTo copies the rest of the file to a writer,
// handing the data down to the device instead of reading it.
type file struct {
	fsys   *FS
	name   string
	in     *inode
	d      *dataReader
	closed atomic.Bool // set under mu

	mu     sync.Mutex // guards the Read position and read-ahead buffer
	pos    int64
	ra     []byte // read-ahead buffer
	raOff  int64  // file offset of ra[0]
	raLen  int    // valid bytes in ra
	raNext int    // size of the next read-ahead

	// The buffer of small sequential ReadAt calls, so that reading a file a
	// few bytes at a time through ReadAt does not cost an image read per
	// call. atMu is only ever taken with TryLock in ReadAt: a ReadAt that
	// finds it held reads from the image, so concurrent ReadAt calls never
	// wait for each other.
	atMu  sync.Mutex
	atBuf []byte
	atOff int64 // file offset of atBuf[0]
	atLen int   // valid bytes in atBuf
	atEnd int64 // where the last small ReadAt ended; -1 if none yet
}

func newFile(fsys *FS, name string, in *inode) *file {
	return &file{fsys: fsys, name: name, in: in, d: fsys.newDataReader(in), atEnd: -1}
}

var (
	_ io.ReaderAt = (*file)(nil)
	_ io.Seeker   = (*file)(nil)
)

func (fl *file) Stat() (fs.FileInfo, error) {
	if fl.closed.Load() {
		return nil, &fs.PathError{Op: "stat", Path: fl.name, Err: fs.ErrClosed}
	}
	return &fileInfo{name: fl.name, in: fl.in}, nil
}

func (fl *file) Close() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed.Load() {
		return &fs.PathError{Op: "close", Path: fl.name, Err: fs.ErrClosed}
	}
	fl.closed.Store(true)
	fl.ra = nil
	fl.atMu.Lock()
	fl.atBuf, fl.atLen = nil, 0
	fl.atMu.Unlock()
	return nil
}

// Read reads sequentially. Small reads are served from a read-ahead
// buffer filled with large reads of the image.
func (fl *file) Read(p []byte) (int, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed.Load() {
		return 0, &fs.PathError{Op: "read", Path: fl.name, Err: fs.ErrClosed}
	}
	if len(p) == 0 {
		return 0, nil
	}
	size := fl.d.size
	if fl.pos >= size {
		return 0, io.EOF
	}
	if fl.pos >= fl.raOff && fl.pos < fl.raOff+int64(fl.raLen) {
		n := copy(p, fl.ra[fl.pos-fl.raOff:fl.raLen])
		fl.pos += int64(n)
		return n, nil
	}
	sequential := fl.raLen > 0 && fl.pos == fl.raOff+int64(fl.raLen)
	if fl.raNext == 0 {
		fl.raNext = minReadAhead
	} else if sequential {
		fl.raNext = min(2*fl.raNext, maxReadAhead)
	}
	if len(p) >= fl.raNext {
		n, err := fl.d.ReadAt(p, fl.pos)
		fl.pos += int64(n)
		if err == io.EOF && n > 0 {
			err = nil
		}
		return n, fl.wrap("read", err)
	}
	want := int(min(int64(fl.raNext), size-fl.pos))
	if cap(fl.ra) < want {
		fl.ra = make([]byte, want)
	}
	fl.raOff, fl.raLen = fl.pos, 0
	n, err := fl.d.ReadAt(fl.ra[:want], fl.pos)
	if n < want && err == nil {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		return 0, fl.wrap("read", err)
	}
	fl.raLen = n
	m := copy(p, fl.ra[:n])
	fl.pos += int64(m)
	return m, nil
}

// ReadAt reads at off without changing the offset used by Read. It is
// safe to call concurrently, also with Read and Seek.
func (fl *file) ReadAt(p []byte, off int64) (int, error) {
	if fl.closed.Load() {
		return 0, &fs.PathError{Op: "read", Path: fl.name, Err: fs.ErrClosed}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: fl.name, Err: fs.ErrInvalid}
	}
	if len(p) <= smallReadAt && fl.atMu.TryLock() {
		n, err, ok := fl.readAtBuffered(p, off)
		fl.atMu.Unlock()
		if ok {
			return n, err
		}
	}
	n, err := fl.d.ReadAt(p, off)
	if err == io.EOF {
		return n, io.EOF
	}
	return n, fl.wrap("read", err)
}

// readAtBuffered serves a small ReadAt from atBuf, first filling atBuf
// from off if the read continues the previous small one. ok is false if
// the caller should read from the image instead (also to report an error).
// The caller holds atMu.
func (fl *file) readAtBuffered(p []byte, off int64) (n int, err error, ok bool) {
	size := fl.d.size
	if off >= size {
		return 0, io.EOF, true
	}
	end := min(off+int64(len(p)), size)
	sequential := off == fl.atEnd
	fl.atEnd = end
	if off < fl.atOff || end > fl.atOff+int64(fl.atLen) {
		if !sequential || fl.closed.Load() {
			return 0, nil, false
		}
		want := int(min(atBufSize, size-off))
		if cap(fl.atBuf) < want {
			fl.atBuf = make([]byte, want)
		}
		m, _ := fl.d.ReadAt(fl.atBuf[:want], off)
		if m < want {
			fl.atLen = 0
			return 0, nil, false
		}
		fl.atOff, fl.atLen = off, m
	}
	n = copy(p, fl.atBuf[off-fl.atOff:end-fl.atOff])
	if n < len(p) {
		err = io.EOF
	}
	return n, err, true
}

func (fl *file) Seek(offset int64, whence int) (int64, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed.Load() {
		return 0, &fs.PathError{Op: "seek", Path: fl.name, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += fl.pos
	case io.SeekEnd:
		offset += fl.d.size
	default:
		return 0, &fs.PathError{Op: "seek", Path: fl.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: fl.name, Err: fs.ErrInvalid}
	}
	fl.pos = offset
	return offset, nil
}

func (fl *file) wrap(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &fs.PathError{Op: op, Path: fl.name, Err: err}
}

// errIsDir is returned when a directory is read as a file.
var errIsDir = syscall.EISDIR
