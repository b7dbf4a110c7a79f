package fsread

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyToOutsideImage copies files whose blocks the image, cut short,
// no longer holds: CopyTo fails as Read does, after writing what lies
// before, and never writes more than Read reads.
func TestCopyToOutsideImage(t *testing.T) {
	needTools(t, "mke2fs")
	src := t.TempDir()
	data := pattern(3, 300<<10)
	writeFile(t, filepath.Join(src, "f"), data, 0o644)
	img := mkfs(t, src, "2M", "-t", "ext4", "-b", "1024", "-O", "^has_journal")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := full.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	// Cut the image in the middle of the file's data.
	mid := uint64(len(data)) / 2 / full.bs
	r, err := f.(*file).d.runAt(mid)
	f.Close()
	if err != nil || r.hole {
		t.Fatalf("run at block %d: %+v, %v", mid, r, err)
	}
	cut := int64(r.pblk+mid-r.lblk)*int64(full.bs) + 512
	short, err := Open(bytes.NewReader(b[:cut]), cut)
	if err != nil {
		t.Fatal(err)
	}
	g, err := short.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var buf bytes.Buffer
	n, err := g.(*file).CopyTo(context.Background(), &buf)
	var fe *FormatError
	if !errors.As(err, &fe) || n != int64(buf.Len()) || n >= int64(len(data)) || !bytes.Equal(buf.Bytes(), data[:n]) {
		t.Errorf("CopyTo over a cut image: %d, %v", n, err)
	}
	if _, err := io.ReadAll(g); err == nil {
		t.Error("Read over a cut image: no error")
	}
}
