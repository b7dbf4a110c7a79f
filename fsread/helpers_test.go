package fsread

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

// needTools skips the test when e2fsprogs is missing, unless
// VMSH_REQUIRE_TOOLS=1 makes that a failure.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	if len(tools) == 0 {
		tools = []string{"mke2fs", "debugfs", "e2fsck"}
	}
	tooltest.Need(t, tools...)
}

func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=", "MKE2FS_CONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// mkfs builds an image of the given size from src with mke2fs and extra
// options, and returns its path.
func mkfs(t testing.TB, src, size string, opts ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	args := append([]string{"-q", "-F"}, opts...)
	if src != "" {
		args = append(args, "-d", src)
	}
	args = append(args, img, size)
	runTool(t, "mke2fs", args...)
	return img
}

// openImage opens an image file with Open.
func openImage(t testing.TB, img string) *FS {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(fh, st.Size())
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	return fsys
}

func writeFile(t testing.TB, name string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}

// pattern returns n deterministic bytes that differ per seed.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// writeSparse writes a file of the given size with data only at the given
// offsets.
func writeSparse(t testing.TB, name string, size int64, chunks map[int64][]byte) {
	t.Helper()
	fh, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for off, b := range chunks {
		if _, err := fh.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func sum(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return fmt.Sprintf("%x", h.Sum(nil)), n, err
}

// compareTree checks every file under src against the same path in fsys:
// type, permissions, owner, size, mtime seconds, contents, link targets,
// device numbers and hard links.
func compareTree(t *testing.T, fsys *FS, src string) {
	t.Helper()
	inodes := map[uint64]uint64{} // source inode -> image inode
	n := 0
	err := filepath.Walk(src, func(p string, sfi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		n++
		fi, err := fsys.Lstat(rel)
		if err != nil {
			t.Errorf("Lstat(%q): %v", rel, err)
			return nil
		}
		if rel != "." && fi.Name() != sfi.Name() {
			t.Errorf("%s: Name %q, want %q", rel, fi.Name(), sfi.Name())
		}
		if fi.Mode() != sfi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), sfi.Mode())
		}
		ss := sfi.Sys().(*syscall.Stat_t)
		st := fi.Sys().(*Stat)
		if st.Uid != ss.Uid || st.Gid != ss.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, st.Uid, st.Gid, ss.Uid, ss.Gid)
		}
		if st.Mode != ss.Mode {
			t.Errorf("%s: raw mode %#o, want %#o", rel, st.Mode, ss.Mode)
		}
		if rel != "." && fi.ModTime().Unix() != sfi.ModTime().Unix() {
			t.Errorf("%s: mtime %v, want %v", rel, fi.ModTime(), sfi.ModTime())
		}
		switch {
		case sfi.Mode().IsRegular():
			if fi.Size() != sfi.Size() {
				t.Errorf("%s: size %d, want %d", rel, fi.Size(), sfi.Size())
			}
			if ss.Nlink > 1 {
				if prev, ok := inodes[ss.Ino]; ok && prev != st.Ino {
					t.Errorf("%s: hard link has inode %d, want %d", rel, st.Ino, prev)
				}
				inodes[ss.Ino] = st.Ino
				if st.Nlink != uint32(ss.Nlink) {
					t.Errorf("%s: nlink %d, want %d", rel, st.Nlink, ss.Nlink)
				}
			}
			want, _, err := sumFile(p)
			if err != nil {
				t.Fatal(err)
			}
			f, err := fsys.Open(rel)
			if err != nil {
				t.Errorf("Open(%q): %v", rel, err)
				return nil
			}
			got, gn, err := sum(f)
			f.Close()
			if err != nil || got != want || gn != sfi.Size() {
				t.Errorf("%s: contents differ (read %d bytes, err %v)", rel, gn, err)
			}
		case sfi.Mode()&fs.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			got, err := fsys.ReadLink(rel)
			if err != nil || got != want {
				t.Errorf("ReadLink(%q) = %q, %v; want %q", rel, got, err, want)
			}
			if fi.Size() != int64(len(want)) {
				t.Errorf("%s: symlink size %d, want %d", rel, fi.Size(), len(want))
			}
		case sfi.Mode()&fs.ModeDevice != 0:
			maj := uint32((ss.Rdev>>8)&0xfff) | uint32(ss.Rdev>>32)&^0xfff
			mnr := uint32(ss.Rdev&0xff) | uint32(ss.Rdev>>12)&^0xff
			if st.Major != maj || st.Minor != mnr {
				t.Errorf("%s: device %d:%d, want %d:%d", rel, st.Major, st.Minor, maj, mnr)
			}
		case sfi.IsDir():
			ents, err := fsys.ReadDir(rel)
			if err != nil {
				t.Errorf("ReadDir(%q): %v", rel, err)
				return nil
			}
			sents, _ := os.ReadDir(p)
			var got, want []string
			for _, e := range ents {
				if rel == "." && e.Name() == "lost+found" {
					continue
				}
				got = append(got, e.Name()+":"+e.Type().String())
			}
			for _, e := range sents {
				want = append(want, e.Name()+":"+e.Type().String())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("ReadDir(%q) differs:\n got %d entries %.300q\nwant %d entries %.300q", rel, len(got), got, len(want), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compared %d paths", n)
}

func sumFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return sum(f)
}

// debugfsStat runs debugfs "stat" on every name and returns the parsed
// fields of each, keyed by name.
func debugfsStat(t *testing.T, img string, names []string) map[string]map[string]string {
	t.Helper()
	cmds := filepath.Join(t.TempDir(), "cmds")
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "stat \"/%s\"\n", n)
	}
	if err := os.WriteFile(cmds, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "debugfs", "-f", cmds, img)
	res := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "debugfs: stat ") {
			n := strings.TrimPrefix(line, "debugfs: stat ")
			n = strings.Trim(n, "\"")
			n = strings.TrimPrefix(n, "/")
			cur = map[string]string{}
			res[n] = cur
			continue
		}
		if cur == nil {
			continue
		}
		parseDebugfsLine(line, cur)
	}
	return res
}

// parseDebugfsLine picks "Key: value" pairs out of one line of debugfs
// stat output.
func parseDebugfsLine(line string, m map[string]string) {
	trim := strings.TrimSpace(line)
	for _, k := range []string{"ctime", "atime", "mtime", "crtime"} {
		if strings.HasPrefix(trim, k+": 0x") {
			v := strings.Fields(strings.TrimPrefix(trim, k+": "))[0]
			m[k] = v
			return
		}
	}
	if strings.HasPrefix(trim, "Device major/minor number:") {
		f := strings.Fields(strings.TrimPrefix(trim, "Device major/minor number:"))
		m["dev"] = f[0]
		return
	}
	fields := strings.Fields(line)
	for i := 0; i+1 < len(fields); i++ {
		if strings.HasSuffix(fields[i], ":") {
			k := strings.TrimSuffix(fields[i], ":")
			switch k {
			case "Inode", "Mode", "Flags", "Generation", "User", "Group", "Size", "Links", "Blockcount":
				if _, ok := m[k]; !ok {
					m[k] = fields[i+1]
				}
			}
		}
	}
}

// debugfsTime parses debugfs's "0xSECONDS:EXTRA" form (or plain
// "0xSECONDS") into a time the way the kernel decodes it.
func debugfsTime(s string) (time.Time, error) {
	sec, extra, hasExtra := strings.Cut(s, ":")
	sv, err := strconv.ParseUint(strings.TrimPrefix(sec, "0x"), 16, 32)
	if err != nil {
		return time.Time{}, err
	}
	var ev uint64
	if hasExtra {
		ev, err = strconv.ParseUint(extra, 16, 32)
		if err != nil {
			return time.Time{}, err
		}
	}
	return decodeTime(uint32(sv), uint32(ev), hasExtra), nil
}

// compareDebugfs checks Stat fields of every path in fsys against
// debugfs.
func compareDebugfs(t *testing.T, fsys *FS, img string, maxPaths int) {
	t.Helper()
	var names []string
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if p != "." && len(names) < maxPaths {
			names = append(names, p)
		}
		return nil
	})
	ds := debugfsStat(t, img, names)
	for _, n := range names {
		m := ds[n]
		if m == nil || m["Inode"] == "" {
			t.Errorf("debugfs gave nothing for %q", n)
			continue
		}
		fi, err := fsys.Lstat(n)
		if err != nil {
			t.Errorf("Lstat(%q): %v", n, err)
			continue
		}
		st := fi.Sys().(*Stat)
		check := func(field, got string) {
			if m[field] != got {
				t.Errorf("%s: %s = %s, debugfs says %s", n, field, got, m[field])
			}
		}
		check("Inode", fmt.Sprint(st.Ino))
		check("Mode", fmt.Sprintf("%04o", st.Mode&0o7777))
		check("Flags", fmt.Sprintf("0x%x", st.Flags))
		check("Generation", fmt.Sprint(st.Generation))
		// debugfs prints owners as signed 32-bit numbers.
		check("User", fmt.Sprint(int32(st.Uid)))
		check("Group", fmt.Sprint(int32(st.Gid)))
		check("Size", fmt.Sprint(st.Size))
		check("Links", fmt.Sprint(st.Nlink))
		check("Blockcount", fmt.Sprint(st.Blocks))
		if d := m["dev"]; d != "" {
			check("dev", fmt.Sprintf("%02d:%02d", st.Major, st.Minor))
		}
		for _, tc := range []struct {
			k string
			v time.Time
		}{{"ctime", st.Ctime}, {"atime", st.Atime}, {"mtime", st.Mtime}, {"crtime", st.Crtime}} {
			s, ok := m[tc.k]
			if !ok {
				if tc.k == "crtime" && !tc.v.IsZero() {
					t.Errorf("%s: crtime %v, debugfs shows none", n, tc.v)
				}
				continue
			}
			want, err := debugfsTime(s)
			if err != nil {
				t.Errorf("%s: debugfs %s %q: %v", n, tc.k, s, err)
				continue
			}
			if !tc.v.Equal(want) {
				t.Errorf("%s: %s = %v, debugfs says %v (%s)", n, tc.k, tc.v, want, s)
			}
		}
	}
}
