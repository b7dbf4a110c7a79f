// Package shell is vmsh's command interpreter: it finds the volumes on the
// guest's disks, mounts the guest's filesystems in one tree, and runs the
// commands a person types (ls, cd, cat, stat, get, lsblk, use, ...) against
// that tree.
//
// The guest's disks are untrusted input. The shell reads them only through
// the io/fs interface of the filesystem readers, never follows a guest
// symlink when writing on the host, and never writes outside the directory
// named to get.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"vmsh/fsread"
)

// Shell holds the state of one session: the volumes found, the mount table,
// the working directory and whether any command has failed.
type Shell struct {
	// FSOptions are the options every filesystem is opened with.
	FSOptions fsread.Options

	// ErrExit ends the session at the first command that fails, with
	// status 1, as sh -e does; `set -e` and `set +e` turn it on and off.
	ErrExit bool

	// OnInterrupt, if set, is called when Ctrl-C stops a command, after the
	// command's context is cancelled: it lets reads already waiting on a
	// disk give up too.
	OnInterrupt func()

	// ConnStatus, if set, reports the connections behind the disks, for the
	// disks command.
	ConnStatus func() ([]ConnStatus, error)

	// OpenStream, if set, hands a local file to the disk worker, which
	// then writes a guest file's bytes to it itself (cat, and get to a
	// file): the returned writer is what the filesystem passes down to
	// the disk. Its Close returns once the worker no longer writes.
	OpenStream func(f *os.File) (io.WriteCloser, error)

	ui      UI
	disks   []*Disk
	ns      mountFS
	cwd     string // absolute, clean
	oldCwd  string // for cd -
	failed  bool   // some command failed
	exit    bool   // exit was run
	code    int    // status given to exit
	cmds    map[string]*Command
	ids     *idNames   // user and group names from the guest, loaded lazily
	lvm     lvmState   // LVM2 volume groups, assembled lazily
	insp    inspection // what inspection found: OS roots, the fstab mounted
	cancel  context.CancelFunc
	mu      sync.Mutex               // guards cancel
	stopped atomic.Bool              // interrupted while running a script
	bar     atomic.Pointer[progress] // the progress bar on stderr, if one is drawn

	localDir string // the host directory for relative local paths; "" is the process's
}

// New returns a shell talking to ui with nothing mounted.
func New(ui UI) *Shell {
	s := &Shell{ui: ui, cwd: "/", oldCwd: "/", cmds: map[string]*Command{}}
	for _, c := range commands {
		s.cmds[c.Name] = c
		for _, a := range c.Aliases {
			s.cmds[a] = c
		}
	}
	ui.SetCompleter(s.complete)
	return s
}

// Mount places fsys at the absolute directory dir of the shell's tree. It
// is how tests give the shell a filesystem without a disk.
func (s *Shell) Mount(dir string, fsys fs.FS) {
	s.ns.add(fsPath(path.Clean("/"+dir)), fsys, nil)
	s.ids = nil
}

// Failed reports whether any command has failed so far.
func (s *Shell) Failed() bool { return s.failed }

// Status is the exit status for the session: the code given to exit if
// exit was run with one; else for a script (-c or lines on standard
// input) 130 if it was interrupted, 1 if any command failed, else 0. An
// interactive session that ends without exit N ends with 0.
func (s *Shell) Status() int {
	switch {
	case s.exit && s.code != 0:
		return s.code
	case s.ui.Interactive():
		return 0
	case s.stopped.Load():
		return 130
	case s.failed:
		return 1
	}
	return 0
}

// Warnf prints a warning line on stderr: "vmsh: " and the message.
func (s *Shell) Warnf(format string, a ...any) {
	s.flush()
	msg := "vmsh: " + s.show(fmt.Sprintf(format, a...)) + "\n"
	if p := s.bar.Load(); p != nil {
		p.above(func() { io.WriteString(s.ui.Stderr(), msg) })
		return
	}
	io.WriteString(s.ui.Stderr(), msg)
}

// show returns text to print on the terminal: guest names may hold
// control characters that would drive it, so on a terminal they are
// replaced by '?', as ls does.
func (s *Shell) show(text string) string {
	if s.ui.Interactive() || s.ui.Width() > 0 {
		return printable(text)
	}
	return text
}

// flush writes out standard output if the UI buffers it.
func (s *Shell) flush() {
	if f, ok := s.ui.Stdout().(interface{ Flush() error }); ok {
		f.Flush()
	}
}

// RunScript runs the commands of a -c argument and returns the exit
// status.
func (s *Shell) RunScript(script string) int {
	stop := s.catchInterrupts()
	defer stop()
	s.RunLine(script)
	s.flush()
	return s.Status()
}

// RunLine runs the commands on one line (separated by ';'). It returns
// false when the session should end (exit, or an interrupted script).
func (s *Shell) RunLine(line string) bool {
	cmds, err := parseLine(line)
	if err != nil {
		s.Warnf("%v", err)
		s.failed = true
		return true
	}
	for _, words := range cmds {
		if s.runCommand(words) && s.ErrExit {
			s.exit, s.code = true, 1 // -e: the first failure ends the session
		}
		if s.exit || s.stopped.Load() {
			return false
		}
	}
	return true
}

// Run reads and runs lines from the UI until input ends or exit is run, and
// returns the session's exit status.
func (s *Shell) Run() int {
	stop := s.catchInterrupts()
	defer stop()
	for !s.exit && !s.stopped.Load() {
		prompt := ""
		if s.ui.Interactive() {
			prompt = "vmsh:" + s.cwd + "> "
		}
		s.flush()
		line, err := s.ui.ReadLine(prompt)
		if errors.Is(err, ErrInterrupted) {
			continue
		}
		if err != nil {
			if err != io.EOF {
				s.Warnf("%v", err)
			}
			if s.ui.Interactive() {
				fmt.Fprintln(s.ui.Stdout())
			}
			break
		}
		s.RunLine(line)
	}
	s.flush()
	return s.Status()
}

// catchInterrupts makes Ctrl-C cancel the running command instead of
// killing vmsh. In a script it also stops the script.
func (s *Shell) catchInterrupts() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				s.mu.Lock()
				if s.cancel != nil {
					s.cancel()
					if s.OnInterrupt != nil {
						s.OnInterrupt()
					}
				}
				if !s.ui.Interactive() {
					s.stopped.Store(true)
				}
				s.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// runCommand runs one command, printing its errors, and reports whether
// it failed. A panic in a command is reported as one line and the session
// goes on.
func (s *Shell) runCommand(words []word) (failed bool) {
	if words[0].op == "!" {
		before := s.failed
		s.failed = false
		s.runBang(words[0].text)
		failed = s.failed
		s.failed = before || failed
		return failed
	}
	words, to, err := splitOutput(words)
	if err != nil {
		s.Warnf("%v", err)
		s.failed = true
		return true
	}
	name := words[0].text
	c := s.cmds[name]
	if c == nil {
		s.Warnf("%s: unknown command (try help)", name)
		s.failed = true
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	x := &Call{Shell: s, Ctx: ctx, Name: name, words: words[1:]}
	o, err := s.startOutput(ctx, to)
	if err != nil {
		s.Warnf("%v", err)
		o, err, x.failed = &output{ctx: ctx, intr: ctx}, nil, true
	} else {
		x.Ctx, x.Out = o.ctx, o.w
		err = x.run(c)
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // Ctrl-C: the command stopped early
	}
	if o.stopped() && errors.Is(err, context.Canceled) {
		err = nil // the output went away (| head): not the command's failure
	}
	if !o.finish() {
		x.failed = true
	}
	s.flush()
	for _, v := range s.volumes() {
		v.showWarnings(s)
	}
	s.mu.Lock()
	s.cancel = nil
	s.mu.Unlock()
	cancel()
	if err != nil {
		var ue *usageError
		switch {
		case errors.As(err, &ue) && ue.showUsage:
			s.Warnf("%s: %v (usage: %s)", name, err, c.Usage)
		case errors.As(err, &ue):
			s.Warnf("%s: %v", name, err)
		case errors.Is(err, context.Canceled):
			s.Warnf("%s: interrupted", name)
		default:
			s.Warnf("%s: %s", name, reason(err))
		}
		x.failed = true
	}
	if x.failed {
		s.failed = true
	}
	return x.failed
}

func (x *Call) run(c *Command) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
			if os.Getenv("VMSH_DEBUG") != "" {
				fmt.Fprintf(x.Shell.ui.Stderr(), "%s", debug.Stack())
			}
		}
	}()
	return c.Run(x)
}

// abs returns the absolute, clean form of the shell path p.
func (s *Shell) abs(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = s.cwd + "/" + p
	}
	return path.Clean(p)
}

// fsPath turns an absolute shell path into an io/fs name.
func fsPath(abs string) string {
	if abs == "/" {
		return "."
	}
	return strings.TrimPrefix(abs, "/")
}

// name returns the io/fs name of the shell path p.
func (s *Shell) name(p string) string { return fsPath(s.abs(p)) }

// FS returns the shell's tree of mounted filesystems.
func (s *Shell) FS() fs.FS { return &s.ns }
