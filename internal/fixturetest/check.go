package fixturetest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"vmsh/internal/tooltest"

	"vmsh/fsread"
	"vmsh/partition"
)

// testFSMaxFile is the largest regular file given to fstest.TestFS. TestFS
// reads every file whole into memory several times (io.ReadAll, fs.ReadFile
// and iotest.TestReader, which also reads it again byte by byte with
// ReadAt), so a multi-GiB sparse file cannot be checked with it; the
// listing's hash and CheckAccess read such files instead.
const testFSMaxFile = 32 << 20

// Images returns the names of the images in dir (NAME.img or NAME.img.gz),
// sorted.
func Images(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, e := range ents {
		n := e.Name()
		for _, suf := range []string{".img.gz", ".img"} {
			if base, ok := strings.CutSuffix(n, suf); ok && !seen[base] {
				seen[base] = true
				names = append(names, base)
				break
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// CheckImage reads image name in dir with partition.Read and fsread.Open and
// compares every filesystem with its kernel listing. Listings that no
// filesystem matched, and filesystems the kernel listed that vmsh did not
// find, are errors. It also compares the partition table with NAME.parts,
// checks random access (ReadAt, Seek) against sequential reads, and runs
// fstest.TestFS on the whole of every filesystem but the few entries
// TestFS cannot take by design (see RunTestFS).
//
// A whole-disk filesystem with a NAME.xattrs listing also has its extended
// attributes compared (see CheckXattrsFS). An image with LVM2 answers
// (NAME.lvs) has its logical volumes checked by CheckLVM.
//
// In -short mode, files over 1 GiB are read to the end but not hashed.
func CheckImage(t *testing.T, dir, name string) {
	t.Helper()
	f, size, err := OpenImage(dir, name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	expects, err := filepath.Glob(filepath.Join(dir, name+"*.expect"))
	if err != nil {
		t.Fatal(err)
	}
	unused := map[string]bool{}
	for _, e := range expects {
		base := strings.TrimSuffix(filepath.Base(e), ".expect")
		if base == name || strings.HasPrefix(base, name+"-p") && isDigits(base[len(name)+2:]) {
			unused[e] = true
		}
	}

	table, err := partition.Read(f, size)
	switch {
	case errors.Is(err, partition.ErrNoTable):
		exp := filepath.Join(dir, name+".expect")
		if !unused[exp] && fileExists(filepath.Join(dir, name+".lvs")) {
			break // an LVM2 physical volume on the whole disk: see CheckLVM below
		}
		if !unused[exp] {
			t.Fatalf("partition.Read: %v, but there is no %s.expect (kernel listings: %v)", err, name, keys(unused))
		}
		delete(unused, exp)
		t.Run("disk", func(t *testing.T) { CheckFS(t, f, 0, size, exp) })
		if xf := filepath.Join(dir, name+".xattrs"); fileExists(xf) {
			t.Run("xattrs", func(t *testing.T) { CheckXattrsFS(t, f, size, xf) })
		}
	case err != nil:
		t.Fatalf("partition.Read: %v", err)
	default:
		for _, w := range table.Warnings {
			t.Errorf("partition.Read warning: %s", w)
		}
		if _, err := os.Stat(filepath.Join(dir, name+".expect")); err == nil {
			t.Errorf("partition.Read found a %s table, but the kernel saw a filesystem on the whole disk", table.Scheme)
		}
		if pf := filepath.Join(dir, name+".parts"); fileExists(pf) {
			t.Run("parts", func(t *testing.T) { CheckParts(t, table, pf) })
		}
		for _, p := range table.Partitions {
			exp := filepath.Join(dir, fmt.Sprintf("%s-p%d.expect", name, p.Number))
			if !unused[exp] {
				continue
			}
			delete(unused, exp)
			t.Run(fmt.Sprintf("p%d", p.Number), func(t *testing.T) { CheckFS(t, f, p.Start, p.Size, exp) })
		}
	}
	if fileExists(filepath.Join(dir, name+".lvs")) {
		t.Run("lvm", func(t *testing.T) { CheckLVM(t, dir, name, f, size) })
	}
	for _, e := range keys(unused) {
		t.Errorf("no filesystem read for kernel listing %s", filepath.Base(e))
	}
}

// CheckFS opens the filesystem at off (bytes) of length size in r, and
// compares it with the listing in expectFile. Its subtests run in parallel.
func CheckFS(t *testing.T, r io.ReaderAt, off, size int64, expectFile string) {
	t.Helper()
	want, err := ReadExpect(expectFile)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fsread.Open(io.NewSectionReader(r, off, size), size)
	if err != nil {
		t.Fatalf("fsread.Open: %v", err)
	}
	for _, w := range fsys.Warnings() {
		t.Logf("fsread warning: %s", w)
	}
	t.Run("listing", func(t *testing.T) {
		t.Parallel()
		// The other subtests read want at the same time: leave it be.
		hashMax, kernel := int64(-1), want
		if testing.Short() {
			hashMax = 1 << 30
			kernel = unhash(want, hashMax)
		}
		got, err := ListingOpt(fsys, hashMax)
		if err != nil {
			t.Errorf("listing %s: %v", filepath.Base(expectFile), err)
		}
		if d := Diff(kernel, got, 30); d != "" {
			t.Errorf("vmsh's listing differs from the kernel's %s (%d kernel entries, %d vmsh entries):\n%s",
				filepath.Base(expectFile), len(kernel), len(got), d)
		}
	})
	t.Run("access", func(t *testing.T) {
		t.Parallel()
		CheckAccess(t, fsys, want)
	})
	t.Run("TestFS", func(t *testing.T) {
		t.Parallel()
		RunTestFS(t, fsys, want)
	})
}

// unhash replaces the sha256 of files larger than max with "-".
func unhash(lines []string, max int64) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) == len(Fields) && f[1] == "f" {
			if n, err := strconv.ParseInt(f[5], 10, 64); err == nil && n > max {
				f[10] = "-"
				l = strings.Join(f, "\t")
			}
		}
		out[i] = l
	}
	return out
}

// accessMax is the largest file CheckAccess reads into memory.
const accessMax = 64 << 20

// CheckAccess reads every regular file of at most accessMax bytes (per the
// kernel listing) sequentially, and checks that ReadAt and Seek+Read at
// assorted offsets, including across holes and at and past the end, return
// the same bytes.
//
// It also reads every directory with more than 100 entries in chunks through
// fs.ReadDirFile.ReadDir(n) and checks the names against fs.ReadDir.
func CheckAccess(t *testing.T, fsys fs.FS, want []string) {
	for p, e := range Index(want) {
		var err error
		switch {
		case e.Type == "f" && e.Size <= accessMax:
			err = checkAccess(fsys, p, e.Size)
		case e.Type == "d" && (e.Entries > 100 || p == "."):
			err = checkDirChunks(fsys, p)
		}
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func checkDirChunks(fsys fs.FS, p string) error {
	all, err := fs.ReadDir(fsys, p)
	if err != nil {
		return err
	}
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		return fmt.Errorf("%T is not an fs.ReadDirFile", f)
	}
	var names []string
	for i := 0; ; i++ {
		n := 1 + i%13
		ents, err := d.ReadDir(n)
		if len(ents) > n {
			return fmt.Errorf("ReadDir(%d) returned %d entries", n, len(ents))
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if err == io.EOF {
			if len(ents) != 0 {
				return fmt.Errorf("ReadDir(%d) returned %d entries with io.EOF", n, len(ents))
			}
			break
		}
		if err != nil {
			return fmt.Errorf("ReadDir(%d) after %d entries: %w", n, len(names), err)
		}
		if len(ents) == 0 {
			return fmt.Errorf("ReadDir(%d) returned no entries and no error", n)
		}
	}
	sort.Strings(names)
	if len(names) != len(all) {
		return fmt.Errorf("ReadDir in chunks: %d entries, fs.ReadDir: %d", len(names), len(all))
	}
	for i, e := range all {
		if names[i] != e.Name() {
			return fmt.Errorf("ReadDir in chunks: entry %d is %q, fs.ReadDir has %q", i, names[i], e.Name())
		}
	}
	return nil
}

func checkAccess(fsys fs.FS, p string, size int64) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(onlyReader{f})
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("read %d bytes, kernel says size %d", len(data), size)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return fmt.Errorf("%T is not an io.ReaderAt", f)
	}
	sk, ok := f.(io.Seeker)
	if !ok {
		return fmt.Errorf("%T is not an io.Seeker", f)
	}
	if size == 0 {
		var b [1]byte
		if n, err := ra.ReadAt(b[:], 0); n != 0 || err != io.EOF {
			return fmt.Errorf("ReadAt(1 byte, off 0) of an empty file = %d, %v; want 0, io.EOF", n, err)
		}
		return nil
	}
	// Offsets: block boundaries, the end, and a deterministic spread.
	offs := []int64{0, 1, 1023, 1024, 4095, 4096, 4097, size / 2, size - 1, size, size + 1, size + 5000}
	x := uint64(size)*2654435761 + 1
	for i := 0; i < 24; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if size > 0 {
			offs = append(offs, int64(x%uint64(size)))
		}
	}
	lens := []int{1, 7, 512, 4096, 4099, 65536 + 3}
	bufs := make([]byte, 65536+3)
	for i, off := range offs {
		if off < 0 {
			continue
		}
		n := lens[i%len(lens)]
		want := []byte{}
		if off < size {
			want = data[off:min(size, off+int64(n))]
		}
		buf := bufs[:n]
		got, err := ra.ReadAt(buf, off)
		if got != len(want) || !bytesEqual(buf[:got], want) {
			return fmt.Errorf("ReadAt(%d bytes, off %d) = %d bytes, %v; want %d bytes (content differs: %v)",
				n, off, got, err, len(want), !bytesEqual(buf[:min(got, len(want))], want[:min(got, len(want))]))
		}
		if got < n && err != io.EOF {
			return fmt.Errorf("ReadAt(%d bytes, off %d) = %d, %v; want io.EOF", n, off, got, err)
		}
		if got == n && err != nil && err != io.EOF {
			return fmt.Errorf("ReadAt(%d bytes, off %d) = %d, %v", n, off, got, err)
		}
		pos, err := sk.Seek(off, io.SeekStart)
		if pos != off || err != nil {
			return fmt.Errorf("Seek(%d, SeekStart) = %d, %v", off, pos, err)
		}
		got2, err := io.ReadFull(onlyReader{f}, buf)
		if got2 != len(want) || !bytesEqual(buf[:got2], want) {
			return fmt.Errorf("Seek(%d)+Read(%d bytes) = %d bytes, %v; want %d bytes", off, n, got2, err, len(want))
		}
	}
	if pos, err := sk.Seek(-1, io.SeekEnd); size > 0 && (pos != size-1 || err != nil) {
		return fmt.Errorf("Seek(-1, SeekEnd) = %d, %v; want %d", pos, err, size-1)
	}
	return nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// RunTestFS runs fstest.TestFS on the whole tree of fsys, which must be a
// FullFS, through a view of it that hides only the entries of the kernel
// listing want that TestFS cannot take by design (see testFSHidden). The
// view passes every other call on unchanged, so TestFS checks fsys itself:
// its directories of any size, device nodes, FIFOs, sockets and symbolic
// links included.
func RunTestFS(t *testing.T, fsys fs.FS, want []string) {
	full, ok := fsys.(FullFS)
	if !ok {
		t.Fatalf("%T does not implement fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS", fsys)
	}
	idx := Index(want)
	hidden := testFSHidden(idx)
	set := make(map[string]bool, len(hidden))
	var desc []string
	for _, p := range keys(hidden) {
		set[p] = true
		desc = append(desc, fmt.Sprintf("%s (%s)", p, hidden[p]))
	}
	expected := testFSExpected(idx, hidden)
	t.Logf("fstest.TestFS on all %d entries but %d hidden: %s", len(idx), len(hidden), strings.Join(desc, ", "))
	if err := fstest.TestFS(newHideFS(full, set), expected...); err != nil {
		t.Errorf("fstest.TestFS(%q):\n%s", expected, firstLines(err.Error(), 60))
	}
}

// testFSHidden returns the entries of a listing that fstest.TestFS cannot
// take by design, whatever the file system, with the reason for each:
//
//   - symbolic links that do not resolve (dangling, looping, through a
//     non-directory, or to a hidden entry): TestFS opens every entry, and
//     Open follows symbolic links, so such a link fails TestFS with any
//     correct implementation;
//   - regular files over testFSMaxFile bytes, too large to read whole into
//     memory several times;
//   - names with a backslash, which TestFS reports as an error (it takes
//     them for Windows path separators); no fixture has one so far.
//
// The entries below a hidden directory are not listed.
func testFSHidden(idx map[string]*Entry) map[string]string {
	hidden := map[string]string{}
	for p, e := range idx {
		switch {
		case strings.Contains(path.Base(p), `\`):
			hidden[p] = "name with a backslash"
		case e.Type == "f" && e.Size > testFSMaxFile:
			hidden[p] = fmt.Sprintf("file of %d bytes", e.Size)
		}
	}
	below := func(p string) bool { // p or a directory above it is hidden
		for ; p != "."; p = path.Dir(p) {
			if hidden[p] != "" {
				return true
			}
		}
		return false
	}
	for p := range hidden {
		if below(path.Dir(p)) {
			delete(hidden, p)
		}
	}
	for p, e := range idx {
		if e.Type != "l" || below(p) {
			continue
		}
		if r := Resolve(idx, p); r == nil {
			hidden[p] = "symlink that does not resolve"
		} else if below(r.Path) {
			hidden[p] = "symlink to hidden " + r.Path
		}
	}
	return hidden
}

// testFSExpected picks names TestFS must find: up to three top-level
// entries, and one entry in the top-level directory with the fewest
// entries below it. (TestFS runs itself again on fs.Sub of the directory
// of the first expected name with a slash: that directory is chosen small
// so as not to check a big tree twice.)
func testFSExpected(idx map[string]*Entry, hidden map[string]string) []string {
	var top []string
	for p := range idx {
		if p != "." && !strings.Contains(p, "/") && hidden[p] == "" {
			top = append(top, p)
		}
	}
	sort.Strings(top)
	var nested string
	best := -1
	for _, d := range top {
		if e := idx[d]; e.Type != "d" || best >= 0 && e.Entries >= best {
			continue
		}
		var kids []string
		for p := range idx {
			if path.Dir(p) == d && hidden[p] == "" {
				kids = append(kids, p)
			}
		}
		if len(kids) > 0 {
			sort.Strings(kids)
			nested, best = kids[0], idx[d].Entries
		}
	}
	out := append([]string(nil), top[:min(3, len(top))]...)
	if nested != "" {
		out = append(out, nested)
	}
	return out
}

// firstLines returns the first n lines of s, and how many more there are.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("\n... and %d more lines", len(lines)-n)
}

// CheckParts compares a partition table with sfdisk's view of it in
// partsFile (`sfdisk --json` output).
func CheckParts(t *testing.T, table *partition.Table, partsFile string) {
	t.Helper()
	data, err := os.ReadFile(partsFile)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := tooltest.ParseSfdisk(data)
	if err != nil {
		t.Fatalf("%s: %v", partsFile, err)
	}
	pt := sf.PartitionTable
	scheme := map[string]string{"gpt": "gpt", "dos": "mbr"}[pt.Label]
	if table.Scheme != scheme {
		t.Errorf("Scheme = %q, sfdisk says %q", table.Scheme, pt.Label)
	}
	if pt.SectorSize != 0 && table.SectorSize != pt.SectorSize {
		t.Errorf("SectorSize = %d, sfdisk says %d", table.SectorSize, pt.SectorSize)
	}
	wantID := strings.ToLower(pt.ID)
	if scheme == "mbr" {
		wantID = fmt.Sprintf("%08s", strings.TrimPrefix(wantID, "0x"))
	}
	if table.DiskID != wantID {
		t.Errorf("DiskID = %q, sfdisk says %q", table.DiskID, pt.ID)
	}
	ss := int64(pt.SectorSize)
	if ss == 0 {
		ss = 512
	}
	got := map[int]partition.Partition{}
	for _, p := range table.Partitions {
		got[p.Number] = p
	}
	seen := map[int]bool{}
	for _, w := range pt.Partitions {
		num, err := strconv.Atoi(strings.TrimPrefix(w.Node, pt.Device))
		if err != nil {
			t.Fatalf("%s: cannot number partition node %q", partsFile, w.Node)
		}
		if scheme == "mbr" {
			if v, _ := strconv.ParseUint(w.Type, 16, 8); v == 0x05 || v == 0x0f || v == 0x85 {
				if _, ok := got[num]; ok {
					t.Errorf("partition %d: extended partition (type %s) listed", num, w.Type)
				}
				continue
			}
		}
		seen[num] = true
		p, ok := got[num]
		if !ok {
			t.Errorf("partition %d (start %d, size %d sectors) not found", num, w.Start, w.Size)
			continue
		}
		check := func(field string, g, w any) {
			if g != w {
				t.Errorf("partition %d: %s = %v, sfdisk says %v", num, field, g, w)
			}
		}
		check("Start", p.Start, w.Start*ss)
		check("Size", p.Size, w.Size*ss)
		if scheme == "gpt" {
			check("Type", p.Type, strings.ToLower(w.Type))
			check("UUID", p.UUID, strings.ToLower(w.UUID))
			check("Name", p.Name, w.Name)
			check("Bootable", p.Bootable, strings.Contains(w.Attrs, "LegacyBIOSBootable"))
		} else {
			v, err := strconv.ParseUint(w.Type, 16, 8)
			if err != nil {
				t.Fatalf("%s: type %q", partsFile, w.Type)
			}
			check("Type", p.Type, fmt.Sprintf("0x%02x", v))
			check("UUID", p.UUID, fmt.Sprintf("%s-%02x", wantID, num))
			check("Bootable", p.Bootable, w.Bootable)
		}
	}
	for num := range got {
		if !seen[num] {
			t.Errorf("partition %d found, sfdisk does not list it", num)
		}
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
