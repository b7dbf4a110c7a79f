package fsread_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"testing"

	"vmsh/fsread"
)

// OpenInode and InodeXattrs give what Open and Xattrs give for the path
// of the same inode.
func TestByInode(t *testing.T) {
	for _, name := range []string{"ext4", "xattr-256"} {
		t.Run(name, func(t *testing.T) {
			fsys, _ := openFixture(t, name)
			n := 0
			err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				fi, err := d.Info()
				if err != nil {
					return err
				}
				if fi.Size() > 1<<20 {
					return nil
				}
				ino := fi.Sys().(*fsread.Stat).Ino
				want, err := fs.ReadFile(fsys, p)
				if err != nil {
					return err
				}
				f, err := fsys.OpenInode(ino, d.Name())
				if err != nil {
					return err
				}
				got, err := io.ReadAll(f)
				f.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: OpenInode(%d) read %d bytes, %v; Open read %d", p, ino, len(got), err, len(want))
				}
				wx, err := fsys.Xattrs(p)
				if err != nil {
					return err
				}
				gx, err := fsys.InodeXattrs(ino)
				if err != nil || fmt.Sprint(gx) != fmt.Sprint(wx) {
					t.Errorf("%s: InodeXattrs %v, %v; Xattrs %v", p, gx, err, wx)
				}
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("no files")
			}
		})
	}
	fsys, _ := openFixture(t, "ext4")
	for _, ino := range []uint64{0, 1 << 40} {
		if _, err := fsys.OpenInode(ino, ""); err == nil {
			t.Errorf("OpenInode(%d) gave no error", ino)
		}
		if _, err := fsys.InodeXattrs(ino); err == nil {
			t.Errorf("InodeXattrs(%d) gave no error", ino)
		}
	}
}
