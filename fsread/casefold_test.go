package fsread

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// TestCasefold looks names up in the casefold fixture, where only the
// directory "fold" has the casefold flag.
func TestCasefold(t *testing.T) {
	f, err := openPatched(fixture(t, "feat-casefold"), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"fold/README", true},
		{"fold/readme", true},
		{"fold/ReadMe", true},
		{"fold/mixed.txt", true},
		{"fold/MIXED.TXT", true},
		{"fold/ärger-ωmega", true},
		{"fold/ÄRGER-ΩMEGA", true},
		{"fold/SUB/lower", true},  // fold is casefold
		{"fold/Sub/LOWER", false}, // Sub is not
		{"fold/readme.", false},
		{"FOLD/README", false}, // the root is not casefold
		{"Exact", true},
		{"exact", false},
		{"HELLO.txt", false},
	} {
		_, err := f.Stat(c.name)
		if got := err == nil; got != c.ok {
			t.Errorf("Stat(%q): %v, want found %v", c.name, err, c.ok)
		}
		if !c.ok && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q): %v, want not found", c.name, err)
		}
	}
	b, err := fs.ReadFile(f, "fold/readme")
	if err != nil || string(b) != "readme\n" {
		t.Errorf("fold/readme: %q, %v", b, err)
	}
	// Listings keep the stored names.
	ents, err := f.ReadDir("fold")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "MiXeD.Txt README Sub Ärger-Ωmega" {
		t.Errorf("fold lists %q", got)
	}
}

// TestEncrypted builds a filesystem with an encrypted directory through
// the kernel (e4crypt, a read-write loop mount): names are listed as
// base64 of the stored bytes and can be opened again; contents are
// refused with an error naming the file.
func TestEncrypted(t *testing.T) {
	needTools(t, "mke2fs", "e4crypt", "mount", "umount")
	if os.Geteuid() != 0 {
		tooltest.SkipOrFail(t, "needs root for a loop mount")
	}
	img := mkfs(t, "", "8M", "-t", "ext4", "-O", "encrypt,^has_journal")
	mnt := t.TempDir()
	run := func(name string, args ...string) error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Logf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return err
	}
	if run("mount", "-o", "loop", img, mnt) != nil {
		t.Skip("cannot mount an encrypt filesystem here")
	}
	mounted := true
	defer func() {
		if mounted {
			run("umount", mnt)
		}
	}()
	secret := filepath.Join(mnt, "secret")
	os.Mkdir(secret, 0o755)
	cmd := exec.Command("e4crypt", "add_key", "-S", "0x0123456789abcdef", secret)
	cmd.Stdin = strings.NewReader("passphrase\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("e4crypt add_key: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(secret, "plain-name.txt"), []byte("secret contents\n"), 0o644)
	os.Mkdir(filepath.Join(secret, "subdir"), 0o755)
	writeFile(t, filepath.Join(mnt, "clear.txt"), []byte("clear\n"), 0o644)
	if err := run("umount", mnt); err != nil {
		t.Fatal(err)
	}
	mounted = false

	fsys := openImage(t, img)
	ents, err := fsys.ReadDir("secret")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Fatalf("secret has %d entries", len(ents))
	}
	files := 0
	for _, e := range ents {
		if strings.Contains(e.Name(), "plain-name") || strings.Contains(e.Name(), "subdir") {
			t.Errorf("name %q is not encrypted", e.Name())
		}
		p := "secret/" + e.Name()
		if _, err := fsys.Stat(p); err != nil {
			t.Errorf("Stat(%q): %v", p, err)
		}
		if e.IsDir() {
			if _, err := fsys.ReadDir(p); err != nil {
				t.Errorf("ReadDir(%q): %v", p, err)
			}
			continue
		}
		files++
		_, err := fsys.Open(p)
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "encrypted") {
			t.Errorf("Open(%q): %v", p, err)
		}
		t.Logf("Open: %v", err)
	}
	if files != 1 {
		t.Errorf("%d files in secret", files)
	}
	if b, err := fs.ReadFile(fsys, "clear.txt"); err != nil || string(b) != "clear\n" {
		t.Errorf("clear.txt: %q, %v", b, err)
	}
}
