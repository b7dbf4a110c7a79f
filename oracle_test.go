package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"vmsh/internal/tooltest"

	"vmsh/internal/fixturetest"
)

// oracleTools are the programs testdata/mkfixtures.sh runs.
var oracleTools = []string{
	"bash", "mount", "umount", "mountpoint", "mke2fs", "e2fsck", "debugfs",
	"sgdisk", "sfdisk", "mkswap", "blkid", "sha256sum", "gzip",
	"setfattr", "getfattr", "setfacl", // testdata/mkxattr.sh
	"tune2fs", // testdata/mkfeatures.sh
	"losetup", "unshare", "pvcreate", "vgcreate", "lvcreate", "lvextend", "lvrename",
	"lvremove", "lvs", "pvs", "vgs", "vgcfgbackup", "vgcfgrestore",
	"thin_restore", "thin_dump", // testdata/mklvm.sh
	"mkfs.vfat", "fsck.vfat", "mcopy", "mdir", // testdata/mkguest.sh
}

// TestKernelOracle builds fresh images with testdata/mkfixtures.sh, which
// lists every filesystem in them through the Linux kernel (read-only loop
// mounts), and compares vmsh's reading of each image (partition.Read,
// fsread.Open, and lvm for the LVM2 images, against lvm2's own reports)
// with those listings.
//
// It needs root, loop devices and the tools in oracleTools; without them it
// is skipped, unless VMSH_REQUIRE_TOOLS=1, when it fails instead. It is
// skipped in -short mode (CI's race run): building every image takes
// minutes of tool time and no Go code, and the committed images go through
// the same readers there (fsread's TestFixtures). VMSH_ORACLE_QUICK=1 builds
// smaller big directories; VMSH_ORACLE_ONLY="name ..." limits the run to
// some images.
func TestKernelOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full run rebuilds every fixture and compares it with the kernel")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (loop mounts, mknod, chown)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		missing = append(missing, "loop devices (/dev/loop-control)")
	}
	for _, tool := range oracleTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		tooltest.SkipOrFail(t, "kernel oracle needs %s", strings.Join(missing, ", "))
	}

	dir := t.TempDir()
	cmd := exec.Command("bash", "testdata/mkfixtures.sh", dir)
	cmd.Env = append(os.Environ(), "MKFIXTURES_NOGZIP=1")
	if os.Getenv("VMSH_ORACLE_QUICK") == "1" {
		cmd.Env = append(cmd.Env, "MKFIXTURES_QUICK=1")
	}
	if only := os.Getenv("VMSH_ORACLE_ONLY"); only != "" {
		cmd.Env = append(cmd.Env, "MKFIXTURES_ONLY="+only)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testdata/mkfixtures.sh: %v\n%s", err, out)
	}
	t.Logf("mkfixtures.sh built the images in %v", time.Since(start).Round(time.Second))

	names, err := fixturetest.Images(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("mkfixtures.sh made no images")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fixturetest.CheckImage(t, dir, name)
		})
	}
}
