package fsread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fcImage builds a small ext4 image with metadata_csum for the
// fast-commit tests: an empty file, a file of four 1 KiB blocks, a file
// to unlink, and a subdirectory.
func fcImage(t testing.TB) []byte {
	t.Helper()
	needTools(t, "mke2fs")
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "empty"), nil, 0o644)
	writeFile(t, filepath.Join(src, "data.bin"), pattern(1, 4096), 0o644)
	writeFile(t, filepath.Join(src, "victim"), []byte("doomed\n"), 0o644)
	chunks := map[int64][]byte{}
	for i := int64(0); i < 6; i++ {
		chunks[i*8192] = pattern(int(i), 1024) // six extents: a tree of depth 1
	}
	writeSparse(t, filepath.Join(src, "sparse"), 6*8192, chunks)
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := mkfs(t, src, "2M", "-t", "ext4", "-b", "1024", "-O", "metadata_csum,^has_journal", "-E", "root_owner=0:0")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fcOpen opens img over an overlay without replay, for applying tags.
func fcOpen(t testing.TB, img []byte) (*FS, *overlay) {
	t.Helper()
	ov := &overlay{base: bytes.NewReader(img), bs: 1024}
	f, err := OpenOptions(ov, int64(len(img)), Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return f, ov
}

// fcIno returns the inode number of name.
func fcIno(t testing.TB, f *FS, name string) uint32 {
	t.Helper()
	fi, err := fs.Stat(f, name)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(fi.Sys().(*Stat).Ino)
}

// fcRaw returns a copy of the on-disk bytes of inode ino.
func fcRaw(t testing.TB, f *FS, ino uint32) []byte {
	t.Helper()
	a := &fcApplier{f: f, dirty: map[uint64][]byte{}}
	b, err := a.rawInode(uint64(ino))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

// firstBlock returns the physical block holding logical block 0 of name.
func firstBlock(t testing.TB, f *FS, name string) uint32 {
	t.Helper()
	in, err := f.inode(uint64(fcIno(t, f, name)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.mapWindow(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := w.find(0)
	return uint32(r.pblk - r.lblk)
}

func fcU32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func fcAddRangeTag(ino, lblk, pblk uint32, n uint16) fcTag {
	v := fcU32s(ino, lblk, 0, pblk)
	binary.LittleEndian.PutUint16(v[8:], n)
	return fcTag{fcAddRange, v}
}

func fcDentryTag(tag uint16, parent, ino uint32, name string) fcTag {
	return fcTag{tag, append(fcU32s(parent, ino), name...)}
}

// fcInodeTag logs raw inode b, of inode ino, with its size set to size.
func fcInodeTag(ino uint32, b []byte, size uint32) fcTag {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[4:], size)
	return fcTag{fcInode, append(fcU32s(ino), b...)}
}

// Hand-built fast commits are applied as the kernel's replay would, and
// the filesystem read again shows them, checksums and all (Strict).
func TestFastCommitApply(t *testing.T) {
	img := fcImage(t)
	f0, _ := fcOpen(t, img)
	data, err := fs.ReadFile(f0, "data.bin")
	if err != nil {
		t.Fatal(err)
	}
	empty, dataIno, victim, sub := fcIno(t, f0, "empty"), fcIno(t, f0, "data.bin"), fcIno(t, f0, "victim"), fcIno(t, f0, "sub")
	pblk := firstBlock(t, f0, "data.bin")
	const newIno = 30 // unused in a fresh filesystem
	for _, c := range []struct {
		name  string
		tags  func(f *FS) []fcTag
		check func(t *testing.T, f *FS)
	}{
		{"add-range-empty", func(f *FS) []fcTag {
			return []fcTag{fcAddRangeTag(empty, 0, pblk, 1), fcInodeTag(empty, fcRaw(t, f, empty), 1024)}
		}, func(t *testing.T, f *FS) {
			got, err := fs.ReadFile(f, "empty")
			if err != nil || !bytes.Equal(got, data[:1024]) {
				t.Errorf("empty: %d bytes, %v; want data.bin's first block", len(got), err)
			}
			if fi, _ := fs.Stat(f, "empty"); fi.Sys().(*Stat).Blocks != 2 {
				t.Errorf("empty: %d sectors, want 2", fi.Sys().(*Stat).Blocks)
			}
		}},
		{"inode-deep-tree", func(f *FS) []fcTag {
			ino := fcIno(t, f, "sparse")
			raw := fcRaw(t, f, ino)
			if h, _ := parseExtHeader(raw[iBlock:]); h.depth != 1 {
				t.Fatalf("sparse: extent tree of depth %d, want 1", h.depth)
			}
			binary.LittleEndian.PutUint32(raw[iBlocksLo:], 0)
			return []fcTag{fcInodeTag(ino, raw, 6*8192)}
		}, func(t *testing.T, f *FS) {
			fi, err := fs.Stat(f, "sparse")
			if err != nil || fi.Sys().(*Stat).Blocks != 2*(6+1) {
				t.Errorf("sparse: %v, %v; want 14 sectors (six blocks and a leaf)", fi, err)
			}
		}},
		{"del-range", func(f *FS) []fcTag {
			return []fcTag{{fcDelRange, fcU32s(dataIno, 1, 2)}}
		}, func(t *testing.T, f *FS) {
			want := bytes.Clone(data)
			clear(want[1024:3072])
			got, err := fs.ReadFile(f, "data.bin")
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("data.bin: %v, blocks 1 and 2 not holes", err)
			}
		}},
		{"creat-inode", func(f *FS) []fcTag {
			raw := fcRaw(t, f, victim)
			return []fcTag{
				fcInodeTag(newIno, raw, 0),
				fcAddRangeTag(newIno, 0, pblk, 1),
				fcDentryTag(fcCreat, rootIno, newIno, "new.txt"),
				fcInodeTag(newIno, raw, 5),
			}
		}, func(t *testing.T, f *FS) {
			got, err := fs.ReadFile(f, "new.txt")
			if err != nil || !bytes.Equal(got, data[:5]) {
				t.Errorf("new.txt: %q, %v; want %q", got, err, data[:5])
			}
			fi, err := fs.Stat(f, "new.txt")
			if err != nil || fi.Sys().(*Stat).Ino != newIno || fi.Sys().(*Stat).Nlink != 1 {
				t.Errorf("new.txt: %v, %v", fi, err)
			}
		}},
		{"link", func(f *FS) []fcTag {
			return []fcTag{fcDentryTag(fcLink, uint32(fcIno(t, f, "sub")), victim, "hard")}
		}, func(t *testing.T, f *FS) {
			fi, err := fs.Stat(f, "sub/hard")
			if err != nil || fi.Sys().(*Stat).Ino != uint64(victim) || fi.Sys().(*Stat).Nlink != 2 {
				t.Errorf("sub/hard: %v, %v", fi, err)
			}
		}},
		{"unlink", func(f *FS) []fcTag {
			return []fcTag{fcDentryTag(fcUnlink, rootIno, victim, "victim")}
		}, func(t *testing.T, f *FS) {
			if _, err := fs.Stat(f, "victim"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("victim after UNLINK: %v", err)
			}
			in, err := f.inode(uint64(victim))
			if err != nil || in.st.Nlink != 0 {
				t.Errorf("victim's inode: %v, %v; want no links", in, err)
			}
			if _, err := fs.ReadFile(f, "data.bin"); err != nil {
				t.Error(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, ov := fcOpen(t, img)
			if why := f.applyFastCommit(ov, &fcScan{tags: c.tags(f), commits: 1}); why != "" {
				t.Fatalf("not applied: %s", why)
			}
			g, err := OpenOptions(ov, int64(len(img)), Options{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, g)
			if ws := g.Warnings(); len(ws) > 0 {
				t.Errorf("warnings %q", ws)
			}
		})
	}

	// All or nothing: a tag that cannot be applied exactly leaves every
	// block as it was, and is named.
	f, ov := fcOpen(t, img)
	tags := []fcTag{
		fcDentryTag(fcUnlink, rootIno, victim, "victim"),
		fcDentryTag(fcCreat, rootIno, sub, "again"), // a directory: needs a new block
	}
	why := f.applyFastCommit(ov, &fcScan{tags: tags, commits: 1})
	if !strings.HasPrefix(why, "tag 2 (CREAT_DENTRY): directory") || len(ov.keys) != 0 {
		t.Errorf("refusal %q, %d blocks changed", why, len(ov.keys))
	}
}
