package shell

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/tooltest"
)

// xattrImage decompresses the fixture testdata/NAME.img.gz into a file.
func xattrImage(t *testing.T, name string) string {
	t.Helper()
	in, err := os.Open(filepath.Join("..", "testdata", name+".img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), name+".img")
	out, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

func openXattrFS(t *testing.T, img string) *fsread.FS {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, _ := f.Stat()
	fsys, err := fsread.Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

func TestGetfattr(t *testing.T) {
	fsys := openXattrFS(t, xattrImage(t, "xattr-256"))
	tests := []struct{ cmd, out, err string }{
		{"cd /; getfattr small.txt", "# file: small.txt\nuser.bin\nuser.comment\nuser.empty\nuser.quote\nuser.text-nul\n\n", ""},
		{"cd /; getfattr -d small.txt",
			"# file: small.txt\nuser.bin=0sAP8BEA==\nuser.comment=\"hello\"\nuser.empty=\"\"\nuser.quote=\"a \\\"quoted\\\" \\\\ value\"\nuser.text-nul=\"hi nul\"\n\n", ""},
		{"cd /; getfattr -n user.comment -e hex small.txt", "# file: small.txt\nuser.comment=0x68656c6c6f\n\n", ""},
		{"getfattr -d -m - -e base64 /security.txt",
			"# file: security.txt\nsecurity.selinux=0sc3lzdGVtX3U6b2JqZWN0X3I6ZXRjX3Q6czAA\ntrusted.md5=0sASNFZ4mrze8BI0VniavN7w==\ntrusted.overlay.opaque=0seQ==\n\n",
			"vmsh: getfattr: Removing leading '/' from absolute path names\n"},
		{"cd /; getfattr plain.txt", "", ""},
		{"cd /; getfattr -h -d -m trusted link", "# file: link\ntrusted.symlink=\"on the link itself\"\n\n", ""},
		{"cd /; getfattr -d -m trusted link", "", ""},
		{"cd /; getfattr -n user.nope small.txt", "", "vmsh: getfattr small.txt: user.nope: No such attribute\n"},
		{"cd /; getfattr -e bad small.txt", "", "x"},
	}
	for _, tc := range tests {
		out, errs, _ := session(t, fsys, tc.cmd)
		if out != tc.out || (tc.err != "x" && errs != tc.err) || (tc.err == "x" && errs == "") {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q, want %q", tc.cmd, out, tc.out, errs, tc.err)
		}
	}
}

func TestGetfaclAndStat(t *testing.T) {
	fsys := openXattrFS(t, xattrImage(t, "xattr-128"))
	out, errs, _ := session(t, fsys, "cd /; getfacl -n acl-masked.txt dir plain.txt")
	want := "# file: acl-masked.txt\n# owner: 0\n# group: 0\nuser::rw-\nuser:1000:rwx\t#effective:r--\ngroup::r--\ngroup:100:rwx\t#effective:r--\nmask::r--\nother::r--\n\n" +
		"# file: dir\n# owner: 0\n# group: 0\nuser::rwx\nuser:1000:rwx\ngroup::r-x\nmask::rwx\nother::r-x\n" +
		"default:user::rwx\ndefault:user:1000:rwx\ndefault:group::r-x\ndefault:group:100:r-x\ndefault:mask::rwx\ndefault:other::r-x\n\n" +
		"# file: plain.txt\n# owner: 0\n# group: 0\n# flags: s--\nuser::rwx\ngroup::r-x\nother::r-x\n\n"
	if out != want || errs != "" {
		t.Errorf("getfacl:\n%s\nwant\n%s\nstderr %q", out, want, errs)
	}
	out, _, _ = session(t, fsys, "stat /security.txt")
	if !strings.Contains(out, "\nXattrs: security.selinux trusted.md5 trusted.overlay.opaque\nContext: system_u:object_r:etc_t:s0\n") {
		t.Errorf("stat:\n%s", out)
	}
}

// TestXattrToolsAgree compares getfattr and getfacl with the real tools on
// a kernel mount of the same images.
func TestXattrToolsAgree(t *testing.T) {
	tooltest.NeedRoot(t, "a loop mount")
	tooltest.Need(t, "mount", "umount", "getfattr", "getfacl")
	for _, name := range []string{"xattr-128", "xattr-256"} {
		t.Run(name, func(t *testing.T) {
			img := xattrImage(t, name)
			mnt := tooltest.LoopMount(t, img)
			ents, err := os.ReadDir(mnt)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, e := range ents {
				paths = append(paths, e.Name())
			}
			paths = append(paths, "dir/sub", "dir/sub/deep.txt", "dir/inherited.txt")
			fsys := openXattrFS(t, img)
			for _, args := range [][]string{
				{"getfattr", "-d"},
				{"getfattr", "-d", "-m", "-", "-e", "hex"},
				{"getfattr", "-d", "-m", "-"},
				{"getfattr", "-h", "-m", "-"},
				{"getfattr", "-h", "-d", "-m", "^(user|trusted|security)\\.", "-e", "base64"},
				{"getfattr", "-n", "user.comment"},
				{"getfacl", "-n"},
			} {
				for _, p := range paths {
					cmd := exec.Command(args[0], append(args[1:], p)...)
					cmd.Dir = mnt
					want, _ := cmd.Output()
					line := args[0] + " " + strings.Join(shellQuote(args[1:]), " ") + " '" + p + "'"
					got, _, _ := session(t, fsys, "cd /; "+line)
					if got != string(want) {
						t.Errorf("%s:\nvmsh:\n%s\n%s:\n%s", line, got, args[0], want)
					}
				}
			}
		})
	}
}

func shellQuote(args []string) []string {
	var out []string
	for _, a := range args {
		if a == "-" || strings.HasPrefix(a, "-") {
			out = append(out, a)
		} else {
			out = append(out, "'"+a+"'")
		}
	}
	return out
}
