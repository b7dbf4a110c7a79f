package qcow2

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"vmsh/internal/tooltest"
)

// crafted is a small qcow2 image laid out by hand, and the disk it holds.
//
// Layout, in clusters: 0 header, 1 L1 table, 2 L2 table, 3 refcount table
// (empty: never read), 4-5 guest clusters 0-1 back to back, 6 the
// compressed guest cluster 4 (at byte 100 of it), 7 guest cluster 5, 8
// guest cluster 6. Guest cluster 2 is a zero cluster and 3 and 7 are
// unallocated. With extended L2 entries, guest cluster 5 has subclusters
// 0-15 allocated, 16-23 unallocated and 24-31 zero.
type crafted struct {
	cb       uint
	extended bool
	zstd     bool
	backing  string // backing file name, "" for none
	backFmt  string // backing format extension, "" for none
	img      []byte
	want     []byte // the virtual disk without a backing file
}

const craftClusters = 8 // virtual size in clusters

func (c *crafted) cs() int64           { return 1 << c.cb }
func (c *crafted) l2(i int) int        { return int(2*c.cs()) + i*c.entryLen() }
func (c *crafted) entryLen() int       { return map[bool]int{false: 8, true: 16}[c.extended] }
func (c *crafted) l1() int             { return int(c.cs()) }
func (c *crafted) compressedAt() int64 { return 6*c.cs() + 100 }

// build lays the image out.
func (c *crafted) build(t testing.TB) *crafted {
	t.Helper()
	cs := c.cs()
	img := make([]byte, 9*cs)
	want := make([]byte, craftClusters*cs)
	r := rand.New(rand.NewPCG(uint64(c.cb), 1))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}

	// Header, version 3, with a 112-byte header and the end extension.
	copy(img, magic)
	be.PutUint32(img[4:], 3)
	be.PutUint32(img[20:], uint32(c.cb))
	be.PutUint64(img[24:], uint64(craftClusters*cs))
	be.PutUint32(img[36:], 1)            // l1_size
	be.PutUint64(img[40:], uint64(cs))   // l1_table_offset
	be.PutUint64(img[48:], uint64(3*cs)) // refcount_table_offset
	be.PutUint32(img[56:], 1)
	var incompat uint64
	if c.extended {
		incompat |= incompatExtendedL2
	}
	if c.zstd {
		incompat |= incompatCompression
		img[104] = byte(compressZstd)
	}
	be.PutUint64(img[72:], incompat)
	be.PutUint32(img[96:], 4)
	be.PutUint32(img[100:], 112)
	ext := 112
	if c.backFmt != "" {
		be.PutUint32(img[ext:], extBackingFmt)
		be.PutUint32(img[ext+4:], uint32(len(c.backFmt)))
		copy(img[ext+8:], c.backFmt)
		ext += 8 + (len(c.backFmt)+7)&^7
	}
	ext += 8 // end of extensions
	if c.backing != "" {
		be.PutUint64(img[8:], uint64(ext))
		be.PutUint32(img[16:], uint32(len(c.backing)))
		copy(img[ext:], c.backing)
	}

	be.PutUint64(img[c.l1():], uint64(2*cs)|l2Copied)
	put := func(i int, e, bm uint64) {
		be.PutUint64(img[c.l2(i):], e)
		if c.extended {
			be.PutUint64(img[c.l2(i)+8:], bm)
		}
	}
	all := uint64(1<<32 - 1)

	// Guest clusters 0 and 1: data back to back.
	for g, h := range []int64{4, 5} {
		fill(img[h*cs : (h+1)*cs])
		copy(want[int64(g)*cs:], img[h*cs:(h+1)*cs])
		put(g, uint64(h*cs)|l2Copied, all)
	}
	// Guest cluster 2: zero (preallocated at cluster 8's place is not needed).
	if c.extended {
		put(2, 0, all<<32)
	} else {
		put(2, l2Zero, 0)
	}
	// Guest cluster 4: compressed text.
	plain := bytes.Repeat([]byte(fmt.Sprintf("compressed cluster of %d bytes. ", cs)), int(cs))[:cs]
	copy(want[4*cs:], plain)
	comp := compressFor(t, c.zstd, plain)
	coff := c.compressedAt()
	copy(img[coff:], comp)
	x := 62 - (c.cb - 8)
	sectors := (coff+int64(len(comp))-1)>>9 - coff>>9
	put(4, l2Compressed|uint64(sectors)<<x|uint64(coff), 0)
	// Guest cluster 5 at cluster 7: subclusters when extended.
	fill(img[7*cs : 8*cs])
	if c.extended {
		sc := cs / subclusters
		copy(want[5*cs:], img[7*cs:7*cs+16*sc])
		put(5, uint64(7*cs)|l2Copied, 0x0000ffff|0xff000000<<32)
	} else {
		copy(want[5*cs:], img[7*cs:8*cs])
		put(5, uint64(7*cs)|l2Copied, 0)
	}
	// Guest cluster 6 at cluster 8.
	fill(img[8*cs : 9*cs])
	copy(want[6*cs:], img[8*cs:])
	put(6, uint64(8*cs)|l2Copied, all)

	c.img, c.want = img, want
	return c
}

func compressFor(t testing.TB, useZstd bool, plain []byte) []byte {
	var b bytes.Buffer
	if useZstd {
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		w.Close()
	} else {
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write(plain)
		w.Close()
	}
	return b.Bytes()
}

// craftedKinds are the crafted images every tool-free test runs over.
func craftedKinds(t testing.TB) []*crafted {
	return []*crafted{
		(&crafted{cb: 9}).build(t),
		(&crafted{cb: 12, zstd: true}).build(t),
		(&crafted{cb: 14, extended: true}).build(t),
		(&crafted{cb: 16, extended: true, zstd: true}).build(t),
	}
}

func (c *crafted) String() string {
	return fmt.Sprintf("cb%d-ext%v-zstd%v", c.cb, c.extended, c.zstd)
}

func openMem(t testing.TB, b []byte, open Opener, opts Options) (*Image, error) {
	t.Helper()
	m, err := Open(newMem(b), "img.qcow2", open, opts)
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

func TestCrafted(t *testing.T) {
	for _, c := range craftedKinds(t) {
		t.Run(c.String(), func(t *testing.T) {
			m, err := openMem(t, c.img, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Size() != int64(len(c.want)) {
				t.Fatalf("Size %d, want %d", m.Size(), len(c.want))
			}
			// Every read of a few lengths at offsets around every
			// subcluster and cluster boundary.
			step := c.cs() / 4
			for _, n := range []int64{1, 511, step, c.cs(), 3*c.cs() + 7, int64(len(c.want))} {
				buf := make([]byte, n)
				for off := int64(0); off < int64(len(c.want)); off += step - 1 {
					k, err := m.ReadAt(buf, off)
					wantN := min(n, int64(len(c.want))-off)
					if int64(k) != wantN || (k < len(buf)) != (err != nil) {
						t.Fatalf("ReadAt(%d at %#x) = %d, %v; want %d", n, off, k, err, wantN)
					}
					if !bytes.Equal(buf[:k], c.want[off:off+int64(k)]) {
						t.Fatalf("ReadAt(%d at %#x): wrong bytes", n, off)
					}
				}
			}
			if _, err := m.ReadAt(make([]byte, 1), m.Size()); err == nil {
				t.Error("read at the end: no EOF")
			}
			if _, err := m.ReadAt(make([]byte, 1), -1); err == nil {
				t.Error("read at -1: no error")
			}
			in := m.Info()
			if in.Version != 3 || in.ClusterSize != c.cs() || in.ExtendedL2 != c.extended ||
				in.Compression != map[bool]string{false: "zlib", true: "zstd"}[c.zstd] {
				t.Errorf("Info %+v", in)
			}
		})
	}
}

// TestCraftedBacking reads unallocated clusters from raw and qcow2 backing
// files given by an in-memory opener, and refuses loops.
func TestCraftedBacking(t *testing.T) {
	for _, c0 := range craftedKinds(t) {
		t.Run(c0.String(), func(t *testing.T) {
			// A raw backing file shorter than the disk: it ends inside
			// guest cluster 5 (in its unallocated subclusters when extended).
			back := make([]byte, 5*c0.cs()+c0.cs()*5/8)
			for i := range back {
				back[i] = byte(i*7 + 1)
			}
			c := (&crafted{cb: c0.cb, extended: c0.extended, zstd: c0.zstd, backing: "dir/../base.raw", backFmt: "raw"}).build(t)
			want := bytes.Clone(c.want)
			copy(want[3*c.cs():4*c.cs()], back[3*c.cs():]) // unallocated cluster 3
			if c.extended {
				sc := c.cs() / subclusters
				copy(want[5*c.cs()+16*sc:5*c.cs()+24*sc], back[5*c.cs()+16*sc:])
			}
			var paths []string
			open := func(p string) (File, error) {
				paths = append(paths, p)
				return newMem(back), nil
			}
			m, err := openMem(t, c.img, open, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tooltest.SHA256(t, m, m.Size(), 1000); got != tooltest.SHA256Bytes(want) {
				t.Error("wrong bytes over a raw backing file")
			}
			if len(paths) != 1 || paths[0] != "base.raw" {
				t.Errorf("opened %q", paths)
			}

			// The same, qcow2 over qcow2 (the backing file is the plain
			// crafted image), with the format probed.
			c = (&crafted{cb: c0.cb, extended: c0.extended, zstd: c0.zstd, backing: "sub/base.qcow2"}).build(t)
			want = bytes.Clone(c.want)
			copy(want[3*c.cs():4*c.cs()], c0.want[3*c.cs():])
			copy(want[7*c.cs():], c0.want[7*c.cs():])
			open = func(p string) (File, error) {
				if p != "sub/base.qcow2" {
					return nil, fmt.Errorf("unexpected %q", p)
				}
				return newMem(c0.img), nil
			}
			m, err = openMem(t, c.img, open, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tooltest.SHA256(t, m, m.Size(), 0); got != tooltest.SHA256Bytes(want) {
				t.Error("wrong bytes over a qcow2 backing file")
			}
			if ch := m.Info().Chain; len(ch) != 1 || ch[0].Format != "qcow2" || ch[0].Path != "sub/base.qcow2" {
				t.Errorf("chain %+v", ch)
			}

			// img.qcow2 → a.qcow2 → img.qcow2.
			a := (&crafted{cb: c0.cb, backing: "img.qcow2", backFmt: "qcow2"}).build(t)
			top := (&crafted{cb: c0.cb, backing: "a.qcow2", backFmt: "qcow2"}).build(t)
			open = func(p string) (File, error) {
				return newMem(map[string][]byte{"a.qcow2": a.img, "img.qcow2": top.img}[p]), nil
			}
			if _, err := openMem(t, top.img, open, Options{}); err == nil || !strings.Contains(err.Error(), "loop in the backing chain") {
				t.Errorf("loop: %v", err)
			}
		})
	}
}

// TestChainDepth builds a chain deeper than the limit out of distinct names.
func TestChainDepth(t *testing.T) {
	images := map[string][]byte{}
	for i := range 10 {
		images[fmt.Sprint(i)] = (&crafted{cb: 9, backing: fmt.Sprint(i + 1), backFmt: "qcow2"}).build(t).img
	}
	images["10"] = (&crafted{cb: 9}).build(t).img
	var closed int
	open := func(p string) (File, error) {
		b, ok := images[p]
		if !ok {
			return nil, fmt.Errorf("no %q", p)
		}
		return memFile{bytes.NewReader(b), &closed}, nil
	}
	_, err := Open(newMem(images["0"]), "0", open, Options{MaxChainDepth: 5})
	if err == nil || !strings.Contains(err.Error(), "deeper than 5") {
		t.Errorf("depth 5: %v", err)
	}
	if closed != 5 {
		t.Errorf("after a failed open, %d of the 5 opened files closed", closed)
	}
	closed = 0
	m, err := Open(newMem(images["0"]), "0", open, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Info().Chain); n != 10 {
		t.Errorf("chain of %d", n)
	}
	m.Close()
	if closed != 10 {
		t.Errorf("Close closed %d of 10 files", closed)
	}
}

// TestHostile opens damaged copies of the crafted images: each must give
// an error naming what is wrong, from Open or from the read that meets it.
func TestHostile(t *testing.T) {
	c := (&crafted{cb: 9}).build(t)
	x := (&crafted{cb: 14, extended: true}).build(t)
	cs := c.cs()
	u64 := func(off int, v uint64) func([]byte) { return func(b []byte) { be.PutUint64(b[off:], v) } }
	u32 := func(off int, v uint32) func([]byte) { return func(b []byte) { be.PutUint32(b[off:], v) } }
	cases := []struct {
		name  string
		base  *crafted
		patch func([]byte)
		want  string // in the error
		is    error
	}{
		{"magic", c, u32(0, 0x12345678), "not a qcow2 image", ErrNotQcow2},
		{"version1", c, u32(4, 1), "qcow version 1", ErrVersion1},
		{"version4", c, u32(4, 4), "version 4", errors.ErrUnsupported},
		{"aes", c, u32(32, 1), "encrypted images (AES/LUKS) are not supported (crypt_method 1, AES)", ErrEncrypted},
		{"luks", c, u32(32, 2), "(crypt_method 2, LUKS)", ErrEncrypted},
		{"cluster bits 8", c, u32(20, 8), "cluster_bits 8", nil},
		{"cluster bits 22", c, u32(20, 22), "cluster_bits 22", nil},
		{"cluster bits huge", c, u32(20, 1<<31), "cluster_bits", nil},
		{"size 2^63", c, u64(24, 1<<63), "63 bits", nil},
		{"header length", c, u32(100, 4096), "header_length 4096", nil},
		{"header length odd", c, u32(100, 108), "header_length 108", nil},
		{"refcount order", c, u32(96, 7), "refcount_order 7", nil},
		{"unknown incompatible", c, u64(72, 1<<20), `"bit 20"`, errors.ErrUnsupported},
		{"named incompatible", c, func(b []byte) {
			be.PutUint64(b[72:], 1<<9)
			be.PutUint32(b[112:], extFeatures)
			be.PutUint32(b[116:], featureEntryLen)
			b[120], b[121] = featIncompatible, 9
			copy(b[122:], "time travel")
		}, `"time travel"`, errors.ErrUnsupported},
		{"compression bit without type", c, u64(72, incompatCompression), "compression type bit", nil},
		{"compression type without bit", c, func(b []byte) { b[104] = 1 }, "without the compression type bit", nil},
		{"compression type 7", c, func(b []byte) { be.PutUint64(b[72:], incompatCompression); b[104] = 7 }, "compression type 7", errors.ErrUnsupported},
		{"extended L2 with small clusters", c, u64(72, incompatExtendedL2), "extended L2 entries need clusters", nil},
		{"data file unnamed", c, u64(72, incompatDataFile), "does not name it", nil},
		{"extension overruns", c, func(b []byte) { be.PutUint32(b[112:], 0x1234); be.PutUint32(b[116:], 1000) }, "run past", nil},
		{"extension twice", c, func(b []byte) {
			for _, off := range []int{112, 128} {
				be.PutUint32(b[off:], extBackingFmt)
				be.PutUint32(b[off+4:], 3)
				copy(b[off+8:], "raw")
			}
		}, "appears twice", nil},
		{"crypto extension", c, func(b []byte) { be.PutUint32(b[112:], extCrypto); be.PutUint32(b[116:], 16) }, "encrypted", ErrEncrypted},
		{"backing name long", c, func(b []byte) { be.PutUint64(b[8:], 120); be.PutUint32(b[16:], 2000) }, "longer than 1023", nil},
		{"backing name outside", c, func(b []byte) { be.PutUint64(b[8:], 500); be.PutUint32(b[16:], 20) }, "not inside the first cluster", nil},
		{"backing name in header", c, func(b []byte) { be.PutUint64(b[8:], 8); be.PutUint32(b[16:], 20) }, "overlaps the", nil},
		{"backing without opener", c, func(b []byte) { be.PutUint64(b[8:], 200); be.PutUint32(b[16:], 3); copy(b[200:], "abc") }, "no opener", errAny},
		{"json backing", c, func(b []byte) { be.PutUint64(b[8:], 200); be.PutUint32(b[16:], 7); copy(b[200:], "json:{}") }, "json:", errors.ErrUnsupported},
		{"L1 too big", c, u32(36, 1<<30), "exceed the limit", nil},
		{"L1 past EOF", c, u64(40, 100*uint64(cs)), "L1 table: 1 entries at 0xc800 run past the end", nil},
		{"L1 unaligned", c, u64(40, uint64(cs)+8), "not cluster aligned", nil},
		{"L1 entry past EOF", c, u64(c.l1(), 1000*uint64(cs)), "L2 table at 0x7d000 for guest offset 0x0: past the end of the file", nil},
		{"L1 entry unaligned", x, u64(x.l1(), 2*uint64(x.cs())+512), "L2 table at 0x8200 for guest offset 0x0: not cluster aligned", nil},
		{"L1 entry at the L1 table", c, u64(c.l1(), uint64(cs)), "L2 table at 0x200 for guest offset 0x0: overlaps the L1 table at 0x200", nil},
		{"L1 entry at the refcount table", c, u64(c.l1(), 3*uint64(cs)), "overlaps the refcount table", nil},
		{"L2 entry at itself", c, u64(c.l2(0), 2*uint64(cs)), "data cluster at 0x400 is the L2 table itself", nil},
		{"L2 entry at the L1 table", c, u64(c.l2(1), uint64(cs)), "cluster at guest offset 0x200: data cluster at 0x200 overlaps the L1 table", nil},
		{"L2 entry at the header", c, func(b []byte) {
			// A standard entry with offset 0 is unallocated, but a
			// compressed one may point anywhere.
			be.PutUint64(b[c.l2(1):], l2Compressed|10)
		}, "inside the header cluster", nil},
		{"L2 entry past EOF", c, u64(c.l2(0), 100*uint64(cs)), "cluster at guest offset 0x0: host offset 0xc800 is past the end of the file", nil},
		{"L2 entry unaligned", x, u64(x.l2(1), 5*uint64(x.cs())+1024), "data cluster at 0x14400 is not cluster aligned", nil},
		{"compressed past EOF", c, func(b []byte) {
			x := 62 - (c.cb - 8)
			be.PutUint64(b[c.l2(4):], l2Compressed|uint64(1)<<x|uint64(50*cs))
		}, "compressed cluster at guest offset 0x800, host offset 0x6400", nil},
		{"compressed garbage", c, func(b []byte) { copy(b[c.compressedAt():], bytes.Repeat([]byte{0xff}, 64)) }, "compressed cluster at guest offset 0x800", nil},
		{"compressed short", c, func(b []byte) {
			// A whole stream, but of less than a cluster.
			copy(b[c.compressedAt():], compressFor(t, false, c.want[4*cs:4*cs+100]))
		}, "zlib data ends before a whole cluster", nil},
		{"subclusters allocated and zero", x, func(b []byte) { be.PutUint64(b[x.l2(0)+8:], 1|1<<32) }, "both allocated and zero", nil},
		{"subclusters without host", x, func(b []byte) { be.PutUint64(b[x.l2(0):], 0) }, "no host cluster", nil},
		{"snapshots past EOF", c, func(b []byte) { be.PutUint32(b[60:], 1); be.PutUint64(b[64:], 1000*uint64(cs)) }, "snapshot table: offset", nil},
		{"too many snapshots", c, func(b []byte) { be.PutUint32(b[60:], 1<<20); be.PutUint64(b[64:], 3*uint64(cs)) }, "exceed the limit", nil},
		{"snapshot entry cut", c, func(b []byte) {
			be.PutUint32(b[60:], 100)
			be.PutUint64(b[64:], 8*uint64(cs))
			clear(b[8*cs:])
		}, "runs past the end of the table", nil},
		{"snapshot extra data", c, func(b []byte) {
			be.PutUint32(b[60:], 1)
			be.PutUint64(b[64:], 3*uint64(cs))
			be.PutUint32(b[3*cs+36:], 5000)
		}, "5000 bytes of extra data", nil},
		{"snapshot missing", c, func(b []byte) {}, `no internal snapshot with id or name "x"`, errAny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				return
			}
			b := bytes.Clone(tc.base.img)
			tc.patch(b)
			opts := Options{}
			if tc.name == "snapshot missing" {
				opts.Snapshot = "x"
			}
			err := openAndRead(t, b, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
			var fe *FormatError
			if tc.is == errAny {
				return
			}
			if tc.is != nil && !errors.Is(err, tc.is) || tc.is == nil && !errors.As(err, &fe) {
				t.Errorf("error %q: want %v", err, tc.is)
			}
		})
	}

	t.Run("truncated", func(t *testing.T) {
		// Every truncation of the image either fails to open or fails (or
		// reads the right bytes) where it reads what is cut off.
		for _, base := range []*crafted{c, x} {
			for n := 0; n < len(base.img); n += max(1, len(base.img)/700) {
				m, err := openMem(t, base.img[:n], nil, Options{})
				if err != nil {
					continue
				}
				buf := make([]byte, m.Size())
				k, err := m.ReadAt(buf, 0)
				if err == nil && !bytes.Equal(buf[:k], base.want) {
					t.Fatalf("truncated to %d bytes: read without error, wrong bytes", n)
				}
			}
		}
	})
}

// errAny marks a hostile case whose error is neither a *FormatError nor
// a sentinel.
var errAny = errors.New("any error")

// openAndRead opens b and reads the whole disk, returning the first error.
func openAndRead(t *testing.T, b []byte, opts Options) error {
	m, err := openMem(t, b, nil, opts)
	if err != nil {
		return err
	}
	_, err = m.ReadAt(make([]byte, m.Size()), 0)
	return err
}

// TestCraftedSnapshot adds a snapshot table to the crafted image, whose
// snapshot L1 table maps guest cluster 0 only, with a smaller disk.
func TestCraftedSnapshot(t *testing.T) {
	c := (&crafted{cb: 12}).build(t)
	cs := c.cs()
	b := append(bytes.Clone(c.img), make([]byte, 3*cs)...)
	snapL1, snapL2, table := 9*cs, 10*cs, 11*cs
	be.PutUint64(b[snapL1:], uint64(snapL2))
	be.PutUint64(b[snapL2:], uint64(5*cs)) // guest cluster 0 → what is guest 1 today
	be.PutUint32(b[60:], 2)
	be.PutUint64(b[64:], uint64(table))
	e := b[table:]
	put := func(l1 int64, id, name string, extra []byte, date uint32) int {
		be.PutUint64(e, uint64(l1))
		be.PutUint32(e[8:], 1)
		be.PutUint16(e[12:], uint16(len(id)))
		be.PutUint16(e[14:], uint16(len(name)))
		be.PutUint32(e[16:], date)
		be.PutUint32(e[20:], 5)
		be.PutUint64(e[24:], 3e9)
		be.PutUint32(e[32:], 77)
		be.PutUint32(e[36:], uint32(len(extra)))
		n := copy(e[40:], extra)
		n += copy(e[40+n:], id)
		n += copy(e[40+n:], name)
		return (40 + n + 7) &^ 7
	}
	extra := make([]byte, 16)
	be.PutUint64(extra, 1234)
	be.PutUint64(extra[8:], uint64(2*cs))
	e = e[put(snapL1, "1", "before", extra, 1700000000):]
	put(int64(c.l1()), "7", "1", nil, 1700000001) // named like the first one's id, old style (no extra data)

	m, err := openMem(t, b, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.Snapshots()
	if len(s) != 2 || s[0].ID != "1" || s[0].Name != "before" || s[0].Size != 2*cs || s[0].VMStateSize != 1234 ||
		s[0].Date.Unix() != 1700000000 || s[0].Date.Nanosecond() != 5 || s[0].VMClock.Seconds() != 3 ||
		s[1].ID != "7" || s[1].Size != 8*cs || s[1].VMStateSize != 77 {
		t.Fatalf("snapshots %+v", s)
	}
	for _, key := range []string{"1", "before"} { // "1" is an id before it is a name
		m, err := openMem(t, b, nil, Options{Snapshot: key})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 2*cs)
		copy(want, c.want[cs:2*cs])
		if m.Size() != 2*cs || tooltest.SHA256(t, m, m.Size(), 0) != tooltest.SHA256Bytes(want) {
			t.Errorf("snapshot %q: wrong disk", key)
		}
	}
	// A data cluster must not point into the snapshot table or L1 tables.
	be.PutUint64(b[c.l2(0):], uint64(table))
	if err := openAndRead(t, b, Options{}); err == nil || !strings.Contains(err.Error(), "overlaps the snapshot table") {
		t.Errorf("data in the snapshot table: %v", err)
	}
	be.PutUint64(b[c.l2(0):], uint64(snapL1))
	if err := openAndRead(t, b, Options{}); err == nil || !strings.Contains(err.Error(), "overlaps the L1 table of snapshot 1") {
		t.Errorf("data in a snapshot's L1 table: %v", err)
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct{ path, name, want string }{
		{"img.qcow2", "base.qcow2", "base.qcow2"},
		{"dir/img.qcow2", "base.qcow2", "dir/base.qcow2"},
		{"dir/img.qcow2", "../other/base.qcow2", "other/base.qcow2"},
		{"/a/b/img.qcow2", "./c/../base.raw", "/a/b/base.raw"},
		{"/a/b/img.qcow2", "/abs//base.qcow2", "/abs/base.qcow2"},
		{"/a/b/img.qcow2", "nbd://host:10809/export", "nbd://host:10809/export"},
		{"/a/b/img.qcow2", "nbd+unix:///e?socket=/s", "nbd+unix:///e?socket=/s"},
		{"/a/b/img.qcow2", "dir/x://y", "/a/b/dir/x:/y"},
		{"", "base.qcow2", "base.qcow2"},
	} {
		if got := resolve(tc.path, tc.name); got != tc.want {
			t.Errorf("resolve(%q, %q) = %q, want %q", tc.path, tc.name, got, tc.want)
		}
	}
}
