package fsread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// xent is an entry for the hand-built attribute areas of the tests.
type xent struct {
	index uint8
	name  string
	offs  uint16
	inum  uint32
	size  uint32
}

// xarea lays out entries from byte at of a zeroed buffer of n bytes,
// followed by the terminating zero word, and returns it.
func xarea(n, at int, ents ...xent) []byte {
	b := make([]byte, n)
	le := binary.LittleEndian
	for _, e := range ents {
		b[at] = uint8(len(e.name))
		b[at+1] = e.index
		le.PutUint16(b[at+2:], e.offs)
		le.PutUint32(b[at+4:], e.inum)
		le.PutUint32(b[at+8:], e.size)
		copy(b[at+16:], e.name)
		at += (16 + len(e.name) + 3) &^ 3
	}
	return b
}

// xblock is xarea with a block header.
func xblock(n int, ents ...xent) []byte {
	b := xarea(n, xattrHeaderSize, ents...)
	binary.LittleEndian.PutUint32(b, xattrMagic)
	binary.LittleEndian.PutUint32(b[8:], 1)
	return b
}

func TestXattrBlock(t *testing.T) {
	b := xblock(1024,
		xent{index: 1, name: "comment", offs: 1000, size: 5},
		xent{index: 6, name: "selinux", offs: 960, size: 27},
		xent{index: 1, name: "empty"},
	)
	copy(b[1000:], "hello")
	copy(b[960:], "system_u:object_r:etc_t:s0\x00")
	xs, err := parseXattrBlock(b, "test block", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range xs {
		n, ok := xattrName(&xs[i])
		if !ok {
			t.Errorf("entry %d not listed", i)
		}
		got = append(got, n+"="+string(xs[i].value))
	}
	want := "user.comment=hello security.selinux=system_u:object_r:etc_t:s0\x00 user.empty="
	if g := strings.Join(got, " "); g != want {
		t.Errorf("got %q, want %q", g, want)
	}
}

func TestXattrIbody(t *testing.T) {
	// Values count from the first entry, just after the magic.
	a := xarea(92, 0, xent{index: 4, name: "x", offs: 80, size: 3})
	copy(a[80:], "abc")
	xs, err := parseXattrIbody(a, 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 1 || string(xs[0].value) != "abc" || xs[0].name != "x" || xs[0].index != 4 {
		t.Errorf("got %+v", xs)
	}
	// The raw inode: magic after i_extra_isize, else no area.
	raw := make([]byte, 256)
	binary.LittleEndian.PutUint32(raw[128+32:], xattrMagic)
	copy(raw[128+36:], a)
	if got := ibodyXattrs(raw, 32); !bytes.Equal(got, a[:256-128-36]) {
		t.Errorf("ibodyXattrs: got %d bytes", len(got))
	}
	if got := ibodyXattrs(raw, 28); got != nil {
		t.Errorf("ibodyXattrs without magic: got %d bytes", len(got))
	}
	if got := ibodyXattrs(raw[:128], 0); got != nil {
		t.Errorf("ibodyXattrs of a 128-byte inode: got %d bytes", len(got))
	}
}

func TestXattrCorrupt(t *testing.T) {
	ok := func() []byte {
		b := xblock(1024, xent{index: 1, name: "a", offs: 1000, size: 5})
		copy(b[1000:], "hello")
		return b
	}
	cases := []struct {
		name  string
		edit  func(b []byte) []byte
		error string
	}{
		{"magic", func(b []byte) []byte { b[0] = 1; return b }, "bad magic"},
		{"h_blocks", func(b []byte) []byte { b[8] = 2; return b }, "h_blocks is 2"},
		{"short", func(b []byte) []byte { return b[:20] }, "too small"},
		{"value past end", func(b []byte) []byte { b[32+2] = 0xFF; b[32+3] = 3; return b }, "outside the value area"},
		{"value too long", func(b []byte) []byte { b[32+8] = 30; return b }, "outside the value area"},
		{"value over entries", func(b []byte) []byte { b[32+2] = 32; b[32+3] = 0; return b }, "outside the value area"},
		{"value size huge", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[32+8:], 1<<30); return b }, "more than"},
		{"name past end", func(b []byte) []byte {
			return xblock(64, xent{index: 1, name: strings.Repeat("n", 40)})
		}, "runs past the end"},
		{"no terminator", func(b []byte) []byte {
			for i := 32; i+4 <= len(b); i += 20 {
				b[i], b[i+1] = 1, 1 // a chain of 20-byte entries filling the block
				if i+16 < len(b) {
					b[i+16] = 'x'
				}
			}
			return b
		}, "runs past the end"},
		{"NUL in name", func(b []byte) []byte { b[32] = 2; return b }, "NUL byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseXattrBlock(c.edit(ok()), "xattr block 7 of inode 12", 7*1024)
			if err == nil || !strings.Contains(err.Error(), c.error) || !strings.Contains(err.Error(), "inode 12") {
				t.Errorf("got %v, want an error naming inode 12 and saying %q", err, c.error)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("%T is not a *FormatError", err)
			}
		})
	}
	if _, err := parseXattrBlock(ok(), "x", 0); err != nil {
		t.Errorf("valid block: %v", err)
	}
}

func TestACL(t *testing.T) {
	le := binary.LittleEndian
	disk := le.AppendUint32(nil, 1)
	short := func(tag, perm uint16) { disk = le.AppendUint16(le.AppendUint16(disk, tag), perm) }
	long := func(tag, perm uint16, id uint32) { short(tag, perm); disk = le.AppendUint32(disk, id) }
	short(ACLUserObj, 6)
	long(ACLUser, 4, 1000)
	short(ACLGroupObj, 5)
	long(ACLGroup, 7, 100)
	short(ACLMask, 7)
	short(ACLOther, 4)
	x, err := aclFromDisk(disk)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != 4+6*8 || le.Uint32(x) != 2 {
		t.Fatalf("xattr form of %d bytes, version %d", len(x), le.Uint32(x))
	}
	for _, b := range [][]byte{x, disk} {
		es, err := DecodeACL(b)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range es {
			s = append(s, e.String())
		}
		want := "user::rw- user:1000:r-- group::r-x group:100:rwx mask::rwx other::r--"
		if g := strings.Join(s, " "); g != want {
			t.Errorf("got %q, want %q", g, want)
		}
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0, 2, 0, 7}, {2, 0, 0, 0, 1, 0}, {3, 0, 0, 0}, append(le.AppendUint32(nil, 2), 0x40, 0, 7, 0, 0, 0, 0, 0)} {
		if _, err := DecodeACL(bad); err == nil {
			t.Errorf("DecodeACL(%x) succeeded", bad)
		}
	}
}

// loadFixture reads a committed fixture image into memory.
func loadFixture(t testing.TB, name string) []byte {
	b := gunzipSmall("../testdata/"+name+".img.gz", 64<<20)
	if b == nil {
		t.Fatalf("cannot read fixture %s", name)
	}
	return b
}

// TestXattrEAInodeSelf points an ea_inode entry at its own inode, and at
// an inode that is not an ea_inode.
func TestXattrEAInodeSelf(t *testing.T) {
	img := loadFixture(t, "xattr-256")
	fsys, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := fsys.resolve("huge.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := fsys.rawXattrs(in)
	if err != nil {
		t.Fatal(err)
	}
	var inum uint32
	for _, x := range raw {
		if x.name == "huge" {
			inum = x.inum
		}
	}
	if inum == 0 {
		t.Fatal("user.huge of huge.txt is not in an ea_inode")
	}
	plain, err := fsys.resolve("plain.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	// The entry: name length 4, index 1, 2 bytes of offset, then inum.
	var pat []byte
	pat = append(pat, 4, 1, 0, 0)
	pat = binary.LittleEndian.AppendUint32(pat, inum)
	for _, c := range []struct {
		to   uint32
		want string
	}{
		{uint32(in.ino), "refers to itself"},
		{uint32(plain.ino), "is not an ea_inode"},
	} {
		b := bytes.Clone(img)
		i := bytes.Index(b, pat)
		if i < 0 {
			t.Fatal("entry of user.huge not found in the image")
		}
		binary.LittleEndian.PutUint32(b[i+4:], c.to)
		fsys, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = fsys.Xattrs("huge.txt")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "inode ") {
			t.Errorf("inum %d: got %v, want %q", c.to, err, c.want)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Path != "huge.txt" {
			t.Errorf("error %v is not a *fs.PathError for huge.txt", err)
		}
	}
}

func TestXattrsSymlinkNotFollowed(t *testing.T) {
	img := loadFixture(t, "xattr-128")
	fsys, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	xs, err := fsys.Xattrs("link")
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 1 || xs[0].Name != "trusted.symlink" {
		t.Errorf("Xattrs(link) = %v", xs)
	}
	if _, err := fsys.Xattrs("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Xattrs(nope): %v", err)
	}
}

// xattrSeeds returns the attribute areas and blocks of the xattr fixtures.
func xattrSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{"xattr-128", "xattr-256"} {
		if _, err := os.Stat("../testdata/" + name + ".img.gz"); err != nil {
			continue
		}
		img := loadFixture(t, name)
		fsys, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			continue
		}
		fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			in, err := fsys.resolve(p, false)
			if err != nil {
				return nil
			}
			if len(in.ibody) > 0 {
				seeds = append(seeds, append([]byte{0}, in.ibody...))
			}
			if in.fileACL != 0 && in.fileACL < uint64(len(img))/fsys.bs {
				seeds = append(seeds, append([]byte{1}, img[in.fileACL*fsys.bs:][:fsys.bs]...))
			}
			return nil
		})
	}
	return seeds
}

// FuzzXattr feeds the in-inode area parser (first byte even) and the
// block parser (first byte odd), and decodes any ACL values found.
func FuzzXattr(f *testing.F) {
	for _, s := range xattrSeeds(f) {
		f.Add(s)
	}
	a := xarea(92, 0, xent{index: 2, offs: 60, size: 28})
	f.Add(append([]byte{0}, a...))
	f.Add(append([]byte{1}, xblock(1024, xent{index: 1, name: "a", offs: 1000, size: 5})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var xs []rawXattr
		var err error
		if data[0]&1 == 0 {
			xs, err = parseXattrIbody(data[1:], 12)
		} else {
			xs, err = parseXattrBlock(data[1:], "xattr block", 0)
		}
		if err != nil {
			return
		}
		for i := range xs {
			x := &xs[i]
			xattrName(x)
			if len(x.value) > len(data) {
				t.Fatalf("value of %d bytes from %d bytes of input", len(x.value), len(data))
			}
			if v, err := aclFromDisk(x.value); err == nil {
				if _, err := DecodeACL(v); err != nil && x.index != 0 {
					_ = err
				}
			}
			DecodeACL(x.value)
		}
	})
}
