package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

// A terminal is vmsh running in a tmux pane of its own tmux server, driven
// as a person would: keys in, the screen read back.
type terminal struct {
	t    *testing.T
	sock string
}

// startTerminal starts bin with args in a new 100x30 tmux pane, in dir,
// with env (NAME=value) added to a small fixed environment: HOME (a new
// directory unless env names one), TZ=UTC, TERM=xterm.
func startTerminal(t *testing.T, dir string, env []string, args ...string) *terminal {
	t.Helper()
	tooltest.Need(t, "tmux")
	bin := vmshBinary(t)
	term := &terminal{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	// noflsh: on Ctrl-C the kernel would flush the terminal's output
	// queue, and a writer asleep on a full pty buffer is then sometimes
	// not woken (seen about once in twenty runs of a cat to the pane),
	// which would make TestInteractiveInterrupt fail for the kernel's
	// reasons, not vmsh's.
	cmd := []string{"sh", "-c", `stty noflsh && exec "$@"`, "sh", "env", "-i", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_STATE_HOME=", "TZ=UTC", "TERM=xterm", "LANG=C.UTF-8"}
	cmd = append(cmd, env...)
	cmd = append(cmd, bin)
	cmd = append(cmd, args...)
	term.tmux(append([]string{"-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "-c", dir}, cmd...)...)
	t.Cleanup(func() { exec.Command("tmux", "-S", term.sock, "kill-server").Run() })
	return term
}

// tmux runs a tmux command on the terminal's server.
func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", term.sock}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// send types keys: text, or tmux key names such as Tab, Enter, Up, C-c.
func (term *terminal) send(keys ...string) {
	term.t.Helper()
	term.tmux(append([]string{"send-keys", "--"}, keys...)...)
}

// screen returns what the pane shows.
func (term *terminal) screen() string {
	term.t.Helper()
	return term.tmux("capture-pane", "-p", "-N")
}

// waitFor waits until the screen shows what, and returns the screen.
func (term *terminal) waitFor(what string) string {
	term.t.Helper()
	return term.waitUntil(what, func(s string) bool { return strings.Contains(s, what) })
}

// waitUntil waits until ok holds for the screen, and returns the screen;
// what names the wait in the failure message.
func (term *terminal) waitUntil(what string, ok func(screen string) bool) string {
	term.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := term.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("%q never appeared; screen:\n%s", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastLine returns the last line of the screen that is not empty.
func lastLine(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	return lines[len(lines)-1]
}

// waitExit waits for vmsh to end, which ends the tmux session.
func (term *terminal) waitExit() {
	term.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("tmux", "-S", term.sock, "has-session").Run() == nil {
		if time.Now().After(deadline) {
			term.t.Fatalf("vmsh did not exit:\n%s", term.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInteractive drives vmsh in a real terminal through tmux: completion
// with Tab, a command's output, the prompt, and Ctrl-D to leave.
func TestInteractive(t *testing.T) {
	home := t.TempDir()
	term := startTerminal(t, t.TempDir(), []string{"HOME=" + home})
	term.waitFor("vmsh:/>")
	term.send("ls /et", "Tab")
	term.waitFor("vmsh:/> ls /etc/")
	term.send("Enter")
	s := term.waitFor("fstab")
	if !strings.Contains(s, "hostname") || !strings.Contains(s, "passwd") {
		t.Errorf("ls /etc in columns:\n%s", s)
	}
	term.send("cd /ho", "Tab")
	term.waitFor("vmsh:/> cd /home/")
	term.send("al", "Tab", "Enter")
	term.waitFor("vmsh:/home/alice>")
	term.send("cat no", "Tab", "Enter")
	term.waitFor("call Bob about the cluster")
	term.send("frob", "Enter")
	term.waitFor("vmsh: frob: unknown command (try help)")
	// Ctrl-C cancels the line being typed.
	term.send("this is not run", "C-c")
	term.send("pwd", "Enter")
	term.waitFor("\n/home/alice\n")
	if strings.Contains(term.screen(), "vmsh: this: unknown command") {
		t.Error("Ctrl-C did not cancel the line")
	}
	term.send("C-d")
	term.waitExit()
	hist, err := os.ReadFile(filepath.Join(home, ".vmsh_history"))
	if err != nil || !strings.Contains(string(hist), "cat notes.txt") {
		t.Errorf("history: %q %v", hist, err)
	}
}

// TestInteractiveCompletion completes, with Tab, a command name, a path, a
// path with spaces and non-ASCII letters, a local file after > and a local
// command after |, and runs each completed line.
func TestInteractiveCompletion(t *testing.T) {
	img := fixture(t, "ext4")
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "vmshtestupper"), []byte("#!/bin/sh\ntr a-z A-Z\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "out file.txt"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	term := startTerminal(t, local, []string{"PATH=" + bin + string(filepath.ListSeparator) + os.Getenv("PATH")}, img)
	term.waitFor("vmsh:/>")

	// A command: the only one starting so, and a space after it.
	term.send("hexd", "Tab")
	term.waitFor("vmsh:/> hexdump ")
	term.send("-C /hel", "Tab")
	term.waitFor("vmsh:/> hexdump -C /hello.txt ")
	term.send("Enter")
	term.waitFor("|hello, ext4.|")

	// A path with a space and non-ASCII letters comes out escaped, and
	// the shell reads it back.
	term.send("cat /names/hé", "Tab")
	term.waitFor(`vmsh:/> cat /names/héllo\ wörld.txt `)
	term.send("Enter")
	term.waitFor("\nunicode\n")
	term.send(`cat /names/\ `, "Tab")
	term.waitFor(`vmsh:/> cat /names/\ leading\ space `)
	term.send("Enter")
	term.waitFor("\nspace\n")
	// In a directory, the directory part stays as typed, quoted.
	term.send("cat '/names/", "Tab")
	term.send("C-c")
	term.send("cd /names", "Enter")
	term.waitFor("vmsh:/names>")
	term.send("cat hé", "Tab", "Enter")
	term.waitUntil("a second unicode", func(s string) bool { return strings.Count(s, "\nunicode\n") == 2 })

	// After >, a local file in the local directory; after |, a local
	// command from $PATH.
	term.send("cat /hello.txt > ou", "Tab")
	term.waitFor(`vmsh:/names> cat /hello.txt > out\ file.txt `)
	term.send("Enter")
	term.waitUntil("the prompt after >", func(s string) bool {
		return strings.HasSuffix(lastLine(s), "vmsh:/names>") && strings.Contains(s, "out\\ file.txt \n")
	})
	if b, err := os.ReadFile(filepath.Join(local, "out file.txt")); err != nil || string(b) != "hello, ext4\n" {
		t.Errorf("cat /hello.txt > out\\ file.txt wrote %q, %v", b, err)
	}
	term.send("cat /hello.txt | vmshtestup", "Tab")
	term.waitFor("vmsh:/names> cat /hello.txt | vmshtestupper ")
	term.send("Enter")
	term.waitFor("\nHELLO, EXT4\n")
}

// TestInteractiveHistory recalls earlier commands with the Up arrow, in
// the session and in the next one, from the history file.
func TestInteractiveHistory(t *testing.T) {
	home := t.TempDir()
	env := []string{"HOME=" + home}
	term := startTerminal(t, t.TempDir(), env)
	term.waitFor("vmsh:/>")
	term.send("cat /etc/hostname", "Enter")
	term.waitFor("\nsample\n")
	term.send("pwd", "Enter")
	term.waitFor("\n/\n")
	term.send("Up", "Up")
	term.waitUntil("cat recalled", func(s string) bool { return lastLine(s) == "vmsh:/> cat /etc/hostname" })
	term.send("Enter")
	term.waitUntil("a second sample", func(s string) bool { return strings.Count(s, "\nsample\n") == 2 })
	term.send("ls /boot", "Enter")
	term.waitFor("vmlinuz-6.1.0-sample")
	term.send("C-d")
	term.waitExit()

	// The next session has them too, the last first.
	term = startTerminal(t, t.TempDir(), env)
	term.waitFor("vmsh:/>")
	term.send("Up")
	term.waitUntil("ls recalled", func(s string) bool { return lastLine(s) == "vmsh:/> ls /boot" })
	term.send("Up")
	term.waitUntil("cat recalled", func(s string) bool { return lastLine(s) == "vmsh:/> cat /etc/hostname" })
	term.send("Enter")
	term.waitFor("\nsample\n")
}

// TestInteractiveInterrupt stops a long cat with Ctrl-C: the prompt comes
// back and the next command runs. The file is the ext4 fixture's sparse
// file of over 4 GiB, which takes a terminal more than a minute to show.
func TestInteractiveInterrupt(t *testing.T) {
	img := fixture(t, "ext4")
	term := startTerminal(t, t.TempDir(), nil, img)
	term.waitFor("vmsh:/>")
	term.send("cat /huge/over-4g", "Enter")
	// The file's first 4 KiB are text; then cat is in the hole.
	term.waitFor("g0 000000000255")
	term.send("C-c")
	s := term.waitUntil("the prompt after Ctrl-C", func(s string) bool { return lastLine(s) == "vmsh:/>" })
	if !strings.Contains(s, "interrupted") {
		t.Errorf("no word of the interruption:\n%s", s)
	}
	term.send("cat /hello.txt", "Enter")
	s = term.waitFor("\nhello, ext4\n")
	// The text 2 GiB into the file never came.
	if strings.Contains(s, "g1 ") {
		t.Errorf("cat went on after Ctrl-C:\n%s", s)
	}
	term.waitUntil("the prompt", func(s string) bool { return lastLine(s) == "vmsh:/>" })
}

// barLine matches get's progress bar: "get 1.2 MiB / 3.4 MiB, 120/20,000
// files, 56 KiB/s, ETA 0:07 [##---] 12%", totals and ETA once known.
var barLine = regexp.MustCompile(`(?m)^get [0-9.]+ [KMGT]?i?B( / [0-9.]+ [KMGT]?i?B)?, [0-9,]+(/[0-9,]+)? files?, [0-9.]+ [KMGT]?i?B/s`)

// TestInteractiveProgress watches get copy 20,000 files: a bar with
// bytes, files and rate appears on the terminal while it runs, and at the
// end the bar is gone and the summary is there.
func TestInteractiveProgress(t *testing.T) {
	img := fixture(t, "ext4")
	local := t.TempDir()
	term := startTerminal(t, local, nil, img)
	term.waitFor("vmsh:/>")
	term.send("get /big copy", "Enter")
	s := term.waitUntil("the progress bar", func(s string) bool { return barLine.MatchString(s) })
	bar := barLine.FindString(s)
	s = term.waitFor("copied 20000 files, 1 directory, 0 symlinks, 8 bytes to copy")
	if barLine.MatchString(s) {
		t.Errorf("the bar is still there at the end:\n%s", s)
	}
	if lastLine(s) != "vmsh:/>" {
		t.Errorf("no prompt after get:\n%s", s)
	}
	ents, err := os.ReadDir(filepath.Join(local, "copy"))
	if err != nil || len(ents) != 20000 {
		t.Errorf("copy holds %d files, %v", len(ents), err)
	}
	t.Logf("bar seen: %s", bar)
}

// TestInteractivePager pages a guest file through less: the first screen
// shows, the file goes on below it, q returns to the prompt.
func TestInteractivePager(t *testing.T) {
	tooltest.Need(t, "less")
	img := fixture(t, "ext4")
	term := startTerminal(t, t.TempDir(), []string{"PAGER=less"}, img)
	term.waitFor("vmsh:/>")
	term.send("less /files/size-65536", "Enter")
	// 65,536 bytes of 23-byte lines ("size65536 %012d\n"): less shows
	// the first 29 and waits.
	s := term.waitFor("size65536 000000000028")
	if !strings.HasPrefix(s, "size65536 000000000000\n") || strings.Contains(s, "size65536 000000000029") || strings.Contains(s, "vmsh:/>") {
		t.Errorf("less's first screen:\n%s", s)
	}
	term.send("G")
	s = term.waitFor("(END)")
	if last := fmt.Sprintf("size65536 %012d\nsize65536\n(END)", 65536/23-1); !strings.Contains(s, last) {
		t.Errorf("less's last screen does not end with %q:\n%s", last, s)
	}
	term.send("q")
	term.waitUntil("the prompt after q", func(s string) bool { return lastLine(s) == "vmsh:/>" })
	term.send("cat /hello.txt", "Enter")
	term.waitFor("\nhello, ext4\n")
}
