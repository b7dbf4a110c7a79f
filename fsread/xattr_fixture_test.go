package fsread_test

import (
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/fixturetest"
)

// TestXattrFixtures compares the extended attributes of every committed
// image that has a NAME.xattrs listing (made by testdata/mkxattr.sh from a
// kernel mount) with what Xattrs reads.
func TestXattrFixtures(t *testing.T) {
	const dir = "../testdata"
	lists, err := filepath.Glob(filepath.Join(dir, "*.xattrs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) == 0 {
		t.Fatalf("no .xattrs listings in %s", dir)
	}
	for _, l := range lists {
		name := strings.TrimSuffix(filepath.Base(l), ".xattrs")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fixturetest.CheckXattrs(t, dir, name)
		})
	}
}
