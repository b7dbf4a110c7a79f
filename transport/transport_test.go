package transport

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"vmsh/internal/tooltest"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkDisk reads d in several ways and compares with want.
func checkDisk(t *testing.T, d Disk, want []byte) {
	t.Helper()
	if d.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", d.Size(), len(want))
	}
	got := make([]byte, len(want))
	if n, err := d.ReadAt(got, 0); n != len(want) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(all) = %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ReadAt(all): wrong bytes")
	}
	// A read across the end: the bytes there, then io.EOF.
	buf := make([]byte, 1000)
	off := int64(len(want) - 100)
	n, err := d.ReadAt(buf, off)
	if n != 100 || err != io.EOF {
		t.Fatalf("ReadAt across end = %d, %v; want 100, io.EOF", n, err)
	}
	if !bytes.Equal(buf[:n], want[off:]) {
		t.Fatal("ReadAt across end: wrong bytes")
	}
	// At and past the end: 0, io.EOF.
	for _, off := range []int64{int64(len(want)), int64(len(want)) + 4096} {
		if n, err := d.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt(%d) = %d, %v; want 0, io.EOF", off, n, err)
		}
	}
	if _, err := d.ReadAt(buf, -1); err == nil {
		t.Fatal("ReadAt(-1) succeeded")
	}
	// Concurrent readers at different offsets.
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			b := make([]byte, 512)
			for i := 0; i < 200; i++ {
				off := int64((g*131+i*977)%(len(want)/512)) * 512
				if _, err := d.ReadAt(b, off); err != nil && err != io.EOF {
					errc <- err
					return
				}
				if !bytes.Equal(b, want[off:off+512]) {
					errc <- errors.New("concurrent ReadAt: wrong bytes")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestOpenFile(t *testing.T) {
	want := pattern(1 << 20)
	p := writeFile(t, want)
	for _, spec := range []string{p, "file://" + p} {
		d, err := Open(spec)
		if err != nil {
			t.Fatalf("Open(%q): %v", spec, err)
		}
		checkDisk(t, d, want)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenIsReadOnly(t *testing.T) {
	p := writeFile(t, pattern(4096))
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fd := d.(*fileDisk).f
	if _, err := fd.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("write through an opened disk succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.img")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	qcow := filepath.Join(dir, "disk.qcow2")
	if err := os.WriteFile(qcow, append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 1024)...), 0o644); err != nil {
		t.Fatal(err)
	}
	vmdk := filepath.Join(dir, "disk.vmdk")
	if err := os.WriteFile(vmdk, []byte("# Disk DescriptorFile\nversion=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vhdx := filepath.Join(dir, "disk.vhdx")
	if err := os.WriteFile(vhdx, append([]byte("vhdxfile"), make([]byte, 1024)...), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "raw.img")
	if err := os.WriteFile(raw, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec        string
		opts        Options
		is          error  // errors.Is target, or nil
		contains    string // substring of the message
		unsupported bool
	}{
		{spec: "", contains: "empty disk name"},
		{spec: filepath.Join(dir, "missing.img"), is: fs.ErrNotExist, contains: "missing.img"},
		{spec: dir, contains: "is a directory"},
		{spec: empty, contains: "empty disk"},
		{spec: fifo, contains: "not a regular file or block device"},
		{spec: "/dev/null", contains: "not a regular file or block device"},
		{spec: qcow, contains: "qcow2: " + qcow + ": header: cluster_bits 0"},
		{spec: vmdk, contains: "vmdk: " + vmdk + ": the descriptor lists no extent"},
		{spec: vhdx, contains: "VHDX image format", unsupported: true},
		{spec: "nbd+unix:///export?socket=" + filepath.Join(dir, "no.sock"), is: fs.ErrNotExist, contains: "nbd+unix:///export?socket="},
		{spec: "nbd+vsock:///export", contains: "vsock", unsupported: true},
		{spec: "gopher://x/y", contains: "unknown scheme", unsupported: true},
		{spec: vmdk, opts: Options{Format: "vhd"}, contains: `unknown image format "vhd"`},
		{spec: empty + "x", opts: Options{Format: "raw"}, is: fs.ErrNotExist},
	}
	tests = append(tests, struct {
		spec        string
		opts        Options
		is          error
		contains    string
		unsupported bool
	}{spec: raw, opts: Options{Snapshot: "s1"}, contains: "--snapshot needs a qcow2 image, not raw"})
	for _, tt := range tests {
		d, err := OpenOptions(tt.spec, tt.opts)
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) succeeded", tt.spec)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "transport: ") || !strings.Contains(msg, tt.contains) {
			t.Errorf("Open(%q) = %q; want it to contain %q", tt.spec, msg, tt.contains)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("Open(%q) = %v; want errors.Is %v", tt.spec, err, tt.is)
		}
		if got := errors.Is(err, errors.ErrUnsupported); got != tt.unsupported {
			t.Errorf("Open(%q) = %v; errors.Is(ErrUnsupported) = %v, want %v", tt.spec, err, got, tt.unsupported)
		}
	}
}

func TestURLScheme(t *testing.T) {
	tests := []struct {
		spec, scheme string
		ok           bool
	}{
		{"nbd://h/e", "nbd", true},
		{"NBD+unix:///e", "nbd+unix", true},
		{"/tmp/a://b", "", false},
		{"./nbd://x", "", false},
		{"a:b.img", "", false},
		{"://x", "", false},
		{"1nbd://x", "", false},
		{"disk.img", "", false},
	}
	for _, tt := range tests {
		s, ok := urlScheme(tt.spec)
		if s != tt.scheme || ok != tt.ok {
			t.Errorf("urlScheme(%q) = %q, %v; want %q, %v", tt.spec, s, ok, tt.scheme, tt.ok)
		}
	}
}

// TestOpenBlockDevice attaches an image to a loop device and opens the
// device: its size must come from the kernel and its bytes match the file.
func TestOpenBlockDevice(t *testing.T) {
	tooltest.NeedRoot(t, "the loop device test")
	tooltest.Need(t, "losetup")
	want := pattern(3 << 20)
	p := writeFile(t, want)
	out, err := exec.Command("losetup", "--find", "--show", "--read-only", p).CombinedOutput()
	if err != nil {
		tooltest.SkipOrFail(t, "losetup cannot attach a loop device: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Logf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	fi, err := os.Stat(dev)
	if err != nil || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
		t.Fatalf("%s is not a block device: %v %v", dev, fi, err)
	}
	d, err := Open(dev)
	if err != nil {
		t.Fatalf("Open(%s): %v", dev, err)
	}
	defer d.Close()
	checkDisk(t, d, want)
}
