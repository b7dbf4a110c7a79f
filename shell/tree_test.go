package shell

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// TestTreeMatchesTree compares tree with tree(1) on a kernel mount of the
// ext4 fixture: the drawing, the order of the names (bytewise, as tree
// sorts in a UTF-8 locale), symlinks and their targets, names with spaces
// and non-ASCII letters, -a, -L, several paths, a file and a missing path
// given as the path, and the count of directories and files.
func TestTreeMatchesTree(t *testing.T) {
	tooltest.Need(t, "tree")
	img := xattrImage(t, "ext4")
	mnt := tooltest.LoopMount(t, img)
	fsys := openXattrFS(t, img)
	for _, args := range [][]string{
		{},
		{"-a"},
		{"-L", "1"},
		{"-L", "2", "links", "names"},
		{"-a", "-L", "3", "special", "modes", "times"},
		{"deep"},
		{"links/to-dir"},
		{"hello.txt"},
		{"nope"},
		{"hello.txt", "nope", "links"},
	} {
		cmd := exec.Command("tree", args...)
		cmd.Dir = mnt
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		var want bytes.Buffer
		cmd.Stdout = &want
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("tree: %v", err)
		}
		line := strings.TrimSpace("tree " + quoteArgs(args))
		got, errs, status := session(t, fsys, "cd /; "+line)
		if got != want.String() {
			gl, wl := strings.Split(got, "\n"), strings.Split(want.String(), "\n")
			for i := 0; i < len(gl) || i < len(wl); i++ {
				var g, w string
				if i < len(gl) {
					g = gl[i]
				}
				if i < len(wl) {
					w = wl[i]
				}
				if g != w {
					t.Errorf("%s: line %d differs:\nvmsh    %q\ntree(1) %q", line, i+1, g, w)
					break
				}
			}
		}
		if (status != 0) != (err != nil) {
			t.Errorf("%s: status %d, tree(1): %v; stderr %q", line, status, err, errs)
		}
	}
}
