package shell

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

// FuzzGuestFiles feeds inspection's parsers the guest files they read:
// os-release, hostname, fstab, an ELF header behind a chain of symlinks
// whose first target is fuzzed too. None may panic or loop.
func FuzzGuestFiles(f *testing.F) {
	f.Add([]byte("NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nPRETTY_NAME='Ubuntu 24.04.1 LTS'\n"),
		[]byte("UUID=\"x\" / ext4 defaults 0 1\n/dev/vda2\t/boot ext4 ro 0 2\nLABEL=a\\040b /mnt/a\\040b xfs noauto\n"),
		[]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00\x01\x00\x00\x00"), "usr/bin")
	f.Add([]byte("ID=alpine\\\n"), []byte("#\n\n a"), []byte("\x7fELF\x01\x02"), "/bin")
	f.Add([]byte("\"\\"), []byte("\\0\\777 \\ x"), []byte{}, "../../..")
	f.Fuzz(func(t *testing.T, release, fstab, elf []byte, link string) {
		link = "x" + link // a symlink's target is never empty
		fsys := fstest.MapFS{
			"etc/os-release": {Data: release},
			"etc/hostname":   {Data: release},
			"etc/fstab":      {Data: fstab},
			"usr/bin/dash":   {Data: elf},
			"usr/bin/sh":     {Data: []byte("dash"), Mode: fs.ModeSymlink | 0o777},
			"bin":            {Data: []byte(link), Mode: fs.ModeSymlink | 0o777},
			"xbin":           {Data: []byte("bin"), Mode: fs.ModeSymlink | 0o777},
		}
		tree := rootTree(nil, fsys)
		readRelease(tree)
		readHostname(tree)
		guestArch(tree)
		elfArch(elf)
		for _, e := range parseFstab(string(fstab)) {
			e.quiet()
		}
		parseShellVars(string(release))
	})
}
