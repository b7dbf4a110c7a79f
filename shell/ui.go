package shell

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/peterh/liner"
	"golang.org/x/term"
)

// ErrInterrupted is returned by UI.ReadLine when the user cancels the line
// being edited (Ctrl-C). The shell prompts again.
var ErrInterrupted = errors.New("interrupted")

// A Completer proposes completions for the word that ends at pos in line.
// It returns the text before the word, the candidate replacements for the
// part of the line up to pos after head, and the text after pos.
type Completer func(line string, pos int) (head string, completions []string, tail string)

// UI is what the shell needs from a terminal, so that tests can drive the
// shell with a fake one. ReadLine returns io.EOF when input ends and
// ErrInterrupted when the user cancels a line.
type UI interface {
	ReadLine(prompt string) (string, error)
	Stdout() io.Writer
	Stderr() io.Writer
	// Interactive reports whether a person is typing: prompts are shown
	// and errors do not end the session.
	Interactive() bool
	// Width is the terminal's width in columns, or 0 when output is not
	// a terminal.
	Width() int
	SetCompleter(Completer)
	Close() error
}

// StreamUI reads commands line by line from r without prompting, as when a
// script is piped into vmsh.
type StreamUI struct {
	r        *bufio.Reader
	out, err io.Writer
}

// NewStreamUI returns a UI reading lines from r and writing to out and errw.
func NewStreamUI(r io.Reader, out, errw io.Writer) *StreamUI {
	return &StreamUI{r: bufio.NewReader(r), out: out, err: errw}
}

func (u *StreamUI) ReadLine(string) (string, error) {
	line, err := u.r.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimSuffix(line, "\n"), err
}

func (u *StreamUI) Stdout() io.Writer { return u.out }
func (u *StreamUI) Stderr() io.Writer { return u.err }
func (u *StreamUI) Interactive() bool { return false }

// Width is the terminal's width when the output is a terminal, as with
// vmsh -c on one; otherwise 0.
func (u *StreamUI) Width() int {
	if f, ok := u.out.(*os.File); ok && IsTerminal(f) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			return w
		}
	}
	return 0
}

func (u *StreamUI) SetCompleter(Completer) {}
func (u *StreamUI) Close() error           { return nil }

// TerminalUI is the interactive UI: line editing, history and completion
// through github.com/peterh/liner.
type TerminalUI struct {
	l       *liner.State
	history string
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// NewTerminalUI returns a UI on the process's terminal and loads the
// history file (see HistoryFile).
func NewTerminalUI() *TerminalUI {
	u := &TerminalUI{l: liner.NewLiner(), history: HistoryFile()}
	u.l.SetCtrlCAborts(true)
	u.l.SetTabCompletionStyle(liner.TabPrints)
	if u.history != "" {
		if f, err := os.Open(u.history); err == nil {
			u.l.ReadHistory(f)
			f.Close()
		}
	}
	return u
}

// HistoryFile returns where the interactive history is kept:
// $XDG_STATE_HOME/vmsh/history when XDG_STATE_HOME is set, else
// ~/.vmsh_history.
func HistoryFile() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "vmsh", "history")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".vmsh_history")
	}
	return ""
}

func (u *TerminalUI) ReadLine(prompt string) (string, error) {
	line, err := u.l.Prompt(prompt)
	switch {
	case errors.Is(err, liner.ErrPromptAborted):
		return "", ErrInterrupted
	case err != nil:
		return "", err
	}
	if strings.TrimSpace(line) != "" {
		u.l.AppendHistory(line)
	}
	return line, nil
}

func (u *TerminalUI) Stdout() io.Writer { return os.Stdout }
func (u *TerminalUI) Stderr() io.Writer { return os.Stderr }
func (u *TerminalUI) Interactive() bool { return true }

func (u *TerminalUI) Width() int {
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
		return w
	}
	return 0
}

func (u *TerminalUI) SetCompleter(c Completer) {
	u.l.SetWordCompleter(liner.WordCompleter(c))
}

// Close restores the terminal and saves the history.
func (u *TerminalUI) Close() error {
	if u.history != "" {
		if err := os.MkdirAll(filepath.Dir(u.history), 0o700); err == nil {
			if f, err := os.OpenFile(u.history, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
				u.l.WriteHistory(f)
				f.Close()
			}
		}
	}
	return u.l.Close()
}

// BufferedFile is a local file written through a buffer, as standard
// output is when it is not a terminal. It is a fileOutput: the disk
// worker may write to the file between the shell's own writes.
type BufferedFile struct {
	f *os.File
	b *bufio.Writer
}

// NewBufferedFile returns f behind a buffer of size bytes.
func NewBufferedFile(f *os.File, size int) *BufferedFile {
	return &BufferedFile{f: f, b: bufio.NewWriterSize(f, size)}
}

func (b *BufferedFile) Write(p []byte) (int, error) { return b.b.Write(p) }

// Flush writes out what is buffered.
func (b *BufferedFile) Flush() error { return b.b.Flush() }

// FlushFile writes out what is buffered and returns the file.
func (b *BufferedFile) FlushFile() (*os.File, error) { return b.f, b.b.Flush() }

// Failed is told that a write to the file failed elsewhere. When the
// reader of a pipe has gone, the shell writes to the file itself, which
// fails the same way: on standard output Go's runtime then ends vmsh with
// SIGPIPE, as a write of the shell's own would have (no byte reaches
// anyone, the pipe has no reader).
func (b *BufferedFile) Failed(err error) {
	if errors.Is(err, syscall.EPIPE) {
		b.f.Write([]byte{'\n'})
	}
}
