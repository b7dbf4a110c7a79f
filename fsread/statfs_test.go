package fsread

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"vmsh/internal/tooltest"
)

// statfsImages are the fixtures StatFS is checked on: ext2 with 1 KiB
// blocks and reserved GDT blocks, ext3 and ext4 with journals needing
// replay, bigalloc, 128-byte inodes, inline data, large_dir and the
// others the kernel here mounts (not 64 KiB blocks on 4 KiB pages, not
// casefold without the utf8 tables, not the fast-commit image, which it
// refuses read-only).
var statfsImages = []string{
	"ext2-1k.img", "ext3-htree.img", "ext3-journal.img", "ext4-journal.img", "ext4.img", "feat-128.img",
	"feat-bigalloc.img", "feat-inline.img", "feat-misc.img", "xattr-128.img", "xattr-256.img", "largedir.ext4",
}

// TestStatFSLikeKernel compares StatFS with the kernel's statfs of each
// image mounted read-only through a loop device; the device is writable
// so that the kernel can replay a journal, on a copy of the image.
func TestStatFSLikeKernel(t *testing.T) {
	tooltest.NeedRoot(t, "a loop mount")
	tooltest.Need(t, "losetup", "mount", "umount")
	tmp := t.TempDir()
	for _, name := range statfsImages {
		t.Run(name, func(t *testing.T) {
			f, size, err := gunzipTo(t, filepath.Join("..", "testdata", name+".gz"), tmp)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fsys, err := Open(f, size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fsys.StatFS()
			if err != nil {
				t.Fatal(err)
			}
			mnt := tooltest.LoopMountReplaying(t, f.Name())
			var k syscall.Statfs_t
			if err := syscall.Statfs(mnt, &k); err != nil {
				t.Fatal(err)
			}
			want := StatFS{BlockSize: k.Bsize, Blocks: k.Blocks, FreeBlocks: k.Bfree, AvailBlocks: k.Bavail,
				Inodes: k.Files, FreeInodes: k.Ffree, Overhead: got.Overhead, Reserved: got.Reserved}
			if got != want {
				t.Errorf("StatFS %+v\nkernel  %+v", got, want)
			}
		})
	}
}

// gunzipTo decompresses a gzip file into tmp and opens the result.
func gunzipTo(t *testing.T, gz, tmp string) (*os.File, int64, error) {
	t.Helper()
	p := filepath.Join(tmp, filepath.Base(strings.TrimSuffix(gz, ".gz")))
	if err := os.WriteFile(p, tooltest.Gunzip(t, gz), 0o644); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	return f, fi.Size(), err
}

// TestStatFSBigallocComputed checks the overhead StatFS computes, as the
// kernel does, for a bigalloc filesystem whose superblock does not record
// it: mke2fs writes s_overhead_clusters, which the test clears.
func TestStatFSBigallocComputed(t *testing.T) {
	tooltest.NeedRoot(t, "a loop mount")
	tooltest.Need(t, "mke2fs", "losetup", "mount", "umount")
	for _, opts := range [][]string{
		{"-O", "bigalloc,^metadata_csum", "-C", "16384"},
		{"-O", "bigalloc,^metadata_csum,^flex_bg", "-C", "65536", "-b", "1024"},
		{"-O", "bigalloc,^metadata_csum,^has_journal", "-C", "32768", "-g", "4096"},
	} {
		img := filepath.Join(t.TempDir(), "ba.img")
		args := append([]string{"-q", "-F", "-t", "ext4"}, opts...)
		if out, err := exec.Command("mke2fs", append(args, img, "96M")...).CombinedOutput(); err != nil {
			t.Fatalf("mke2fs %v: %v\n%s", opts, err, out)
		}
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, 4), 1024+0x248); err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		fsys, err := Open(f, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		got, err := fsys.StatFS()
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-o", "ro,loop", img, mnt).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v: %s", err, out)
		}
		var k syscall.Statfs_t
		err = syscall.Statfs(mnt, &k)
		exec.Command("umount", mnt).Run()
		if err != nil {
			t.Fatal(err)
		}
		if got.Blocks != k.Blocks || got.FreeBlocks != k.Bfree || got.AvailBlocks != k.Bavail {
			t.Errorf("%v: blocks %d free %d avail %d (overhead %d), kernel %d %d %d", opts, got.Blocks, got.FreeBlocks, got.AvailBlocks, got.Overhead, k.Blocks, k.Bfree, k.Bavail)
		}
	}
}
