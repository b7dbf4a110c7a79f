package shell

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// completeAll runs the completer at the end of line.
func completeAll(s *Shell, line string) (string, []string) {
	head, got, _ := s.complete(line, len([]rune(line)))
	return head, got
}

type completeCase struct {
	line, head string
	want       []string
}

func checkCompletions(t *testing.T, s *Shell, tests []completeCase) {
	t.Helper()
	for _, tt := range tests {
		head, got := completeAll(s, tt.line)
		if head != tt.head || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("complete(%q) = %q %q, want %q %q", tt.line, head, got, tt.head, tt.want)
		}
	}
}

func TestCompleteCommandsAndFlags(t *testing.T) {
	s := New(&fakeUI{})
	s.Mount("/", guest())
	checkCompletions(t, s, []completeCase{
		{"hexd", "", []string{"hexdump "}},
		{"sha", "", []string{"sha1sum", "sha256sum", "sha512sum"}},
		{"  md", "  ", []string{"md5sum "}},
		{"ls; he", "ls; ", []string{"head", "help", "hexdump"}},
		{"help hexd", "help ", []string{"hexdump"}},
		{"stat --j", "stat ", []string{"--json "}},
		{"stat --", "stat ", []string{"--json "}},
		{"cat --", "cat ", nil},
		{"ls # /et", "ls # /et", nil},
	})
}

// TestCompletePathsReadBack completes names that need quoting and checks
// that the completed line names the file: the shell reads it back and cat
// prints the file.
func TestCompletePathsReadBack(t *testing.T) {
	names := []string{"my file", "it's", `say "hi"`, "semi;colon", "star*?[x]", "héllo wörld", "tab\there", "back\\slash", "$HOME", "-dash", "a>b|c!d"}
	fsys := fstest.MapFS{"d/.hidden": {Data: []byte("hidden\n")}}
	for _, n := range names {
		fsys["d/"+n] = &fstest.MapFile{Data: []byte("contents of " + n + "\n")}
		fsys["e/"+n+"/f"] = &fstest.MapFile{Data: []byte("f\n")}
	}
	s := New(&fakeUI{})
	s.Mount("/", fsys)
	for _, n := range names {
		// Type all but the last byte of the name, as a person would,
		// unquoted up to the first character that needs quoting.
		typed := n[:len(n)-1]
		for _, prefix := range []string{"cat /d/", "cat /d/'"} {
			line := prefix + quoteWord(typed)
			if prefix == "cat /d/'" {
				if strings.ContainsRune(typed, '\'') {
					continue
				}
				line = prefix + typed
			}
			head, got := completeAll(s, line)
			if len(got) != 1 || !strings.HasSuffix(got[0], " ") {
				t.Errorf("complete(%q) = %q %q, want one file", line, head, got)
				continue
			}
			out, errs, status := session(t, fsys, head+got[0])
			if out != "contents of "+n+"\n" || status != 0 {
				t.Errorf("complete(%q) = %q: cat printed %q, %q", line, head+got[0], out, errs)
			}
		}
		// Below a directory, its quoted name is kept in head. (A name
		// with a character the terminal cannot show is completed as a
		// pattern, which the shell expands but completion cannot list.)
		if quoteCompletion(n) != quoteWord(n) {
			continue
		}
		head, got := completeAll(s, "cat /e/"+quoteWord(n)+"/")
		if strings.Join(got, "|") != "f " {
			t.Errorf("complete in %q: %q %q", n, head, got)
			continue
		}
		if out, errs, _ := session(t, fsys, head+got[0]); out != "f\n" {
			t.Errorf("cat %s: %q %q", head+got[0], out, errs)
		}
	}
	checkCompletions(t, s, []completeCase{
		{`cat /d/my\ f`, "cat /d/", []string{`my\ file `}},
		{`cat "/d/my f`, "cat /d/", []string{`my\ file `}},
		{`cat /d/"my f"`, "cat /d/", []string{`my\ file `}},
		{"cat /d/tab", "cat /d/", []string{"tab?here "}},
		{"cat /d/.", "cat /d/", []string{".hidden "}},
		{"cat /d/s", "cat /d/", []string{`say\ \"hi\"`, `semi\;colon`, `star\*\?\[x\]`}},
		{"ls /", "ls /", []string{"d/", "e/"}},
		{"ls /nope/", "ls ", nil},
	})
}

// TestCompleteVolumes completes use's volume names on the sample disk and
// an LVM disk.
func TestCompleteVolumes(t *testing.T) {
	s := New(&fakeUI{})
	for _, name := range []string{"sample.img.gz", "lvm-gpt.img.gz"} {
		data := gunzipTestdata(t, name)
		s.AddDisk(name, bytes.NewReader(data), int64(len(data)))
	}
	s.MountGuest()
	checkCompletions(t, s, []completeCase{
		{"use sda", "use ", []string{"sda", "sda1", "sda2", "sda3"}},
		{"use sdb", "use ", []string{"sdb", "sdb1", "sdb2"}},
		{"use LABEL=ro", "use ", []string{"LABEL=root "}},
		{"use UUID=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e01", "use ", []string{"UUID=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e01 "}},
		{"use /dev/vg0/r", "use ", []string{"/dev/vg0/root "}},
		{"use vg0-", "use ", []string{"vg0-home", "vg0-root", "vg0-swap", "vg0-var"}},
		{"use nope", "use ", nil},
	})
	// What was completed is what use accepts.
	for _, spec := range []string{"sda2", "LABEL=root", "/dev/vg0/root", "vg0-var", "UUID=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e01"} {
		if _, err := s.findVolume(spec); err != nil {
			t.Errorf("use %s: %v", spec, err)
		}
	}
}

// TestCompleteLocal completes host commands and host paths after |, ! and
// > as the local shell and the redirection will read them.
func TestCompleteLocal(t *testing.T) {
	bin := t.TempDir()
	for name, mode := range map[string]os.FileMode{"zqtool": 0o755, "zqtool2": 0o700, "zqdata": 0o644} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(bin, "zqdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin2 := t.TempDir()
	os.Symlink(filepath.Join(bin, "zqtool"), filepath.Join(bin2, "zqlink"))
	os.Symlink(filepath.Join(bin, "zqtool"), filepath.Join(bin2, "zqtool")) // found twice, listed once
	// The tools are named so that nothing else on $PATH starts the same.
	t.Setenv("PATH", strings.Join([]string{bin, bin2, os.Getenv("PATH")}, string(filepath.ListSeparator)))

	local := t.TempDir()
	for _, p := range []string{"out file.txt", "other.log", "sub dir/inner", ".dot"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(local, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(local, p), []byte(p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.WriteFile(filepath.Join(home, "in-home.txt"), nil, 0o644)

	s := New(&fakeUI{})
	s.Mount("/", guest())
	s.localDir = local
	checkCompletions(t, s, []completeCase{
		// After |: commands on $PATH, executable files only, each once.
		{"cat /etc/passwd | zq", "cat /etc/passwd | ", []string{"zqlink", "zqtool", "zqtool2"}},
		{"cat /etc/passwd |zqt", "cat /etc/passwd |", []string{"zqtool", "zqtool2"}},
		{"ls | zqtool2", "ls | ", []string{"zqtool2 "}},
		{"ls | zqdat", "ls | ", nil},
		// ... then local paths, in the local directory.
		{"ls | zqtool o", "ls | zqtool ", []string{`other.log`, `out\ file.txt`}},
		{"ls | zqtool ou", "ls | zqtool ", []string{`out\ file.txt `}},
		{"ls | zqtool 'sub d", "ls | zqtool ", []string{`sub\ dir/`}},
		{`ls | zqtool sub\ dir/`, `ls | zqtool sub\ dir/`, []string{"inner "}},
		{"ls | zqtool ~/in", "ls | zqtool ~/", []string{"in-home.txt "}},
		{"ls | zqtool .", "ls | zqtool ", []string{".dot "}},
		// A new command of the local command line: commands again.
		{"ls | zqtool x | zql", "ls | zqtool x | ", []string{"zqlink "}},
		{"ls | zqtool x && zql", "ls | zqtool x && ", []string{"zqlink "}},
		{"ls | zqtool x > ou", "ls | zqtool x > ", []string{`out\ file.txt `}},
		// A leading !.
		{"!zql", "!", []string{"zqlink "}},
		{"! zql", "! ", []string{"zqlink "}},
		{"!zqtool ou", "!zqtool ", []string{`out\ file.txt `}},
		{"pwd; !zql", "pwd; !", []string{"zqlink "}},
		{"cat a!zql", "cat ", nil},
		// After > and >>: local paths, then guest paths again after ;.
		{"cat /etc/passwd > ou", "cat /etc/passwd > ", []string{`out\ file.txt `}},
		{"cat /etc/passwd >ou", "cat /etc/passwd >", []string{`out\ file.txt `}},
		{"cat /etc/passwd >> 'out f", "cat /etc/passwd >> ", []string{`out\ file.txt `}},
		{"cat /etc/passwd > sub\\ dir/", "cat /etc/passwd > sub\\ dir/", []string{"inner "}},
		{"cat /etc/passwd > x /et", "cat /etc/passwd > x /", []string{"etc/"}},
		{"ls | zqtool; cat /et", "ls | zqtool; cat /", []string{"etc/"}},
		{"ls > x; cat /et", "ls > x; cat /", []string{"etc/"}},
		// lcd: local directories only.
		{"lcd ", "lcd ", []string{`sub\ dir/`}},
		{"lcd s", "lcd ", []string{`sub\ dir/`}},
		{"lcd o", "lcd ", nil},
	})

	// The redirection reads the completed name back.
	head, got := completeAll(s, "cat /etc/passwd > ou")
	cmds, err := parseLine(head + got[0])
	if err != nil || len(cmds) != 1 || len(cmds[0]) != 4 || cmds[0][2].op != ">" || cmds[0][3].text != "out file.txt" {
		t.Errorf("parseLine(%q) = %+v, %v", head+got[0], cmds, err)
	}
	// And sh reads back what follows |.
	out, errs, _ := localSession(t, guest(), local, "cat /etc/passwd | "+strings.TrimPrefix(completeHead(s, "cat /etc/passwd | cat ou"), "cat /etc/passwd | "))
	if out != "out file.txt\n" || errs != "" {
		t.Errorf("cat of the completed name: %q %q", out, errs)
	}
}

// completeHead returns line with its last word completed (the only
// completion).
func completeHead(s *Shell, line string) string {
	head, got := completeAll(s, line)
	if len(got) != 1 {
		return line
	}
	return head + got[0]
}

// TestParseLineUTF8 checks that names typed with non-ASCII letters reach
// the command unchanged, quoted or not.
func TestParseLineUTF8(t *testing.T) {
	for _, line := range []string{"cat héllo日本", "cat 'héllo日本'", `cat "héllo日本"`, `cat héllo\日本`} {
		cmds, err := parseLine(line)
		if err != nil || len(cmds) != 1 || len(cmds[0]) != 2 || cmds[0][1].text != "héllo日本" {
			t.Errorf("parseLine(%q) = %+v, %v", line, cmds, err)
		}
	}
}
