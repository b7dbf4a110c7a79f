package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmsh/internal/nbdtest"
	"vmsh/internal/tooltest"
)

func randomFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	name := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name, data
}

// readAll reads the whole disk in 1 MiB pieces.
func readAll(d Disk) ([]byte, error) {
	out := make([]byte, d.Size())
	for off := int64(0); off < d.Size(); off += 1 << 20 {
		end := min(off+1<<20, d.Size())
		if _, err := d.ReadAt(out[off:end], off); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// A server killed and started again between reads and in the middle of
// them: every read returns the right bytes, and the disk says it
// reconnected.
func TestNBDReconnect(t *testing.T) {
	file, data := randomFile(t, 8<<20)
	// Slow reads, so that the kill lands while reads are in flight.
	srv := nbdtest.Start(t, "--filter=delay", "file", file, "rdelay=5ms")
	d, err := OpenOptions(srv.URI(), Options{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nd := d.(*nbdDisk)
	if got, err := readAll(d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first read: %v (equal %v)", err, bytes.Equal(got, data))
	}

	for round := range 3 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(20 * time.Millisecond)
			srv.Kill()
			time.Sleep(300 * time.Millisecond) // reads fail and back off meanwhile
			srv.Restart()
		}()
		got, err := readAll(d)
		<-done
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("round %d: the bytes read differ from the export's", round)
		}
	}
	if n := nd.Reconnects(); n < 3 {
		t.Errorf("Reconnects() = %d after three server restarts", n)
	}
	if st := nd.State(); st != "connected" {
		t.Errorf("State() = %q", st)
	}
	if err, at := nd.LastError(); err == nil || at.IsZero() {
		t.Errorf("LastError() = %v, %v; want the disconnection", err, at)
	}
}

// A server that does not come back: the read fails once the timeout has
// passed, saying why, and does not hang.
func TestNBDTimeout(t *testing.T) {
	file, _ := randomFile(t, 1<<20)
	srv := nbdtest.Start(t, "file", file)
	d, err := OpenOptions(srv.URI(), Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv.Kill()
	start := time.Now()
	_, err = d.ReadAt(make([]byte, 4096), 0)
	took := time.Since(start)
	if err == nil {
		t.Fatal("read from a dead server succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer in 1s") ||
		!strings.Contains(err.Error(), "last transport error") {
		t.Errorf("error %q: want a deadline naming the timeout and the last transport error", err)
	}
	if took > 10*time.Second {
		t.Errorf("the read took %v with a 1s timeout", took)
	}
	if st := d.(*nbdDisk).State(); st != "failed" {
		t.Errorf("State() = %q after the read gave up, want failed", st)
	}
}

// An error the server reports for a read is returned at once, with the
// errno and offset, and the connection is kept.
func TestNBDServerError(t *testing.T) {
	trigger := filepath.Join(t.TempDir(), "fail")
	srv := nbdtest.Start(t, "--filter=error", "pattern", "size=4M", "error=EIO", "error-pread-rate=100%", "error-pread-file="+trigger)
	d, err := OpenOptions(srv.URI(), Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.WriteFile(trigger, nil, 0o644); err != nil { // reads fail from now on
		t.Fatal(err)
	}
	_, err = d.ReadAt(make([]byte, 4096), 1<<20)
	if err == nil || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "1048576") {
		t.Errorf("read: %v; want EIO naming offset 1048576", err)
	}
	if n := d.(*nbdDisk).Reconnects(); n != 0 {
		t.Errorf("a server error caused %d reconnections", n)
	}
}

// qemuImg runs qemu-img.
func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Images in each format, on files and over NBD, read as the raw disk
// qemu-img converts them to; a qcow2 image over a VMDK backing file; the
// format given by name instead of detected.
func TestFormats(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	raw, _ := randomFile(t, 3<<20)
	// Holes and zero runs too.
	f, err := os.OpenFile(raw, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 512<<10), 1<<20)
	f.Truncate(6 << 20)
	f.Close()
	img := func(name string) string { return filepath.Join(dir, name) }
	qemuImg(t, "convert", "-O", "qcow2", "-c", raw, img("d.qcow2"))
	qemuImg(t, "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, img("d.vmdk"))
	qemuImg(t, "convert", "-O", "vmdk", "-o", "subformat=monolithicSparse", raw, img("base.vmdk"))
	qemuImg(t, "create", "-f", "qcow2", "-b", "base.vmdk", "-F", "vmdk", img("over.qcow2"))
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	check := func(spec string, o Options, format string) {
		t.Helper()
		d, err := OpenOptions(spec, o)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			return
		}
		defer d.Close()
		got, err := readAll(d)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: read %v, equal to the raw disk: %v", spec, err, bytes.Equal(got, want))
		}
		if f, ok := d.(interface{ Format() string }); format != "" && (!ok || f.Format() != format) {
			t.Errorf("%s: Format() = %v, want %s", spec, d, format)
		}
	}
	check(img("d.qcow2"), Options{}, "qcow2")
	check(img("d.vmdk"), Options{}, "vmdk")
	check(img("over.qcow2"), Options{}, "qcow2")
	check(img("d.qcow2"), Options{Format: "qcow2"}, "qcow2")
	check(raw, Options{Format: "raw"}, "")
	if _, err := OpenOptions(img("d.vmdk"), Options{Format: "qcow2"}); err == nil || !strings.Contains(err.Error(), "qcow2") {
		t.Errorf("a VMDK opened as qcow2: %v", err)
	}

	srv := nbdtest.Start(t, "file", img("d.qcow2"))
	check(srv.URI(), Options{}, "qcow2 (nbd)")
}
