package fixturetest

import (
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"

	"vmsh/fsread"
)

// An extended attribute listing (NAME.xattrs, written by
// testdata/mkxattr.sh) has one line per attribute, sorted by path and then
// name, with the tab-separated fields path ("." for the root), attribute
// name and value in lower-case hex ("-" if empty). Lines starting with '#'
// are comments.

// XattrListing lists every extended attribute of every entry of fsys in
// the .xattrs format, sorted.
func XattrListing(fsys *fsread.FS) ([]string, error) {
	var lines []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		xs, err := fsys.Xattrs(p)
		if err != nil {
			return err
		}
		for _, x := range xs {
			v := hex.EncodeToString(x.Value)
			if v == "" {
				v = "-"
			}
			lines = append(lines, p+"\t"+x.Name+"\t"+v)
		}
		return nil
	})
	sort.Strings(lines)
	return lines, err
}

// ReadXattrs reads a .xattrs file without its comment lines.
func ReadXattrs(name string) ([]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines, nil
}

// CheckXattrsFS opens the filesystem filling r (size bytes) and compares
// every extended attribute fsread reads with the listing in xattrsFile.
// CheckImage calls it for every whole-disk image with a NAME.xattrs file.
func CheckXattrsFS(t *testing.T, r io.ReaderAt, size int64, xattrsFile string) {
	t.Helper()
	want, err := ReadXattrs(xattrsFile)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fsread.Open(r, size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := XattrListing(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Errorf("%s lists no attributes", xattrsFile)
	}
	if d := xattrDiff(want, got, 20); d != "" {
		t.Errorf("extended attributes differ from the kernel's %s:\n%s", path.Base(xattrsFile), d)
	}
}

func xattrDiff(want, got []string, max int) string {
	key := func(l string) string {
		f := strings.SplitN(l, "\t", 3)
		if len(f) < 3 {
			return l
		}
		return f[0] + "\t" + f[1]
	}
	short := func(l string) string {
		if len(l) > 200 {
			return l[:200] + "..."
		}
		return l
	}
	w := map[string]string{}
	for _, l := range want {
		w[key(l)] = l
	}
	g := map[string]string{}
	for _, l := range got {
		g[key(l)] = l
	}
	var d []string
	for k, l := range w {
		switch gl, ok := g[k]; {
		case !ok:
			d = append(d, fmt.Sprintf("missing %s", short(l)))
		case gl != l:
			d = append(d, fmt.Sprintf("differs: kernel %s, vmsh %s", short(l), short(gl)))
		}
	}
	for k, l := range g {
		if _, ok := w[k]; !ok {
			d = append(d, fmt.Sprintf("extra %s", short(l)))
		}
	}
	sort.Strings(d)
	n := len(d)
	if n > max {
		d = append(d[:max], fmt.Sprintf("... and %d more differences", n-max))
	}
	return strings.Join(d, "\n")
}
