package sparse

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCopy(t *testing.T) {
	const block = 4096
	// data, a hole, data, then trailing zeros that must become a hole.
	src := make([]byte, 40*block)
	copy(src, "start")
	copy(src[20*block+7:], "middle")
	name := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := Copy(f, bytes.NewReader(src), make([]byte, block))
	if err != nil || n != int64(len(src)) {
		t.Fatalf("Copy = %d, %v; want %d", n, err, len(src))
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("copy differs from the source")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	// Two blocks hold data; a filesystem without holes would use 40.
	if used := st.Blocks * 512; used >= int64(len(src)) {
		t.Errorf("file uses %d bytes on disk for %d bytes of which 2 blocks hold data: no holes", used, len(src))
	}
}

func TestIsZero(t *testing.T) {
	b := make([]byte, 3*len(zeros)+5)
	if !IsZero(b) {
		t.Fatal("zeros reported as data")
	}
	for _, i := range []int{0, len(zeros) - 1, len(zeros), len(b) - 1} {
		b[i] = 1
		if IsZero(b) {
			t.Errorf("byte %d set, still reported as zeros", i)
		}
		b[i] = 0
	}
}
