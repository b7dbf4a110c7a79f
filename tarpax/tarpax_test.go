package tarpax

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

// member is what a test writes: a header and the data that follows it.
type member struct {
	h    Header
	data []byte
}

func archive(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := NewWriter(&buf)
	for _, m := range ms {
		if err := tw.WriteHeader(&m.h); err != nil {
			t.Fatalf("%s: %v", m.h.Name, err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatalf("%s: %v", m.h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%BlockSize != 0 {
		t.Fatalf("archive of %d bytes, not whole blocks", buf.Len())
	}
	return buf.Bytes()
}

var (
	t0       = time.Date(2023, 6, 7, 8, 9, 10, 123456789, time.UTC)
	pre1970  = time.Date(1969, 12, 31, 23, 0, 0, 250000000, time.UTC)
	longName = strings.Repeat("d/", 80) + strings.Repeat("n", 150)
)

func testMembers() []member {
	sparseData := append(append(append([]byte("first"), make([]byte, 507)...), append([]byte("-data-"), make([]byte, 506)...)...), "second"...)
	return []member{
		{h: Header{Name: "dir/", Typeflag: TypeDir, Mode: 0o1777, ModTime: t0, AccessTime: t0.Add(time.Second), ChangeTime: t0.Add(2 * time.Second)}},
		{h: Header{Name: "dir/file", Typeflag: TypeReg, Mode: 0o4755, Uid: 1000, Gid: 100, Uname: "alice", Gname: "users", Size: 5, ModTime: t0,
			Records: []Record{{"SCHILY.xattr.user.bin", "a\x00\xff=b\n"}, {"SCHILY.acl.access", "user::rw-\nuser:1000:r--\ngroup::r--\nmask::r--\nother::---\n"}}},
			data: []byte("hello")},
		{h: Header{Name: longName, Typeflag: TypeReg, Mode: 0o644, Size: 3, ModTime: pre1970, Uid: 4294967294, Gid: 1 << 21, Uname: strings.Repeat("u", 40), Gname: "grüppe"}, data: []byte("abc")},
		{h: Header{Name: "dir/héllo wörld", Typeflag: TypeSymlink, Linkname: strings.Repeat("../", 50) + "target", Mode: 0o777, ModTime: t0}},
		{h: Header{Name: "dir/hard", Typeflag: TypeLink, Linkname: "dir/file", Mode: 0o4755, ModTime: t0}},
		{h: Header{Name: "dev/null", Typeflag: TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: t0}},
		{h: Header{Name: "dev/big", Typeflag: TypeBlock, Mode: 0o660, Devmajor: 4095, Devminor: 1 << 30, ModTime: t0}},
		{h: Header{Name: "fifo", Typeflag: TypeFifo, Mode: 0o644, ModTime: time.Date(2300, 1, 1, 0, 0, 0, 5, time.UTC)}},
		{h: Header{Name: "sparse", Typeflag: TypeReg, Mode: 0o644, Size: 1 << 20, ModTime: t0,
			Sparse: []Region{{0, 512}, {5120, 512}, {900000, 6}}}, data: sparseData},
		{h: Header{Name: "holes", Typeflag: TypeReg, Mode: 0o600, Size: 123456, ModTime: t0, Sparse: []Region{}}},
	}
}

// Go's archive/tar reads back every field, sparse files included.
func TestArchiveTarReadsIt(t *testing.T) {
	ms := testMembers()
	tr := tar.NewReader(bytes.NewReader(archive(t, ms)))
	for _, m := range ms {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: %v", m.h.Name, err)
		}
		w := m.h
		if h.Name != w.Name || h.Typeflag != w.Typeflag || h.Linkname != w.Linkname || h.Mode != w.Mode ||
			h.Uid != int(w.Uid) || h.Gid != int(w.Gid) || h.Uname != w.Uname || h.Gname != w.Gname ||
			h.Size != w.Size || !h.ModTime.Equal(w.ModTime) || h.Devmajor != w.Devmajor || h.Devminor != w.Devminor {
			t.Errorf("read back %+v\nwrote %+v", h, w)
		}
		if !w.AccessTime.IsZero() && (!h.AccessTime.Equal(w.AccessTime) || !h.ChangeTime.Equal(w.ChangeTime)) {
			t.Errorf("%s: atime %v ctime %v, want %v %v", w.Name, h.AccessTime, h.ChangeTime, w.AccessTime, w.ChangeTime)
		}
		for _, r := range w.Records {
			if h.PAXRecords[r.Key] != r.Value {
				t.Errorf("%s: record %s = %q, want %q", w.Name, r.Key, h.PAXRecords[r.Key], r.Value)
			}
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		want := m.data
		if w.Sparse != nil {
			want = make([]byte, w.Size)
			d := m.data
			for _, r := range w.Sparse {
				copy(want[r.Offset:], d[:r.Length])
				d = d[r.Length:]
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes read back differ from the %d written", w.Name, len(got), len(want))
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("after the last member: %v, want EOF", err)
	}
}

// GNU tar lists and extracts the archive as written: names, owners,
// times before 1970, sparse files with their holes.
func TestGNUTarReadsIt(t *testing.T) {
	tooltest.Need(t, "tar")
	dir := t.TempDir()
	ar := filepath.Join(dir, "a.tar")
	if err := os.WriteFile(ar, archive(t, testMembers()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "-tv", "--numeric-owner", "-f", ar).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tvf: %v\n%s", err, out)
	}
	want := []string{
		"drwxrwxrwt 0/0 0 2023-06-07 08:09 dir/",
		"-rwsr-xr-x 1000/100 5 2023-06-07 08:09 dir/file",
		"-rw-r--r-- 4294967294/2097152 3 1969-12-31 23:00 " + longName,
		"lrwxrwxrwx 0/0 0 2023-06-07 08:09 dir/héllo wörld -> " + strings.Repeat("../", 50) + "target",
		"hrwsr-xr-x 0/0 0 2023-06-07 08:09 dir/hard link to dir/file",
		"crw-rw-rw- 0/0 1,3 2023-06-07 08:09 dev/null",
		"brw-rw---- 0/0 4095,1073741824 2023-06-07 08:09 dev/big",
		"prw-r--r-- 0/0 0 2300-01-01 00:00 fifo",
		"-rw-r--r-- 0/0 1048576 2023-06-07 08:09 sparse",
		"-rw------- 0/0 123456 2023-06-07 08:09 holes",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := range got {
		got[i] = strings.Join(strings.Fields(got[i]), " ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tar -tvf:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	cmd := exec.Command("tar", "-x", "-f", ar, "-C", x, "sparse", "holes", "dir/file")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(x, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	want2 := make([]byte, 1<<20)
	copy(want2, "first")
	copy(want2[5120:], "-data-")
	copy(want2[900000:], "second")
	if !bytes.Equal(b, want2) {
		t.Error("sparse file extracted with other contents")
	}
	for _, f := range []struct {
		name string
		size int64
	}{{"sparse", 1 << 20}, {"holes", 123456}} {
		var st os.FileInfo
		if st, err = os.Stat(filepath.Join(x, f.name)); err != nil || st.Size() != f.size {
			t.Errorf("%s: %v, size want %d", f.name, err, f.size)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	tw := NewWriter(io.Discard)
	if err := tw.WriteHeader(&Header{Name: "f", Typeflag: TypeReg, Size: 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := tw.Write([]byte("abc")); n != 2 || !errors.Is(err, ErrWriteTooLong) {
		t.Errorf("write past the size: %d, %v", n, err)
	}
	tw = NewWriter(io.Discard)
	tw.WriteHeader(&Header{Name: "f", Typeflag: TypeReg, Size: 2})
	if err := tw.WriteHeader(&Header{Name: "g", Typeflag: TypeReg}); err == nil {
		t.Error("a header after a short member was accepted")
	}
	if err := tw.Close(); err == nil {
		t.Error("close after a short member succeeded")
	}
	for _, h := range []Header{
		{Name: "", Typeflag: TypeReg},
		{Name: "a\x00b", Typeflag: TypeReg},
		{Name: "s", Typeflag: TypeReg, Size: 10, Sparse: []Region{{5, 2}, {4, 1}}},
		{Name: "s", Typeflag: TypeReg, Size: 10000, Sparse: []Region{{0, 100}, {1024, 512}}},
		{Name: "s", Typeflag: TypeReg, Size: 10, Sparse: []Region{{5, 6}}},
		{Name: "s", Typeflag: TypeSymlink, Sparse: []Region{}},
		{Name: "r", Typeflag: TypeReg, Records: []Record{{"a=b", "c"}}},
		{Name: "n", Typeflag: TypeReg, Uid: -1},
	} {
		if err := NewWriter(io.Discard).WriteHeader(&h); err == nil {
			t.Errorf("%+v accepted", h)
		}
	}
}

func TestRecordLength(t *testing.T) {
	// The length counts its own digits: 9 bytes of text make a record
	// of 10 ("10 k=vvvv\n" is 10 bytes); 98 bytes cross to 3 digits.
	for _, v := range []string{"", "vvvv", strings.Repeat("v", 92), strings.Repeat("v", 93), strings.Repeat("v", 94), strings.Repeat("v", 995)} {
		r := appendRecord(nil, "k", v)
		i := bytes.IndexByte(r, ' ')
		if string(r[:i]) != itoa(len(r)) {
			t.Errorf("record %q: length says %s, is %d", r[:min(len(r), 20)], r[:i], len(r))
		}
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestFormatTime(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(0, 0), "0"},
		{time.Unix(1, 500000000), "1.5"},
		{time.Unix(-2, 750000000), "-1.25"},
		{time.Unix(-1, 0), "-1"},
		{time.Unix(1686125350, 123456789), "1686125350.123456789"},
	} {
		if got := formatTime(c.t); got != c.want {
			t.Errorf("formatTime(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}
