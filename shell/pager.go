package shell

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// lessHelp is the help text of less.
const lessHelp = `less shows files one screen at a time through the host's pager: $PAGER when it is
set (a command line, run by sh), else less, else more, found on the host's PATH.
The files are read from the guest and passed to the pager's standard input one
after the other. Quitting the pager (q) or Ctrl-C returns to the vmsh prompt.
When standard output is not a terminal (cmd > file, cmd | command, vmsh -c in a
pipe), or no pager is found, less writes the files out as cat does.`

func runLess(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing file operand")
	}
	pager := pagerCommand(isTerminal(x.Out), os.Getenv, exec.LookPath)
	if pager == "" {
		return runCat(x)
	}
	return x.page(x.expand(ops), pager)
}

// pagerCommand decides how less shows its files: the command line of the
// pager to run, or "" to write them out as cat does. Only a terminal is
// paged (tty); the pager is $PAGER (read by getenv), else less or more
// if lookPath finds them.
func pagerCommand(tty bool, getenv func(string) string, lookPath func(string) (string, error)) string {
	if !tty {
		return ""
	}
	if p := getenv("PAGER"); p != "" {
		return p
	}
	for _, p := range []string{"less", "more"} {
		if _, err := lookPath(p); err == nil {
			return p
		}
	}
	return ""
}

// page runs the pager command line on the host, in the local directory,
// with the terminal as its output, and writes the guest files paths into
// its standard input. It returns when the pager has ended; a pager that
// quits before reading everything ends the copy quietly.
func (x *Call) page(paths []string, pager string) error {
	s := x.Shell
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	s.flush()
	c, err := s.startLocal(x.Ctx, pager, r, syncWriter(x.Out), syncWriter(s.ui.Stderr()))
	r.Close()
	if err != nil {
		w.Close()
		x.Fail(pager, err)
		return nil
	}
	var buf []byte
	for _, p := range paths {
		if x.Ctx.Err() != nil {
			break
		}
		err := x.copyFile(w, p, &buf)
		if errors.Is(err, syscall.EPIPE) {
			break // the pager has quit
		}
		if err != nil && x.Ctx.Err() == nil {
			x.Fail(p, err)
		}
	}
	w.Close()
	c.wait()
	return nil
}
