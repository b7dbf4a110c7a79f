package nbd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// sparseImage returns a raw image of size bytes with data in a few places
// and holes elsewhere, and the image's bytes.
func sparseImage(t *testing.T, size int) (string, []byte) {
	t.Helper()
	want := make([]byte, size)
	for i, at := range []int{0, 65536*3 + 512, size / 2, size - 70000} {
		copy(want[at:], pattern(70000, 20+i))
	}
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	for at := 0; at < size; at += 4096 {
		end := min(at+4096, size)
		for _, c := range want[at:end] {
			if c != 0 {
				if _, err := f.WriteAt(want[at:end], int64(at)); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return p, want
}

// TestQemuNbd reads raw and qcow2 images served by qemu-nbd, by export
// name, over TCP and a unix socket. qemu-nbd answers reads of unallocated
// clusters with hole chunks.
func TestQemuNbd(t *testing.T) {
	tooltest.Need(t, "qemu-nbd", "qemu-img")
	raw, want := sparseImage(t, 4<<20+4096)
	qcow := filepath.Join(t.TempDir(), "disk.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		name, format, file string
		unix               bool
	}{
		{"raw-unix", "raw", raw, true},
		{"qcow2-tcp", "qcow2", qcow, false},
		{"qcow2-unix", "qcow2", qcow, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startQemuNbd(t, tt.unix, "disk one", tt.format, tt.file)
			c := dial(t, s.exportURI("disk%20one", false), Options{})
			info := c.Info()
			if info.Export != "disk one" || !info.StructuredReplies || !info.BlockSizes || info.Flags&FlagReadOnly == 0 {
				t.Errorf("Info() = %+v", info)
			}
			checkReads(t, c, want)

			_, err := Dial(context.Background(), s.exportURI("nope", false), Options{})
			if err == nil || !strings.Contains(err.Error(), `no export "nope"`) || errors.Is(err, ErrDisconnected) {
				t.Fatalf("Dial(unknown export) = %v", err)
			}
		})
	}
}
