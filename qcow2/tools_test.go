package qcow2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/tooltest"
)

// These tests make images with qemu-img and qemu-io and compare what this
// package reads with what `qemu-img convert -O raw` writes.

// qemuIO runs qemu-io commands (such as "write -P 0xab 4k 8k") on a qcow2 image.
func qemuIO(t testing.TB, img string, cmds ...string) {
	t.Helper()
	qemuIOIn(t, "", img, cmds...)
}

// qemuIOIn runs qemu-io commands in directory dir.
func qemuIOIn(t testing.TB, dir, img string, cmds ...string) {
	t.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	tooltest.Run(t, dir, "qemu-io", append(args, img)...)
}

// writeRaw writes a raw disk of size bytes with varied content: random
// blocks, runs of zeros, holes, repeated patterns and text, each a few
// clusters long at unaligned places.
func writeRaw(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	for off := int64(0); off < size; {
		n := min(size-off, 1+r.Int64N(300<<10))
		b := make([]byte, n)
		switch r.IntN(5) {
		case 0: // random
			for i := range b {
				b[i] = byte(r.Uint32())
			}
		case 1: // repeated pattern, compressible
			pat := fmt.Appendf(nil, "pattern %d at %#x; ", r.IntN(1000), off)
			for i := range b {
				b[i] = pat[i%len(pat)]
			}
		case 2: // zeros written out
		case 3: // hole: leave it
			off += n
			continue
		case 4: // a byte value
			v := byte(r.Uint32())
			for i := range b {
				b[i] = v
			}
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		off += n
	}
}

// check opens img (with opts) and compares the whole disk, read at once and
// in odd-sized pieces, with the oracle's sha256.
func check(t *testing.T, img string, opts Options, want string) *Image {
	t.Helper()
	m, err := openPath(t, img, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	if got := tooltest.SHA256(t, m, m.Size(), 0); got != want {
		t.Errorf("%s (whole): sha256 %s, qemu-img says %s", img, got, want)
	}
	if got := tooltest.SHA256(t, m, m.Size(), 12345); got != want {
		t.Errorf("%s (12345-byte reads): sha256 %s, qemu-img says %s", img, got, want)
	}
	return m
}

// qemuInfo is what `qemu-img info --output=json` says of an image.
type qemuInfo struct {
	VirtualSize         int64  `json:"virtual-size"`
	ClusterSize         int64  `json:"cluster-size"`
	BackingFilename     string `json:"backing-filename"`
	FullBackingFilename string `json:"full-backing-filename"`
	BackingFormat       string `json:"backing-filename-format"`
	FormatSpecific      struct {
		Data struct {
			Compat          string `json:"compat"`
			CompressionType string `json:"compression-type"`
			RefcountBits    int    `json:"refcount-bits"`
			Corrupt         bool   `json:"corrupt"`
			ExtendedL2      bool   `json:"extended-l2"`
			DataFile        string `json:"data-file"`
			DataFileRaw     bool   `json:"data-file-raw"`
		} `json:"data"`
	} `json:"format-specific"`
	Snapshots []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		VMStateSize int64  `json:"vm-state-size"`
		DateSec     int64  `json:"date-sec"`
		DateNsec    int64  `json:"date-nsec"`
		VMClockSec  int64  `json:"vm-clock-sec"`
		VMClockNsec int64  `json:"vm-clock-nsec"`
	} `json:"snapshots"`
}

func info(t testing.TB, img string) qemuInfo {
	t.Helper()
	var qi qemuInfo
	if err := json.Unmarshal([]byte(tooltest.Run(t, "", "qemu-img", "info", "-U", "--output=json", img)), &qi); err != nil {
		t.Fatal(err)
	}
	return qi
}

// checkInfo compares Info with what qemu-img info says.
func checkInfo(t *testing.T, m *Image, img string) {
	t.Helper()
	qi := info(t, img)
	in := m.Info()
	d := qi.FormatSpecific.Data
	version := map[string]int{"0.10": 2, "1.1": 3}[d.Compat]
	compression := d.CompressionType
	if compression == "" {
		compression = "zlib"
	}
	if in.Size != qi.VirtualSize || in.ClusterSize != qi.ClusterSize || in.Version != version ||
		in.Compression != compression || in.ExtendedL2 != d.ExtendedL2 || in.RefcountBits != d.RefcountBits ||
		in.Corrupt != d.Corrupt || in.BackingFile != qi.BackingFilename || in.BackingFormat != qi.BackingFormat ||
		in.DataFile != d.DataFile || in.DataFileRaw != d.DataFileRaw {
		t.Errorf("%s: Info %+v\nqemu-img info %+v", img, in, qi)
	}
	if qi.FullBackingFilename != "" && (len(in.Chain) == 0 || in.Chain[0].Path != filepath.Clean(qi.FullBackingFilename)) {
		t.Errorf("%s: chain %+v, qemu-img resolves the backing file to %s", img, in.Chain, qi.FullBackingFilename)
	}
	snaps := m.Snapshots()
	if len(snaps) != len(qi.Snapshots) {
		t.Fatalf("%s: %d snapshots, qemu-img lists %d", img, len(snaps), len(qi.Snapshots))
	}
	for i, s := range snaps {
		q := qi.Snapshots[i]
		if s.ID != q.ID || s.Name != q.Name || s.VMStateSize != q.VMStateSize ||
			s.Date.Unix() != q.DateSec || int64(s.Date.Nanosecond()) != q.DateNsec ||
			s.VMClock.Nanoseconds() != q.VMClockSec*1e9+q.VMClockNsec {
			t.Errorf("%s: snapshot %d: %+v, qemu-img says %+v", img, i, s, q)
		}
	}
}

func TestQemuImages(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 6<<20 + 3*512 // not a whole number of clusters
	writeRaw(t, src, size, 1)
	srcSum := tooltest.QemuRawSHA256(t, "", src, "-f", "raw")

	cases := []struct {
		name string
		opts []string
	}{
		{"v2", []string{"-o", "compat=0.10"}},
		{"v3", []string{"-o", "compat=1.1"}},
		{"cluster512", []string{"-o", "cluster_size=512"}},
		{"cluster4k-v2", []string{"-o", "compat=0.10,cluster_size=4k"}},
		{"cluster2M", []string{"-o", "cluster_size=2M"}},
		{"deflate", []string{"-c"}},
		{"deflate-v2-512", []string{"-c", "-o", "compat=0.10,cluster_size=512"}},
		{"deflate-2M", []string{"-c", "-o", "cluster_size=2M"}},
		{"zstd", []string{"-c", "-o", "compression_type=zstd"}},
		{"zstd-4k", []string{"-c", "-o", "compression_type=zstd,cluster_size=4k"}},
		{"extended-l2", []string{"-o", "extended_l2=on"}},
		{"extended-l2-zstd", []string{"-c", "-o", "extended_l2=on,compression_type=zstd,cluster_size=32k"}},
		{"refcount1-lazy", []string{"-o", "refcount_bits=1,lazy_refcounts=on"}},
		{"prealloc", []string{"-o", "preallocation=metadata"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(dir, tc.name+".qcow2")
			args := append([]string{"convert", "-f", "raw", "-O", "qcow2"}, tc.opts...)
			tooltest.Run(t, "", "qemu-img", append(args, src, img)...)
			m := check(t, img, Options{}, srcSum)
			checkInfo(t, m, img)
		})
	}
}

// TestQemuSubclusters writes partial clusters with qemu-io into images with
// extended L2 entries, over a backing file, so that subclusters are
// allocated, zero, and unallocated in the same cluster.
func TestQemuSubclusters(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	writeRaw(t, base, 4<<20, 2)
	for _, cs := range []string{"16k", "64k", "2M"} {
		t.Run(cs, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(dir, "sub-"+cs+".qcow2")
			tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-o", "extended_l2=on,cluster_size="+cs,
				"-b", "base.raw", "-F", "raw", img, "5M")
			qemuIO(t, img,
				"write -P 0x11 0 512",
				"write -P 0x22 3k 1k",
				"write -z 8k 4k",
				"write -P 0x33 70k 2k",
				"write -z 100k 70k",
				"write -P 0x44 1M 300k",
				"write -P 0x55 2047k 2k",
				"write -z 3M 2k",
				"write -P 0x66 4095k 1025k", // past the backing file's end
				"discard 1100k 64k",
			)
			m := check(t, img, Options{}, tooltest.QemuRawSHA256(t, "", img))
			checkInfo(t, m, img)
		})
	}
	t.Run("no-backing", func(t *testing.T) {
		img := filepath.Join(dir, "sub-alone.qcow2")
		tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-o", "extended_l2=on", img, "1M")
		qemuIO(t, img, "write -P 0x77 1k 1k", "write -z 4k 4k", "write -P 0x78 66k 130k")
		check(t, img, Options{}, tooltest.QemuRawSHA256(t, "", img))
	})
}

// TestQemuChain reads a chain of three qcow2 images named by relative
// paths in other directories, each layer writing over the one below.
func TestQemuChain(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	for _, d := range []string{"base", "mid", "top"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(dir, "src.raw")
	writeRaw(t, src, 3<<20, 3)
	base := filepath.Join(dir, "base", "base.qcow2")
	mid := filepath.Join(dir, "mid", "mid.qcow2")
	top := filepath.Join(dir, "top", "top.qcow2")
	tooltest.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=4k", src, base)
	// The middle layer is larger than the base: zeros past the base's end.
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=16k", "-b", "../base/base.qcow2", "-F", "qcow2", mid, "4M")
	qemuIO(t, mid, "write -P 0xa1 64k 64k", "write -P 0xa2 1000k 3k", "write -z 2M 100k", "write -P 0xa3 3500k 10k")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-o", "compat=0.10", "-b", "../mid/mid.qcow2", "-F", "qcow2", top, "5M")
	qemuIO(t, top, "write -P 0xb1 60k 8k", "write -z 1001k 1k", "write -P 0xb2 4M 4k", "write -P 0xb3 2050k 1k")

	m := check(t, top, Options{}, tooltest.QemuRawSHA256(t, "", top))
	checkInfo(t, m, top)
	chain := m.Info().Chain
	if len(chain) != 2 || chain[0].Path != mid || chain[1].Path != base || chain[0].Format != "qcow2" || chain[1].Name != "../base/base.qcow2" {
		t.Errorf("chain %+v", chain)
	}

	t.Run("depth", func(t *testing.T) {
		if _, err := openPath(t, top, Options{MaxChainDepth: 1}); err == nil || !strings.Contains(err.Error(), "deeper than 1") {
			t.Errorf("MaxChainDepth 1: %v", err)
		}
		if _, err := openPath(t, top, Options{MaxChainDepth: 2}); err != nil {
			t.Errorf("MaxChainDepth 2: %v", err)
		}
	})
	t.Run("closes", func(t *testing.T) {
		// Close closes what the opener opened, but not the top file.
		var opened, closed int
		var mu sync.Mutex
		open := func(p string) (File, error) {
			f, err := openOS(p)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			opened++
			mu.Unlock()
			return closeCounter{f, &mu, &closed}, nil
		}
		f, _ := openOS(top)
		defer f.Close()
		m, err := Open(f, top, open, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		m.Close()
		if opened != 2 || closed != 2 {
			t.Errorf("opened %d, closed %d", opened, closed)
		}
		if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
			t.Errorf("top file closed: %v", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		want, err := os.ReadFile(func() string {
			out := filepath.Join(t.TempDir(), "top.raw")
			tooltest.Run(t, "", "qemu-img", "convert", "-O", "raw", top, out)
			return out
		}())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 1))
				buf := make([]byte, 200<<10)
				for range 50 {
					off := r.Int64N(m.Size())
					n := r.IntN(len(buf))
					k, err := m.ReadAt(buf[:n], off)
					if k != min(n, int(m.Size()-off)) || err != nil && k == n {
						t.Errorf("ReadAt(%d at %#x): %d, %v", n, off, k, err)
						return
					}
					if !bytes.Equal(buf[:k], want[off:off+int64(k)]) {
						t.Errorf("ReadAt(%d at %#x): wrong bytes", n, off)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

type closeCounter struct {
	File
	mu     *sync.Mutex
	closed *int
}

func (c closeCounter) Close() error {
	c.mu.Lock()
	*c.closed++
	c.mu.Unlock()
	return c.File.Close()
}

// TestQemuBackingFormats covers raw backing files (shorter than the image),
// backing files of unrecorded format (probed), and formats given by a hook.
func TestQemuBackingFormats(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	raw := filepath.Join(dir, "base.raw")
	writeRaw(t, raw, 1<<20+1000, 4) // not even a whole number of sectors
	top := filepath.Join(dir, "over-raw.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top, "3M")
	qemuIO(t, top, "write -P 0xc1 512k 4k", "write -P 0xc2 1020k 100k")
	want := tooltest.QemuRawSHA256(t, "", top)
	m := check(t, top, Options{}, want)
	checkInfo(t, m, top)

	// The same image without its backing format extension: the backing
	// file is probed (raw here).
	b, err := os.ReadFile(top)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b[:4096], []byte{0xe2, 0x79, 0x2a, 0xca})
	if i < 0 {
		t.Fatal("no backing format extension")
	}
	copy(b[i:], []byte{0x12, 0x34, 0x56, 0x78}) // an unknown extension, ignored
	probed := filepath.Join(dir, "probed.qcow2")
	if err := os.WriteFile(probed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m = check(t, probed, Options{}, want)
	if c := m.Info().Chain; len(c) != 1 || c[0].Format != "" {
		t.Errorf("probed chain %+v", c)
	}

	// A qcow2 backing file of unrecorded format is probed as qcow2.
	q := filepath.Join(dir, "base.qcow2")
	tooltest.Run(t, "", "qemu-img", "convert", "-O", "qcow2", raw, q)
	over := filepath.Join(dir, "over-qcow2.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", over, "3M")
	qemuIO(t, over, "write -P 0xc3 100k 4k")
	want = tooltest.QemuRawSHA256(t, "", over)
	b, _ = os.ReadFile(over)
	i = bytes.Index(b[:4096], []byte{0xe2, 0x79, 0x2a, 0xca})
	copy(b[i:], []byte{0x12, 0x34, 0x56, 0x78})
	probed = filepath.Join(dir, "probed-qcow2.qcow2")
	os.WriteFile(probed, b, 0o644)
	m = check(t, probed, Options{}, want)
	if c := m.Info().Chain; len(c) != 1 || c[0].Format != "qcow2" {
		t.Errorf("probed chain %+v", c)
	}

	// Other formats go through OpenFormat; without it they are refused.
	vmdkTop := filepath.Join(dir, "over-vmdk.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-u", "-b", "base.vmdk", "-F", "vmdk", vmdkTop, "3M")
	if _, err := openPath(t, vmdkTop, Options{}); err == nil || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), `"vmdk"`) {
		t.Errorf("vmdk backing without OpenFormat: %v", err)
	}
	var asked []string
	hook := func(path, format string) (File, error) {
		asked = append(asked, filepath.Base(path)+":"+format)
		return openOS(raw) // stands in for a VMDK reader
	}
	m, err = openPath(t, vmdkTop, Options{OpenFormat: hook})
	if err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, 3<<20)
	copy(disk, mustRead(t, raw))
	if got := tooltest.SHA256(t, m, m.Size(), 0); got != tooltest.SHA256Bytes(disk) {
		t.Errorf("through OpenFormat: sha256 %s, want %s", got, tooltest.SHA256Bytes(disk))
	}
	if len(asked) != 1 || asked[0] != "base.vmdk:vmdk" {
		t.Errorf("OpenFormat asked %v", asked)
	}
	// BackingFormat overrides the recorded format.
	if _, err := openPath(t, vmdkTop, Options{BackingFormat: "raw"}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BackingFormat raw with a missing base.vmdk: %v", err)
	}
}

// TestQemuLoops refuses backing chains that lead back into themselves.
func TestQemuLoops(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	// a → b → a, made with -u so that qemu-img does not open the chain.
	a, b := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", a, "1M")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-u", "-b", "./sub/../a.qcow2", "-F", "qcow2", b, "1M")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if _, err := openPath(t, a, Options{}); err == nil || !strings.Contains(err.Error(), "loop in the backing chain") {
		t.Errorf("a → b → a: %v", err)
	}
	// An image whose backing name, edited in place, is its own name.
	self := filepath.Join(dir, "self.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-u", "-b", "XXXX.qcow2", "-F", "qcow2", self, "1M")
	img, _ := os.ReadFile(self)
	i := bytes.Index(img, []byte("XXXX.qcow2"))
	copy(img[i:], "self.qcow2")
	os.WriteFile(self, img, 0o644)
	if _, err := openPath(t, self, Options{}); err == nil || !strings.Contains(err.Error(), "loop in the backing chain") {
		t.Errorf("self: %v", err)
	}
	// A symbolic link back to the top image is the same file.
	link := filepath.Join(dir, "link.qcow2")
	if err := os.Symlink("c.qcow2", link); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(dir, "c.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-u", "-b", "link.qcow2", "-F", "qcow2", c, "1M")
	if _, err := openPath(t, c, Options{}); err == nil || !strings.Contains(err.Error(), "loop in the backing chain") {
		t.Errorf("through a symlink: %v", err)
	}
}

// TestQemuDataFile reads images whose clusters are in an external data file.
func TestQemuDataFile(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeRaw(t, src, 2<<20, 5)
	for _, raw := range []string{"on", "off"} {
		t.Run("raw="+raw, func(t *testing.T) {
			img := filepath.Join(dir, "ext-"+raw+".qcow2")
			// The image records the data file's name relative to its
			// directory, which this package resolves against it; qemu 7
			// resolves it against its working directory, so run it there.
			tooltest.Run(t, dir, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "data_file=ext-"+raw+".data,data_file_raw="+raw, src, img)
			qemuIOIn(t, dir, img, "write -P 0xd1 100k 64k", "write -z 1M 64k")
			m := check(t, img, Options{}, tooltest.QemuRawSHA256(t, dir, img))
			checkInfo(t, m, img)
			if _, err := Open(newMem(mustRead(t, img)), "mem.qcow2", nil, Options{}); err == nil || !strings.Contains(err.Error(), "external data file") {
				t.Errorf("without an opener: %v", err)
			}
		})
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestQemuSnapshots reads internal snapshots, by name and by id, of an
// image changed after each, and resized between them.
func TestQemuSnapshots(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	writeRaw(t, src, 2<<20, 6)
	img := filepath.Join(dir, "snap.qcow2")
	tooltest.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, img)
	tooltest.Run(t, "", "qemu-img", "snapshot", "-c", "first", img)
	qemuIO(t, img, "write -P 0xe1 0 100k", "write -z 1M 64k")
	tooltest.Run(t, "", "qemu-img", "resize", img, "3M")
	qemuIO(t, img, "write -P 0xe2 2500k 4k")
	tooltest.Run(t, "", "qemu-img", "snapshot", "-c", "second", img)
	qemuIO(t, img, "write -P 0xe3 10k 10k", "write -P 0xe4 2600k 64k")

	m := check(t, img, Options{}, tooltest.QemuRawSHA256(t, "", img))
	checkInfo(t, m, img)
	snaps := m.Snapshots()
	if len(snaps) != 2 || snaps[0].Size != 2<<20 || snaps[1].Size != 3<<20 {
		t.Fatalf("snapshots %+v", snaps)
	}
	// The truth is what a copy reverted to the snapshot holds. (qemu-img
	// convert -l reads a snapshot at the image's current size, so it
	// agrees only for the second snapshot, taken after the resize.)
	for _, name := range []string{"first", "second"} {
		cp := filepath.Join(dir, "reverted-"+name+".qcow2")
		os.WriteFile(cp, mustRead(t, img), 0o644)
		tooltest.Run(t, "", "qemu-img", "snapshot", "-a", name, cp)
		want := tooltest.QemuRawSHA256(t, "", cp)
		id := map[string]string{"first": "1", "second": "2"}[name]
		for _, key := range []string{name, id} {
			m := check(t, img, Options{Snapshot: key}, want)
			if m.Info().Snapshot != id {
				t.Errorf("snapshot %q: Info().Snapshot = %q", key, m.Info().Snapshot)
			}
		}
	}
	check(t, img, Options{Snapshot: "second"}, tooltest.QemuRawSHA256(t, "", img, "-l", "snapshot.name=second"))
	if _, err := openPath(t, img, Options{Snapshot: "third"}); err == nil || !strings.Contains(err.Error(), `"third"`) {
		t.Errorf("missing snapshot: %v", err)
	}
}

// TestQemuFilesystem reads the files of an ext4 filesystem made by mke2fs,
// through a compressed qcow2 image under an empty overlay, with fsread.
func TestQemuFilesystem(t *testing.T) {
	tooltest.Need(t, "qemu-img", "mke2fs")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	files := map[string][]byte{
		"hello.txt":      []byte("hello from inside a qcow2 image\n"),
		"dir/random.bin": make([]byte, 700<<10),
		"dir/text.txt":   bytes.Repeat([]byte("a line of text that compresses well\n"), 20000),
	}
	r := rand.New(rand.NewPCG(9, 9))
	for i := range files["dir/random.bin"] {
		files["dir/random.bin"][i] = byte(r.Uint32())
	}
	for name, b := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw := filepath.Join(dir, "fs.raw")
	tooltest.Run(t, "", "mke2fs", "-q", "-t", "ext4", "-d", src, raw, "8M")
	base := filepath.Join(dir, "fs.qcow2")
	tooltest.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd,cluster_size=16k", raw, base)
	top := filepath.Join(dir, "top.qcow2")
	tooltest.Run(t, "", "qemu-img", "create", "-f", "qcow2", "-o", "extended_l2=on", "-b", "fs.qcow2", "-F", "qcow2", top)
	m, err := openPath(t, top, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fsread.Open(m, m.Size())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := fs.ReadFile(fsys, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
}
