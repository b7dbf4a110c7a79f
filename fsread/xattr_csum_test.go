package fsread

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
)

// TestXattrBlockChecksum reads every attribute of the xattr-256 fixture
// (metadata_csum, attributes in blocks shared by several files) with
// Strict, so any block whose checksum vmsh computes differently from the
// kernel fails; then it damages the block of many.txt and expects the
// mismatch named, as an error with Strict and a warning without.
func TestXattrBlockChecksum(t *testing.T) {
	img := fixture(t, "xattr-256")
	f, err := openPatched(img, true)
	if err != nil {
		t.Fatal(err)
	}
	if !f.hasMetadataCsum() {
		t.Fatal("xattr-256 has no metadata_csum: the test checks nothing")
	}
	blocks := 0
	err = fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if in, err := f.resolve(p, false); err == nil && in.fileACL != 0 {
			blocks++
		}
		_, err = f.Xattrs(p)
		return err
	})
	if err != nil {
		t.Fatalf("reading every attribute with Strict: %v", err)
	}
	if blocks == 0 {
		t.Fatal("no file of xattr-256 has an attribute block")
	}

	many := inodeOf(t, f, "many.txt")
	if many.fileACL == 0 {
		t.Fatal("many.txt has no attribute block")
	}
	bad := img.flip(int64((many.fileACL+1)*f.bs) - 1) // the last byte of a value
	for _, strict := range []bool{true, false} {
		g, err := openPatched(bad, strict)
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Xattrs("many.txt")
		var ce *ChecksumError
		if strict {
			if !errors.As(err, &ce) || ce.Structure != "xattr block" || ce.Block != many.fileACL {
				t.Errorf("Strict: Xattrs = %v, want a checksum error for xattr block %d", err, many.fileACL)
			}
			continue
		}
		if err != nil {
			t.Errorf("without Strict: Xattrs = %v, want the data with a warning", err)
		}
		want := "xattr block " + strconv.FormatUint(many.fileACL, 10)
		if w := strings.Join(g.Warnings(), "\n"); !strings.Contains(w, want) {
			t.Errorf("warnings %q do not name %q", w, want)
		}
	}
}
