package tooltest

import (
	"os/exec"
	"strings"
	"testing"
)

// LoopMount mounts the filesystem image img read-only through a read-only
// loop device, for the length of the test, and returns the mount point.
// It needs root and mount; without them, or where the kernel cannot mount
// the image, the test skips (fails with VMSH_REQUIRE_TOOLS=1).
func LoopMount(t testing.TB, img string) string {
	t.Helper()
	NeedRoot(t, "a loop mount")
	Need(t, "mount", "umount")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "ro,loop", img, mnt).CombinedOutput(); err != nil {
		SkipOrFail(t, "mount -o ro,loop: %v: %s", err, out)
	}
	unmountAtEnd(t, mnt)
	return mnt
}

// LoopMountReplaying is LoopMount through a writable loop device, mounted
// read-only: the kernel then replays a journal as it mounts, writing to
// img, which should be a copy.
func LoopMountReplaying(t testing.TB, img string) string {
	t.Helper()
	NeedRoot(t, "a loop mount")
	Need(t, "losetup", "mount", "umount")
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		SkipOrFail(t, "losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "ro", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", dev, err, out)
	}
	unmountAtEnd(t, mnt)
	return mnt
}

// unmountAtEnd unmounts mnt when the test ends, before its directory is
// removed, and fails the test if that fails.
func unmountAtEnd(t testing.TB, mnt string) {
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
}
