package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The local side of a session: the host directory that get, redirections
// and local commands use (lcd, lpwd), output sent to a local file
// (cmd > file, cmd >> file) or into a local command (cmd | command), and
// local commands run on their own (!command). Local command lines are run
// by sh -c in the local directory.

// localHelp ends the help command's list.
const localHelp = `On the host: cmd > file writes a command's output to a local file (>> appends to it);
cmd | command line passes it to a local command line, run by sh; !command line runs one.
Both run in the local directory (lcd, lpwd), ! with the terminal as input. Only standard
output can be redirected: 2>, >& and < are not supported. Quote > | ! to use them literally.
`

// local returns the host path p, resolved against the local directory
// when it is relative.
func (s *Shell) local(p string) string {
	if s.localDir == "" || filepath.IsAbs(p) {
		return p
	}
	return s.localDir + string(filepath.Separator) + p
}

// localWd returns the local directory.
func (s *Shell) localWd() (string, error) {
	if s.localDir != "" {
		return s.localDir, nil
	}
	return os.Getwd()
}

func runLpwd(x *Call) error {
	if err := x.noArgs(); err != nil {
		return err
	}
	dir, err := x.Shell.localWd()
	if err != nil {
		return err
	}
	fmt.Fprintln(x.Out, dir)
	return nil
}

func runLcd(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) > 1 {
		return usagef("too many arguments")
	}
	var arg string
	if len(ops) == 1 {
		arg = ops[0].text
	} else if arg, err = os.UserHomeDir(); err != nil {
		return err
	}
	s := x.Shell
	dir := s.local(arg)
	if !filepath.IsAbs(dir) {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		dir = filepath.Join(wd, dir)
	}
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errNotDir
	}
	if err == nil {
		err = unix.Access(dir, unix.X_OK)
	}
	if err != nil {
		x.Fail(arg, err)
		return nil
	}
	s.localDir = filepath.Clean(dir)
	return nil
}

// An outputSpec is where a command line sends the command's output: a
// local file (op ">" or ">>", target) or a local command line (op "|").
type outputSpec struct {
	op, target string
}

// splitOutput separates a command's words from its output operators.
func splitOutput(words []word) ([]word, *outputSpec, error) {
	var (
		args []word
		to   *outputSpec
	)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w.op == "" {
			args = append(args, w)
			continue
		}
		spec := &outputSpec{op: w.op, target: w.text}
		if w.op != "|" {
			if i+1 >= len(words) || words[i+1].op != "" {
				return nil, nil, fmt.Errorf("%s: missing file name", w.op)
			}
			i++
			spec.target = words[i].text
		} else if w.text == "" {
			return nil, nil, errors.New("|: missing command")
		}
		if to != nil {
			return nil, nil, fmt.Errorf("%s %s: output already goes to %s %s", spec.op, spec.target, to.op, to.target)
		}
		to = spec
	}
	if len(args) == 0 {
		return nil, nil, fmt.Errorf("%s %s: missing command", to.op, to.target)
	}
	return args, to, nil
}

// output is where one command's standard output goes while it runs.
type output struct {
	s      *Shell
	spec   *outputSpec
	ctx    context.Context // the command's: ends on Ctrl-C or when the output fails
	intr   context.Context // ends on Ctrl-C only
	w      io.Writer
	f      *outFile
	child  *localCmd
	prevUI UI

	// tmp and final, for > to a regular file: the output goes to tmp,
	// renamed to final when the command was not interrupted and every
	// write succeeded, so a stopped command leaves no half-written file
	// under the name asked for.
	tmp, final string
}

// errOutputDone stops a command whose output can take no more.
var errOutputDone = errors.New("output closed")

// startOutput opens the output named by to (nil: the shell's standard
// output) for a command interrupted by intr.
func (s *Shell) startOutput(intr context.Context, to *outputSpec) (*output, error) {
	o := &output{s: s, spec: to, ctx: intr, intr: intr, w: s.ui.Stdout()}
	if to == nil {
		return o, nil
	}
	ctx, cancel := context.WithCancelCause(intr)
	var (
		file *os.File
		err  error
	)
	errw := syncWriter(s.ui.Stderr())
	switch to.op {
	case ">", ">>":
		name := s.local(to.target)
		if to.op == ">" {
			file, o.tmp, err = replacement(name)
			if file != nil {
				o.final = name
				break
			}
		}
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if to.op == ">>" {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		if err == nil {
			file, err = os.OpenFile(name, flag, 0o644)
		}
		if err != nil {
			cancel(nil)
			return nil, fmt.Errorf("%s %s: %s", to.op, to.target, reason(err))
		}
	case "|":
		r, w, err := os.Pipe()
		if err != nil {
			cancel(nil)
			return nil, fmt.Errorf("|: %s", reason(err))
		}
		s.flush()
		o.child, err = s.startLocal(intr, to.target, r, syncWriter(s.ui.Stdout()), errw)
		r.Close()
		if err != nil {
			w.Close()
			cancel(nil)
			return nil, fmt.Errorf("| %s: %s", to.target, reason(err))
		}
		file = w
	}
	o.ctx = ctx
	o.f = &outFile{f: file, cancel: cancel}
	if o.child != nil {
		// A command blocked writing into a full pipe is freed by Ctrl-C.
		o.f.stop = context.AfterFunc(intr, func() { file.Close() })
	}
	o.f.b = bufio.NewWriterSize(outDest{o.f}, 64<<10)
	o.w = o.f
	s.mu.Lock()
	o.prevUI = s.ui
	s.ui = &redirectUI{UI: s.ui, out: o.f, err: errw}
	s.mu.Unlock()
	return o, nil
}

// stopped reports whether the output, not the user, stopped the command.
func (o *output) stopped() bool {
	return o.intr.Err() == nil && context.Cause(o.ctx) == errOutputDone
}

// finish flushes and closes the output, waits for a local command reading
// it, and reports what went wrong. It returns false if the command line
// should fail for it.
func (o *output) finish() bool {
	if o.f == nil {
		return true
	}
	werr := o.f.close()
	ok := true
	if o.child != nil {
		ok = o.child.wait()
	}
	o.s.mu.Lock()
	o.s.ui = o.prevUI
	o.s.mu.Unlock()
	if werr != nil && !errors.Is(werr, syscall.EPIPE) && o.intr.Err() == nil {
		o.s.Warnf("%s %s: %s", o.spec.op, o.spec.target, reason(werr))
		ok = false
	}
	if o.tmp != "" {
		if werr == nil && o.intr.Err() == nil {
			werr = os.Rename(o.tmp, o.final)
			if werr != nil {
				o.s.Warnf("%s %s: %s", o.spec.op, o.spec.target, reason(werr))
				ok = false
			}
		}
		if werr != nil || o.intr.Err() != nil {
			os.Remove(o.tmp)
		}
	}
	return ok
}

// replacement creates the file that > writes in place of name: a new
// file beside it, renamed over name at the end, with the mode (and, for
// root, the owner) of the file it replaces. It returns a nil file when
// name is something a rename must not replace: a device, a FIFO, a
// symlink, a file with other links; those are written in place.
func replacement(name string) (f *os.File, tmp string, err error) {
	perm := os.FileMode(0o644)
	fi, err := os.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		perm &^= umask()
	case err != nil:
		return nil, "", err
	case !fi.Mode().IsRegular():
		return nil, "", nil
	default:
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			return nil, "", nil
		}
		perm = fi.Mode().Perm()
	}
	f, err = os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".vmsh-*")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			// A directory we may not create in, but a file in it we may
			// write: write it in place.
			return nil, "", nil
		}
		return nil, "", err
	}
	if err := f.Chmod(perm); err == nil && fi != nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			f.Chown(int(st.Uid), int(st.Gid))
		}
	}
	return f, f.Name(), nil
}

// umask returns the process's file mode creation mask.
var umask = sync.OnceValue(func() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
})

// outFile buffers a command's output to a local file or pipe. The first
// write error stops the command (through its context) and later output is
// dropped, so a reader that goes away (head) ends the command quietly.
type outFile struct {
	mu     sync.Mutex
	f      *os.File
	b      *bufio.Writer // writes to f through outDest
	err    error         // the first write error
	cancel context.CancelCauseFunc
	stop   func() bool // ends the closing of f on Ctrl-C
}

func (o *outFile) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.b.Write(p)
	}
	return len(p), nil
}

// Flush writes out what is buffered; the shell calls it before printing a
// warning, so output and warnings keep their order.
func (o *outFile) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.b.Flush()
	}
	return o.err
}

func (o *outFile) close() error {
	o.Flush()
	if o.stop != nil {
		o.stop()
	}
	err := o.f.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	return err
}

// FlushFile writes out what is buffered and returns the file under it, for
// the disk worker to write to.
func (o *outFile) FlushFile() (*os.File, error) {
	return o.f, o.Flush()
}

// Failed records a write to the file that failed elsewhere (the disk
// worker's), as a failed write of the shell's own would be.
func (o *outFile) Failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
		o.cancel(errOutputDone)
	}
}

// outDest is the bufio.Writer's destination, written with o.mu held.
type outDest struct{ o *outFile }

func (d outDest) Write(p []byte) (int, error) { return d.o.write(p) }

func (o *outFile) write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil && o.err == nil {
		o.err = err
		o.cancel(errOutputDone)
	}
	return n, err
}

// redirectUI is the shell's UI while a command's output goes elsewhere:
// standard output is the redirection, which is not a terminal.
type redirectUI struct {
	UI
	out io.Writer
	err io.Writer
}

func (u *redirectUI) Stdout() io.Writer { return u.out }
func (u *redirectUI) Stderr() io.Writer { return u.err }
func (u *redirectUI) Width() int        { return 0 }

// syncWriter returns w for use by a local command and the shell at once:
// a file as it is (the command writes to it directly), anything else
// behind a lock.
func syncWriter(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		return f
	}
	if l, ok := w.(*lockedWriter); ok {
		return l
	}
	return &lockedWriter{w: w}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// localCmd is a local command line running under sh -c.
type localCmd struct {
	s    *Shell
	line string
	cmd  *exec.Cmd
	stop func() bool
}

// startLocal starts the local command line in the local directory. When
// intr ends (Ctrl-C) in a session without a terminal, the command's
// processes are sent SIGINT; on a terminal they have had the same Ctrl-C
// as vmsh.
func (s *Shell) startLocal(intr context.Context, line string, stdin io.Reader, stdout, stderr io.Writer) (*localCmd, error) {
	args := []string{"sh", "-c", line}
	if line == "" {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "sh"
		}
		args = []string{sh}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.localDir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	// Without a terminal the command gets a process group of its own, so
	// that SIGINT reaches every process sh starts.
	interactive := s.ui.Interactive()
	if !interactive {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(intr, func() {
		if !interactive {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		}
	})
	return &localCmd{s: s, line: line, cmd: cmd, stop: stop}, nil
}

// wait waits for the command to end. It returns false if it failed; sh
// or the command has said why, so nothing more is printed unless it could
// not be waited for.
func (c *localCmd) wait() bool {
	err := c.cmd.Wait()
	c.stop()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ee):
		return false
	}
	c.s.Warnf("!%s: %s", c.line, reason(err))
	return false
}

// runBang runs !line: the local command line with the terminal as its
// standard input (none without a terminal) and the shell's output.
func (s *Shell) runBang(line string) {
	intr, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
		cancel()
	}()
	var stdin io.Reader
	if IsTerminal(os.Stdin) {
		stdin = os.Stdin
	}
	s.flush()
	c, err := s.startLocal(intr, line, stdin, s.ui.Stdout(), s.ui.Stderr())
	if err != nil {
		s.Warnf("!%s: %s", line, reason(err))
		s.failed = true
		return
	}
	if !c.wait() {
		s.failed = true
	}
}
