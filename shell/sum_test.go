package shell

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestSumsLikeCoreutils(t *testing.T) {
	files := map[string]string{}
	for k, v := range viewFiles {
		files[k] = v
	}
	files[`back\slash`] = "x"
	files["new\nline"] = "y"
	dir := writeTree(t, files)
	for _, tool := range []string{"md5sum", "sha1sum", "sha256sum", "sha512sum"} {
		sameAsTool(t, dir, tool+" empty one big zeros sub/f", tool, "empty", "one", "big", "zeros", "sub/f")
		sameAsTool(t, dir, tool+` back\\slash 'new`+"\n"+`line'`, tool, `back\slash`, "new\nline")
		sameAsTool(t, dir, tool+" one nope sub zeros", tool, "one", "nope", "sub", "zeros")
	}
}

func TestSums(t *testing.T) {
	fsys := fstest.MapFS{"a": {Data: []byte("abc")}, "d/x": {}}
	out, errs, status := session(t, fsys, "md5sum a d /a; sha256sum *")
	want := "900150983cd24fb0d6963f7d28e17f72  a\n900150983cd24fb0d6963f7d28e17f72  /a\n" +
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a\n"
	if out != want || status != 1 || !strings.Contains(errs, "md5sum d: is a directory") || !strings.Contains(errs, "sha256sum d: is a directory") {
		t.Errorf("stdout %q\nwant   %q\nstderr %q status %d", out, want, errs, status)
	}
}
