package tooltest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Run runs tool with args in directory dir ("" for the current one) and
// returns its standard output. If the tool fails, the test fails with
// everything the tool printed.
func Run(t testing.TB, dir, tool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", tool, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// QemuRawSHA256 returns the sha256, in hex, of the raw disk that
// `qemu-img convert -O raw` makes of the image img, run in directory dir,
// with extra arguments for convert (such as "-f", "vmdk" or "-l",
// "snapshot.name=s1"). It is the oracle image readers are checked against.
func QemuRawSHA256(t testing.TB, dir, img string, extra ...string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "qemu.raw")
	args := append([]string{"convert", "-O", "raw"}, extra...)
	Run(t, dir, "qemu-img", append(args, img, raw)...)
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256 returns the sha256, in hex, of the size bytes r holds, read chunk
// bytes at a time (all at once when chunk is 0). A read that does not
// give what io.ReaderAt promises (every byte asked for, io.EOF only at
// the end) fails the test.
func SHA256(t testing.TB, r io.ReaderAt, size int64, chunk int) string {
	t.Helper()
	if chunk <= 0 {
		chunk = int(max(size, 1))
	}
	h := sha256.New()
	buf := make([]byte, chunk)
	for off := int64(0); off < size; {
		n, err := r.ReadAt(buf, off)
		want := int(min(int64(len(buf)), size-off))
		if n != want || err != nil && !(err == io.EOF && off+int64(n) == size) {
			t.Fatalf("ReadAt(%d bytes at %#x): %d, %v", len(buf), off, n, err)
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256Bytes returns the sha256 of b, in hex.
func SHA256Bytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
