package shell

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestPagerCommand checks how less decides to page: only on a terminal,
// with $PAGER first, then less, then more, else not at all.
func TestPagerCommand(t *testing.T) {
	env := func(pager string) func(string) string {
		return func(k string) string {
			if k == "PAGER" {
				return pager
			}
			return ""
		}
	}
	have := func(tools ...string) func(string) (string, error) {
		return func(name string) (string, error) {
			for _, t := range tools {
				if t == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", errors.New("not found")
		}
	}
	tests := []struct {
		tty   bool
		pager string
		tools []string
		want  string
	}{
		{false, "most", []string{"less"}, ""},
		{true, "most -s", []string{"less"}, "most -s"},
		{true, "", []string{"less", "more"}, "less"},
		{true, "", []string{"more"}, "more"},
		{true, "", nil, ""},
	}
	for _, tt := range tests {
		if got := pagerCommand(tt.tty, env(tt.pager), have(tt.tools...)); got != tt.want {
			t.Errorf("tty %v PAGER %q tools %v: %q, want %q", tt.tty, tt.pager, tt.tools, got, tt.want)
		}
	}
}

// TestLessPages runs the pager the way less does on a terminal, with a
// pager that records what it is given, and checks that less is cat when
// output is not a terminal.
func TestLessPages(t *testing.T) {
	dir := t.TempDir()
	ui := &fakeUI{}
	s := New(ui)
	s.Mount("/", guest())
	s.localDir = dir
	x := &Call{Shell: s, Ctx: context.Background(), Name: "less", Out: &ui.out}
	rec := filepath.Join(dir, "seen")
	if err := x.page([]string{"/etc/a.conf", "/nope", "/etc/b.conf", "/etc"}, "cat > seen; echo paged"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "A\nB\n" || ui.out.String() != "paged\n" {
		t.Errorf("pager read %q and wrote %q", got, ui.out.String())
	}
	if !strings.Contains(ui.err.String(), "/nope: no such file") || !strings.Contains(ui.err.String(), "/etc: is a directory") {
		t.Errorf("stderr %q", ui.err.String())
	}
	// A pager that quits at once does not hang or fail less.
	big := strings.Repeat("x", 4<<20)
	ui2 := &fakeUI{}
	s2 := New(ui2)
	s2.Mount("/", fstest.MapFS{"big": {Data: []byte(big)}})
	x2 := &Call{Shell: s2, Ctx: context.Background(), Name: "less", Out: &ui2.out}
	if err := x2.page([]string{"/big"}, "head -c 10"); err != nil || ui2.out.String() != "xxxxxxxxxx" || ui2.err.String() != "" {
		t.Errorf("quitting pager: %v, out %q, err %q", err, ui2.out.String(), ui2.err.String())
	}

	t.Setenv("PAGER", "echo should not run")
	out, errs, status := session(t, guest(), "less /etc/a.conf /etc/b.conf", "more /etc/a.conf")
	if out != "A\nB\nA\n" || errs != "" || status != 0 {
		t.Errorf("less without a terminal: %q %q %d", out, errs, status)
	}
}
