package main

import (
	"os"
	"os/exec"
	"path/filepath"
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
	cmd := []string{"env", "-i", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_STATE_HOME=", "TZ=UTC", "TERM=xterm", "LANG=C.UTF-8"}
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
	term.tmux(append([]string{"send-keys"}, keys...)...)
}

// screen returns what the pane shows.
func (term *terminal) screen() string {
	term.t.Helper()
	return term.tmux("capture-pane", "-p")
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
	deadline := time.Now().Add(15 * time.Second)
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
