package shell

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"

	"vmsh/fsread"
	"vmsh/internal/tooltest"
)

// runTarLine runs one command line in s, whose UI is ui, and returns the
// archive it wrote and its standard error.
func runTarLine(t *testing.T, s *Shell, ui *fakeUI, line string) ([]byte, string) {
	t.Helper()
	ui.out.Reset()
	ui.err.Reset()
	s.RunLine(line)
	return bytes.Clone(ui.out.Bytes()), ui.err.String()
}

// memberPath is the io/fs name of the guest file a member of "tar /" or
// "tar -C / ." stands for.
func memberPath(name string) string {
	name = strings.TrimPrefix(strings.TrimSuffix(name, "/"), "./")
	if name == "" || name == "." {
		return "."
	}
	return name
}

// checkArchive reads the archive of the whole tree of s with archive/tar
// and compares every member with what the shell's filesystems say of the
// file: each file once (sockets left out), type, mode, owner and the
// guest's names for it, the three times with nanoseconds, size and
// contents, symlink targets, device numbers, hard links (to an earlier
// member that is the same inode), extended attributes and ACL records,
// and holes (a file with holes is a sparse member, others are not).
func checkArchive(t *testing.T, s *Shell, ar []byte) {
	t.Helper()
	fsys := s.FS()
	want := map[string]fs.FileInfo{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := fs.Lstat(fsys, p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket == 0 {
			want[p] = fi
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := s.idNames()
	tr := tar.NewReader(bytes.NewReader(ar))
	seen := map[string]bool{}
	first := map[fileID]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("archive/tar: %v", err)
		}
		p := memberPath(h.Name)
		fi, ok := want[p]
		if !ok || seen[p] {
			t.Errorf("%s: member not in the guest, or twice", h.Name)
			continue
		}
		seen[p] = true
		in := inodeOf(fi)
		bad := func(format string, a ...any) { t.Errorf("%s: %s", h.Name, fmt.Sprintf(format, a...)) }
		if h.Mode != int64(in.mode&0o7777) || h.Uid != int(in.uid) || h.Gid != int(in.gid) ||
			h.Uname != ids.users[in.uid] || h.Gname != ids.groups[in.gid] {
			bad("mode %o owner %d/%d (%q/%q), want %o %d/%d", h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, in.mode&0o7777, in.uid, in.gid)
		}
		if !h.ModTime.Equal(in.mtime) || in.known && (!h.AccessTime.Equal(in.atime) || !h.ChangeTime.Equal(in.ctime)) {
			bad("times %v %v %v, want %v %v %v", h.ModTime, h.AccessTime, h.ChangeTime, in.mtime, in.atime, in.ctime)
		}
		id, idOK := s.fileID("/"+p, in)
		if h.Typeflag == tar.TypeLink {
			if fid, ok := s.fileID("/"+memberPath(h.Linkname), in); !ok || !idOK || fid != id || first[id] != h.Linkname || in.nlink < 2 {
				bad("hard link to %s, which is not the first name of the same file", h.Linkname)
			}
			continue
		}
		if idOK && in.nlink > 1 && in.mode&sIFMT != sIFDIR {
			first[id] = h.Name
		}
		checkXattrRecords(t, s, p, h)
		switch in.mode & sIFMT {
		case sIFREG:
			if h.Typeflag != tar.TypeReg || h.Size != in.size {
				bad("type %c size %d, want a regular file of %d", h.Typeflag, h.Size, in.size)
				continue
			}
			_, sparse := h.PAXRecords["GNU.sparse.major"]
			// As GNU tar --sparse: a file is sparse when it has fewer
			// blocks than its size needs, and then has holes.
			holes := in.blocks*512 < in.size && hasHoles(t, fsys, p, in.size)
			if sparse != holes {
				bad("sparse member %v, file has holes %v", sparse, holes)
			}
			if testing.Short() && in.size > 256<<20 {
				t.Logf("%s: contents of %d bytes not compared in -short mode", p, in.size)
				continue
			}
			if err := sameContents(fsys, p, tr); err != nil {
				bad("%v", err)
			}
		case sIFDIR:
			if h.Typeflag != tar.TypeDir || !strings.HasSuffix(h.Name, "/") {
				bad("type %c, want a directory named with a '/'", h.Typeflag)
			}
		case sIFLNK:
			target, err := fs.ReadLink(fsys, p)
			if h.Typeflag != tar.TypeSymlink || err != nil || h.Linkname != target {
				bad("type %c to %q, want a symlink to %q (%v)", h.Typeflag, h.Linkname, target, err)
			}
		case sIFCHR, sIFBLK:
			typ := byte(tar.TypeChar)
			if in.mode&sIFMT == sIFBLK {
				typ = tar.TypeBlock
			}
			if h.Typeflag != typ || h.Devmajor != int64(in.major) || h.Devminor != int64(in.minor) {
				bad("type %c device %d,%d, want %c %d,%d", h.Typeflag, h.Devmajor, h.Devminor, typ, in.major, in.minor)
			}
		case sIFIFO:
			if h.Typeflag != tar.TypeFifo {
				bad("type %c, want a fifo", h.Typeflag)
			}
		}
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("%s: not in the archive", p)
		}
	}
}

// checkXattrRecords compares a member's SCHILY.xattr records with the
// file's extended attributes, and looks for the ACL text records.
func checkXattrRecords(t *testing.T, s *Shell, p string, h *tar.Header) {
	t.Helper()
	xs, err := s.xattrsOf(p, false)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	want := map[string]string{}
	for _, x := range xs {
		want["SCHILY.xattr."+x.Name] = string(x.Value)
		switch x.Name {
		case "system.posix_acl_access":
			want["SCHILY.acl.access"] = h.PAXRecords["SCHILY.acl.access"]
		case "system.posix_acl_default":
			want["SCHILY.acl.default"] = h.PAXRecords["SCHILY.acl.default"]
		}
	}
	got := map[string]string{}
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.") {
			got[k] = v
		}
	}
	for k, v := range got {
		if strings.HasPrefix(k, "SCHILY.acl.") && !strings.HasPrefix(v, "user::") {
			t.Errorf("%s: %s = %q, not an ACL's text", p, k, v)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: records %q\nwant %q", p, got, want)
	}
}

// hasHoles reports whether the filesystem says the file has a hole.
func hasHoles(t *testing.T, fsys fs.FS, p string, size int64) bool {
	f, err := fsys.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rf, ok := f.(regionFile)
	if !ok {
		return false
	}
	for off := int64(0); off < size; {
		end, data, err := rf.Region(off)
		if err != nil {
			t.Fatalf("%s: region at %d: %v", p, off, err)
		}
		if !data {
			return true
		}
		off = end
	}
	return false
}

// sameContents compares the guest file p with r, a chunk at a time.
func sameContents(fsys fs.FS, p string, r io.Reader) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; {
		n, errA := io.ReadFull(f, a)
		m, errB := io.ReadFull(r, b)
		if n != m || !bytes.Equal(a[:n], b[:m]) {
			return fmt.Errorf("contents differ in the MiB at %d (%d and %d bytes read: %v, %v)", off, n, m, errA, errB)
		}
		if errA != nil || errB != nil {
			if (errA == io.EOF || errA == io.ErrUnexpectedEOF) && (errB == io.EOF || errB == io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("reading at %d: %v, %v", off, errA, errB)
		}
		off += int64(n)
	}
}

// tarFixtures are the images whose whole tree is archived and checked.
var tarFixtures = []string{"ext4", "xattr-256", "xattr-128", "feat-inline", "feat-bigalloc", "feat-64k", "feat-casefold", "feat-128", "ext2-1k"}

// TestTarMatchesFS archives whole fixture images and reads the archives
// back with archive/tar, member by member against the filesystem reader.
func TestTarMatchesFS(t *testing.T) {
	for _, name := range tarFixtures {
		t.Run(name, func(t *testing.T) {
			fsys := openXattrFS(t, xattrImage(t, name))
			ui := &fakeUI{}
			s := New(ui)
			s.Mount("/", fsys)
			ar, errs := runTarLine(t, s, ui, "tar /")
			if s.Failed() || !strings.HasPrefix(errs, "vmsh: tar: removing leading '/' from member names\n") {
				t.Fatalf("tar / failed: %s", errs)
			}
			checkArchive(t, s, ar)
		})
	}
}

// TestTarGuest archives the guest disk's assembled tree (/, /boot, /var
// and /home on a partition and LVs), where owners have names.
func TestTarGuest(t *testing.T) {
	img, err := os.Open(xattrImage(t, "guest"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fi, err := img.Stat()
	if err != nil {
		t.Fatal(err)
	}
	ui := &fakeUI{}
	s := New(ui)
	s.AddDisk("guest.img", img, fi.Size())
	if !s.MountGuest() {
		t.Fatalf("guest not mounted: %s", ui.err.String())
	}
	ar, errs := runTarLine(t, s, ui, "tar /")
	if s.Failed() {
		t.Fatalf("tar / failed: %s", errs)
	}
	checkArchive(t, s, ar)
	tr := tar.NewReader(bytes.NewReader(ar))
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
		if h.Name == "etc/passwd" && (h.Uname != "root" || h.Gname != "root") {
			t.Errorf("etc/passwd owned by %q/%q, want root/root", h.Uname, h.Gname)
		}
	}
	for _, n := range []string{"etc/fstab", "boot/", "var/log/", "home/"} {
		if !names[n] {
			t.Errorf("no member %s: the mounted filesystems are not all in the archive", n)
		}
	}
}

// tarMembers lists the names, link names and owner names of an archive.
func tarMembers(t *testing.T, ar []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(ar))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("archive/tar: %v", err)
		}
		l := h.Name
		if h.Linkname != "" {
			l += " -> " + h.Linkname
		}
		if h.Uname != "" || h.Gname != "" {
			l += " " + h.Uname + "/" + h.Gname
		}
		out = append(out, l)
	}
}

func TestTarCommand(t *testing.T) {
	tests := []struct {
		line, members, stderr string
	}{
		{"tar /etc/a.conf /bin", "etc/a.conf alice/staff|bin -> usr/bin root/root",
			"vmsh: tar: removing leading '/' from member names\n"},
		{"cd /etc; tar a.conf ../home/alice/a.txt", "a.conf alice/staff|home/alice/a.txt root/root",
			"vmsh: tar: removing leading '../' from member names\n"},
		{"tar -C /etc a.conf b.conf", "a.conf alice/staff|b.conf", ""},
		{"tar -C /etc *.conf", "a.conf alice/staff|b.conf", ""},
		{"tar -C /home/alice .", "./ root/root|./a.txt root/root|./abs -> /etc/passwd root/root|./ro/ root/root|./ro/f root/root|./up -> ../../../../etc root/root", ""},
		{"tar -C /home alice/ro", "alice/ro/ root/root|alice/ro/f root/root", ""},
		{"tar /dev", "dev/ root/root|dev/fifo root/root|dev/null root/root",
			"vmsh: tar: removing leading '/' from member names\n"},
		{"tar /etc/../tmp", "tmp/ root/root", "vmsh: tar: removing leading '/etc/../' from member names\n"},
		{"tar /nope /etc/a.conf", "etc/a.conf alice/staff",
			"vmsh: tar /nope: no such file or directory\nvmsh: tar: removing leading '/' from member names\n"},
		{"tar", "", "vmsh: tar: missing source operand (usage: tar [-v] [-C dir] src...)\n"},
		{"tar -C /etc/a.conf x", "", "vmsh: tar /etc/a.conf: not a directory\n"},
		{"tar -v -C /usr bin", "bin/ root/root|bin/ls root/root|bin/sudo root/root", "bin/\nbin/ls\nbin/sudo\n"},
	}
	for _, tc := range tests {
		ui := &fakeUI{}
		s := New(ui)
		s.Mount("/", guest())
		ar, errs := runTarLine(t, s, ui, tc.line)
		// The summary line is there when an archive was written.
		summary := ""
		if i := strings.LastIndex(errs, "tar: "); i >= 0 && !strings.HasPrefix(errs[i:], "tar: removing") && (i == 0 || errs[i-1] == '\n') {
			errs, summary = errs[:i], errs[i:]
		}
		var members []string
		if len(ar) > 0 {
			members = tarMembers(t, ar)
		}
		if got := strings.Join(members, "|"); got != tc.members || errs != tc.stderr {
			t.Errorf("%s:\nmembers %q\nwant    %q\nstderr %q\nwant   %q", tc.line, got, tc.members, errs, tc.stderr)
		}
		if tc.members != "" && !strings.HasPrefix(summary, fmt.Sprintf("tar: %d %s, ", len(members), pluralWord(int64(len(members)), "file"))) {
			t.Errorf("%s: summary %q", tc.line, summary)
		}
	}
}

// A terminal never gets an archive.
func TestTarRefusesTerminal(t *testing.T) {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	defer pts.Close()
	ui := &fakeUI{}
	s := New(ui)
	s.Mount("/", guest())
	x := &Call{Shell: s, Ctx: context.Background(), Name: "tar", words: []word{{text: "/etc"}}, Out: pts}
	err = x.run(s.cmds["tar"])
	if err == nil || !strings.Contains(err.Error(), "refusing to write an archive to a terminal") {
		t.Errorf("tar to a terminal: %v", err)
	}
}

// cancelWriter cancels a command once n bytes have been written to it.
type cancelWriter struct {
	bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	if w.Len()+len(p) >= w.n {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// Ctrl-C stops tar; the archive written so far has no end blocks, so tar
// readers say it is cut short.
func TestTarInterrupted(t *testing.T) {
	big := fstest.MapFS{}
	for i := range 40 {
		big[fmt.Sprintf("d/f%02d", i)] = &fstest.MapFile{Data: bytes.Repeat([]byte{byte(i + 1)}, 300<<10)}
	}
	ui := &fakeUI{}
	s := New(ui)
	s.Mount("/", big)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelWriter{n: 3 << 20, cancel: cancel}
	x := &Call{Shell: s, Ctx: ctx, Name: "tar", words: []word{{text: "d"}}, Out: w}
	err := x.run(s.cmds["tar"])
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("tar interrupted: %v", err)
	}
	ar := w.Bytes()
	if len(ar) >= 40*300<<10 || len(ar) == 0 {
		t.Fatalf("%d bytes written", len(ar))
	}
	if len(ar) >= 1024 && bytes.Equal(ar[len(ar)-1024:], make([]byte, 1024)) {
		t.Error("an interrupted archive ends with the end-of-archive blocks")
	}
	if strings.Contains(ui.err.String(), "files,") {
		t.Errorf("summary printed after Ctrl-C: %q", ui.err.String())
	}
}

// cycleFS is a hostile tree: every directory holds itself under the name
// "again" (the same inode), and a file f whose data regions never end.
type cycleFS struct{}

type fakeInfo struct {
	name string
	st   *fsread.Stat
}

func (i fakeInfo) Name() string { return i.name }
func (i fakeInfo) Size() int64  { return i.st.Size }
func (i fakeInfo) Mode() fs.FileMode {
	if i.IsDir() {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i fakeInfo) ModTime() time.Time { return i.st.Mtime }
func (i fakeInfo) IsDir() bool        { return i.st.Mode&sIFMT == sIFDIR }
func (i fakeInfo) Sys() any           { return i.st }

func (cycleFS) info(name string) fs.FileInfo {
	if path.Base(name) == "f" {
		s := st(5, sIFREG|0o644, 0, 0, 1, 8192)
		s.Blocks = 0 // all holes: Region is asked
		return fakeInfo{"f", s}
	}
	return fakeInfo{path.Base(name), st(2, sIFDIR|0o755, 0, 0, 3, 4096)}
}

func (m cycleFS) Open(name string) (fs.File, error) {
	if path.Base(name) == "f" {
		return &stuckFile{info: m.info(name)}, nil
	}
	return nil, fs.ErrNotExist
}

func (m cycleFS) Lstat(name string) (fs.FileInfo, error) { return m.info(name), nil }
func (m cycleFS) Stat(name string) (fs.FileInfo, error)  { return m.info(name), nil }

func (m cycleFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return []fs.DirEntry{fs.FileInfoToDirEntry(fakeInfo{"again", m.info("d").Sys().(*fsread.Stat)}), fs.FileInfoToDirEntry(m.info("f"))}, nil
}

// stuckFile is a file whose Region calls make no progress.
type stuckFile struct{ info fs.FileInfo }

func (f *stuckFile) Stat() (fs.FileInfo, error)              { return f.info, nil }
func (f *stuckFile) Read([]byte) (int, error)                { return 0, io.EOF }
func (f *stuckFile) ReadAt(p []byte, off int64) (int, error) { clear(p); return len(p), nil }
func (f *stuckFile) Close() error                            { return nil }
func (f *stuckFile) Region(off int64) (int64, bool, error)   { return off, false, nil }

// Hostile trees end with errors, not a panic or a loop: a directory that
// holds itself, a file whose holes never end, and fixture images with
// damaged metadata.
func TestTarHostile(t *testing.T) {
	ui := &fakeUI{}
	s := New(ui)
	s.Mount("/", cycleFS{})
	ar, errs := runTarLine(t, s, ui, "tar -C / .")
	if !s.Failed() || !strings.Contains(errs, "directory cycle") || !strings.Contains(errs, "data region at 0 ends at 0") {
		t.Errorf("stderr %q", errs)
	}
	if got := strings.Join(tarMembers(t, ar), "|"); got != "./" {
		t.Errorf("members %q", got)
	}

	img, err := os.ReadFile(xattrImage(t, "ext4"))
	if err != nil {
		t.Fatal(err)
	}
	// Damage the group descriptors, inode tables and directory blocks
	// of the first block group with a fixed pattern of bytes.
	for seed := range 8 {
		bad := bytes.Clone(img)
		for i := range 64 {
			off := 4096 + (seed*7919+i*104729)%(1<<20)
			bad[off] ^= byte(0x5a + seed + i)
		}
		fsys, err := fsread.Open(bytes.NewReader(bad), int64(len(bad)))
		if err != nil {
			continue
		}
		ui := &fakeUI{}
		s := New(ui)
		s.Mount("/", fsys)
		_, errs := runTarLine(t, s, ui, "tar /")
		if strings.Contains(errs, "internal error") {
			t.Errorf("seed %d: %s", seed, errs)
		}
	}
}

// hostFile is what the comparison of two host trees looks at in a file.
type hostFile struct {
	st     syscall.Stat_t
	target string            // of a symlink
	sum    [32]byte          // of a regular file's contents
	xattrs map[string]string // every extended attribute, of the file itself
}

// scanHost lists the tree under dir: every file's lstat first (before
// anything is read, which could change an access time), then symlink
// targets, contents and extended attributes. Sockets are left out.
func scanHost(t *testing.T, dir string) map[string]*hostFile {
	t.Helper()
	out := map[string]*hostFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var h hostFile
		if err := syscall.Lstat(p, &h.st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if h.st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			out[rel] = &h
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, h := range out {
		p := filepath.Join(dir, rel)
		switch h.st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			h.target, err = os.Readlink(p)
		case syscall.S_IFREG:
			h.sum, err = dataSum(p)
		}
		if err != nil {
			t.Fatal(err)
		}
		h.xattrs = hostXattrMap(t, p)
	}
	return out
}

// dataSum returns the SHA-256 of a host file's data regions, as SEEK_DATA
// and SEEK_HOLE find them, each preceded by its offset: two files have the
// same sum when they hold the same bytes in the same places, holes aside
// (their block counts are compared apart). A 4 GiB file of holes is
// summed without reading 4 GiB.
func dataSum(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	fd := int(f.Fd())
	for off := int64(0); ; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			return sum, err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return sum, err
		}
		fmt.Fprintf(h, "@%d\n", start)
		if _, err := io.Copy(h, io.NewSectionReader(f, start, end-start)); err != nil {
			return sum, err
		}
		off = end
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// linkGroup returns the names in files that are the same inode as name.
func linkGroup(files map[string]*hostFile, name string) []string {
	var g []string
	for n, f := range files {
		if f.st.Ino == files[name].st.Ino {
			g = append(g, n)
		}
	}
	slices.Sort(g)
	return g
}

// compareHost compares the tree extracted from vmsh's archive with want,
// the copy cp -a made from the kernel's mount.
func compareHost(t *testing.T, want, got map[string]*hostFile) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not extracted", name)
			continue
		}
		ws, gs := w.st, g.st
		if ws.Mode != gs.Mode || ws.Uid != gs.Uid || ws.Gid != gs.Gid || ws.Rdev != gs.Rdev || ws.Nlink != gs.Nlink {
			t.Errorf("%s: mode %o owner %d/%d rdev %#x links %d, want %o %d/%d %#x %d",
				name, gs.Mode, gs.Uid, gs.Gid, gs.Rdev, gs.Nlink, ws.Mode, ws.Uid, ws.Gid, ws.Rdev, ws.Nlink)
		}
		if ws.Mode&syscall.S_IFMT != syscall.S_IFDIR && (ws.Size != gs.Size || ws.Blocks != gs.Blocks) {
			t.Errorf("%s: size %d in %d blocks, want %d in %d", name, gs.Size, gs.Blocks, ws.Size, ws.Blocks)
		}
		// GNU tar gives extracted files the time of extraction as their
		// access time (it restores access times only with
		// --incremental); the archive's atime records are compared
		// with the guest's by TestTarMatchesFS.
		if ws.Mtim != gs.Mtim {
			t.Errorf("%s: mtime %v, want %v", name, gs.Mtim, ws.Mtim)
		}
		if w.target != g.target || w.sum != g.sum {
			t.Errorf("%s: symlink target %q or contents differ (want %q)", name, g.target, w.target)
		}
		if fmt.Sprint(w.xattrs) != fmt.Sprint(g.xattrs) {
			t.Errorf("%s: xattrs %q\nwant %q", name, g.xattrs, w.xattrs)
		}
		if ws.Nlink > 1 && ws.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			if wg, gg := linkGroup(want, name), linkGroup(got, name); !slices.Equal(wg, gg) {
				t.Errorf("%s: hard links %q, want %q", name, gg, wg)
			}
		}
	}
	for name := range got {
		if want[name] == nil {
			t.Errorf("%s: extracted, but not in the guest", name)
		}
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TestTarLikeGNUTar extracts vmsh's archive of each fixture with GNU tar,
// as root, and compares the tree it makes with cp -a of the kernel's
// read-only mount of the same image: types, modes, owners, sizes, block
// counts (holes), device numbers, hard links, symlinks, contents,
// modification times to the nanosecond, and extended attributes with the
// ACLs. GNU tar's listing of vmsh's archive is also
// the listing of the archive GNU tar makes of the kernel's mount.
func TestTarLikeGNUTar(t *testing.T) {
	tooltest.NeedRoot(t, "a kernel loop mount")
	tooltest.Need(t, "tar", "mount", "umount", "cp")
	// Not feat-64k (64 KiB blocks, more than a page) nor feat-casefold,
	// which this kernel does not mount.
	for _, name := range []string{"ext4", "xattr-256", "xattr-128", "feat-inline", "feat-bigalloc", "feat-128", "ext2-1k"} {
		t.Run(name, func(t *testing.T) {
			if name == "ext4" && testing.Short() {
				t.Skip("-short: extracting and copying ext4's 20,000 files takes seconds")
			}
			img := xattrImage(t, name)
			dir := t.TempDir()
			cp, ext := filepath.Join(dir, "cp"), filepath.Join(dir, "x")
			if err := os.Mkdir(ext, 0o755); err != nil {
				t.Fatal(err)
			}
			mnt := tooltest.LoopMount(t, img)
			run(t, "cp", "-a", mnt, cp)

			fsys := openXattrFS(t, img)
			ui := &fakeUI{}
			s := New(ui)
			s.Mount("/", fsys)
			ar, errs := runTarLine(t, s, ui, "tar -C / .")
			if s.Failed() {
				t.Fatalf("tar failed: %s", errs)
			}
			ours := filepath.Join(dir, "vmsh.tar")
			if err := os.WriteFile(ours, ar, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "-xpf", ours, "-C", ext)
			want := scanHost(t, cp)
			compareHost(t, want, scanHost(t, ext))

			// The ACLs alone, from their text records (SCHILY.acl.*).
			acl := filepath.Join(dir, "acl")
			os.Mkdir(acl, 0o755)
			run(t, "tar", "--acls", "--numeric-owner", "-xpf", ours, "-C", acl)
			got := scanHost(t, acl)
			for name, w := range want {
				for _, k := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
					if g := got[name]; g == nil || g.xattrs[k] != w.xattrs[k] {
						t.Errorf("%s: %s not restored from the ACL text", name, k)
					}
				}
			}

			gnu := filepath.Join(dir, "gnu.tar")
			run(t, "tar", "--format=posix", "--sort=name", "--sparse", "--numeric-owner", "-cf", gnu, "-C", mnt, ".")
			list := func(ar string) string {
				return string(run(t, "tar", "-tv", "--numeric-owner", "--full-time", "-f", ar))
			}
			if g, w := list(ours), list(gnu); g != w {
				gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Errorf("tar -tvf differs at line %d:\n%s\nGNU tar's own archive:\n%s", i+1, gl[i], wl[i])
						break
					}
				}
				if len(gl) != len(wl) {
					t.Errorf("tar -tvf: %d lines, GNU tar's own archive %d", len(gl), len(wl))
				}
			}
		})
	}
}
