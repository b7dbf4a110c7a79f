// Command vmsh opens a virtual machine's disks and lets a person browse and
// restore files from them, with no mount, no FUSE and no root:
//
//	vmsh disk.img                        # interactive shell
//	vmsh -c "get /etc/fstab" disk.img    # one-liner, like sh -c
//	echo "cat /etc/hostname" | vmsh disk.img
//
// With no disk named, vmsh opens a small sample guest disk built into the
// binary.
package main

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"vmsh/internal/sparse"
	"vmsh/ipc"
	"vmsh/shell"
	"vmsh/transport"
)

//go:embed testdata/sample.img.gz
var sampleDisk []byte

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `usage: vmsh [-c "command; command..."] [disk...]

vmsh opens a virtual machine's disks (read-only) and lets you browse and copy
out their files: ls, cd, cat, stat, get, lsblk, use. At start it inspects the
disks: it finds the guest's root filesystem (info says what system it holds)
and mounts the filesystems its /etc/fstab names where they belong (mounts
shows them). With no disk it opens a small sample guest disk built into vmsh.

A disk is an image file (raw, qcow2 or VMDK, told apart by their magic), a
block device, or an NBD export: nbd://host[:port][/export], nbds://... (TLS),
nbd+unix:///export?socket=PATH, nbds+unix://...

  -c COMMANDS        run COMMANDS (separated by ';') and exit
  -e                 stop at the first command that fails (exit status 1)
  --format FORMAT    read every disk as raw, qcow2 or vmdk instead of
                     detecting the format
  --snapshot NAME    read this qcow2 internal snapshot (name or id) instead
                     of the image's current state
  --timeout DURATION how long a read of a network disk may take, reconnecting
                     included, before it fails (default 30s)
  --tls-ca FILE      PEM certificate authorities for nbds:// servers
                     (default: the system's)
  --tls-cert FILE, --tls-key FILE
                     a client certificate and key for nbds:// servers that
                     ask for one
  --tls-insecure     accept any nbds:// server certificate
  --strict           treat metadata checksum mismatches as errors, not warnings
  --no-replay        show filesystems as they are on disk, without replaying
                     their journals
  --root VOLUME      mount this volume at / (and the rest of its /etc/fstab)
                     instead of the first operating system inspection finds;
                     named as use names it: sda2, vg0/root, LABEL=root, ...
  --no-inspect       look for no operating system and mount nothing (with
                     --root, only that volume and its fstab); mount a volume
                     with use VOLUME
  -h, --help         show this help
  --version          show the version

Without -c, vmsh reads commands from its standard input: interactively on a
terminal (type help), else one per line. The exit status is 0 when every
command succeeded, 1 when one failed, 2 for a bad vmsh invocation.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == ipc.WorkerArg {
		if err := ipc.ServeWorker(openDisk); err != nil {
			fmt.Fprintf(os.Stderr, "vmsh worker: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(run(os.Args[1:]))
}

// openDisk is the worker's opener: the transport layer, read-only, with
// the options vmsh was given.
func openDisk(spec string) (ipc.Backend, error) {
	var o transport.Options
	if env := os.Getenv(workerOptionsEnv); env != "" {
		if err := json.Unmarshal([]byte(env), &o); err != nil {
			return nil, fmt.Errorf("%s: %v", workerOptionsEnv, err)
		}
	}
	d, err := transport.OpenOptions(spec, o)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// options are vmsh's command line.
type options struct {
	command    string
	hasCommand bool
	help       bool
	version    bool
	strict     bool
	noReplay   bool
	errExit    bool
	root       string
	noInspect  bool
	disks      []string
	transport  transport.Options
}

// parseArgs reads the command line. Flags and disks may be mixed; "--" ends
// the flags.
func parseArgs(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.disks = append(o.disks, args[i+1:]...)
			return o, nil
		case a == "-c" || a == "--command":
			if i+1 >= len(args) {
				return o, fmt.Errorf("%s needs an argument", a)
			}
			i++
			o.command, o.hasCommand = args[i], true
		case strings.HasPrefix(a, "-c") && !strings.HasPrefix(a, "--"):
			o.command, o.hasCommand = strings.TrimPrefix(strings.TrimPrefix(a, "-c"), "="), true
		case strings.HasPrefix(a, "--command="):
			o.command, o.hasCommand = strings.TrimPrefix(a, "--command="), true
		case a == "-h" || a == "--help" || a == "-help":
			o.help = true
		case a == "--version" || a == "-version":
			o.version = true
		case a == "-e":
			o.errExit = true
		case a == "--strict":
			o.strict = true
		case a == "--no-replay":
			o.noReplay = true
		case a == "--no-inspect":
			o.noInspect = true
		case a == "--tls-insecure":
			o.transport.TLSInsecure = true
		case valueFlags[flagName(a)] != nil:
			name, val, ok := strings.Cut(a, "=")
			if !ok {
				if i+1 >= len(args) {
					return o, fmt.Errorf("%s needs an argument", a)
				}
				i++
				val = args[i]
			}
			if err := valueFlags[name](&o, val); err != nil {
				return o, fmt.Errorf("%s: %v", name, err)
			}
		case strings.HasPrefix(a, "-") && a != "-":
			return o, fmt.Errorf("unknown flag %s", a)
		default:
			o.disks = append(o.disks, a)
		}
	}
	return o, nil
}

// flagName is a flag without its "=value".
func flagName(a string) string {
	name, _, _ := strings.Cut(a, "=")
	return name
}

// valueFlags are the flags that take a value, as --flag VALUE or
// --flag=VALUE.
var valueFlags = map[string]func(o *options, v string) error{
	"--format": func(o *options, v string) error {
		if !slices.Contains(transport.Formats, v) {
			return fmt.Errorf("unknown format %q (%s)", v, strings.Join(transport.Formats, ", "))
		}
		o.transport.Format = v
		return nil
	},
	"--snapshot": func(o *options, v string) error { o.transport.Snapshot = v; return nil },
	"--root": func(o *options, v string) error {
		if v == "" {
			return errors.New("names no volume")
		}
		o.root = v
		return nil
	},
	"--timeout": func(o *options, v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d <= 0 {
			err = errors.New("must be positive")
		}
		o.transport.Timeout = d
		return err
	},
	"--tls-ca":   func(o *options, v string) error { o.transport.TLSCA = v; return nil },
	"--tls-cert": func(o *options, v string) error { o.transport.TLSCert = v; return nil },
	"--tls-key":  func(o *options, v string) error { o.transport.TLSKey = v; return nil },
}

// workerOptionsEnv carries the transport options from vmsh to its worker,
// which inherits the environment: file names and settings, never secrets.
const workerOptionsEnv = "VMSH_WORKER_OPTIONS"

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func run(args []string) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmsh: %v\n%s", err, strings.SplitN(usage, "\n", 2)[0]+"\n")
		return 2
	}
	if o.help {
		fmt.Print(usage)
		return 0
	}
	if o.version {
		fmt.Printf("vmsh %s\n", versionString())
		return 0
	}

	// The shell flushes standard output after every command and before every
	// message on standard error, so the two stay in order.
	// A terminal gets every write at once, and the commands can see it is
	// one (colours, paging).
	var stdout io.Writer = os.Stdout
	if !shell.IsTerminal(os.Stdout) {
		stdout = shell.NewBufferedFile(os.Stdout, 64<<10)
	}
	var ui shell.UI
	if !o.hasCommand && shell.IsTerminal(os.Stdin) && shell.IsTerminal(os.Stdout) {
		ui = shell.NewTerminalUI()
	} else {
		ui = shell.NewStreamUI(os.Stdin, stdout, os.Stderr)
	}
	defer ui.Close()
	s := shell.New(ui)
	s.FSOptions.Strict = o.strict
	s.FSOptions.NoReplay = o.noReplay
	s.ErrExit = o.errExit

	env, err := json.Marshal(o.transport)
	if err == nil {
		err = os.Setenv(workerOptionsEnv, string(env))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmsh: %v\n", err)
		return 1
	}
	timeout := o.transport.Timeout
	if timeout == 0 {
		timeout = transport.DefaultTimeout
	}
	// The worker gives up on a network read after the timeout and says
	// why; the shell waits a little longer for that answer.
	client, err := ipc.Config{Timeout: timeout + 5*time.Second}.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmsh: cannot start the disk worker: %v\n", err)
		return 1
	}
	// The client is not closed on the way out: that would wait for the
	// worker to exit. The worker ends by itself when this process's end
	// closes the socket, or at the SIGTERM the kernel sends it then
	// (Pdeathsig), after closing its disks; vmsh's exit need not wait.
	s.OnInterrupt = client.Interrupt
	s.OpenStream = func(f *os.File) (io.WriteCloser, error) { return client.OpenStream(f) }
	s.ConnStatus = func() ([]shell.ConnStatus, error) {
		st, err := client.Status()
		if err != nil {
			return nil, err
		}
		out := make([]shell.ConnStatus, len(st))
		for i, d := range st {
			out[i] = shell.ConnStatus{ID: d.ConnID, Name: d.Name, Format: d.Format, Size: d.Size, State: d.State,
				Reconnects: d.Reconnects, Requests: d.Requests, Bytes: d.Bytes, Errors: d.Errors,
				LastErr: d.LastErr, LastErrAt: d.LastErrAt}
		}
		return out, nil
	}
	client.OnRestart = func(err error) {
		fmt.Fprintf(os.Stderr, "vmsh: worker died (%s); started a new one\n", deathReason(err))
	}

	if len(o.disks) == 0 {
		spec, cleanup, err := sampleSpec()
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmsh: cannot unpack the built-in sample disk: %v\n", err)
			return 1
		}
		defer cleanup()
		fmt.Fprintln(os.Stderr, "vmsh: no disk named; opening the built-in sample disk")
		d, err := client.Open(spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmsh: sample disk: %v\n", err)
			return 1
		}
		s.AddDisk("(built-in sample disk)", d, d.Size())
	}
	for _, spec := range o.disks {
		d, err := client.Open(spec)
		name := transport.DisplayName(spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmsh: %s: %s\n", name, openReason(name, err))
			return 1
		}
		s.AddDisk(name, d, d.Size())
	}
	if _, err := s.MountGuestWith(shell.GuestOptions{Root: o.root, NoInspect: o.noInspect}); err != nil {
		fmt.Fprintf(os.Stderr, "vmsh: --root: %v\n", err)
		return 1
	}

	if o.hasCommand {
		return s.RunScript(o.command)
	}
	return s.Run()
}

// deathReason is why the worker died, without the prefixes of the layers
// that passed the error on: "signal: killed".
func deathReason(err error) string {
	if err == nil {
		return "unknown cause"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "worker died: "); i >= 0 {
		msg = msg[i+len("worker died: "):]
	}
	return strings.TrimPrefix(msg, "ipc: ")
}

// openReason shortens an error from opening a disk to what follows the
// disk's name: the transport and the worker name it too.
func openReason(spec string, err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, spec+": "); i >= 0 {
		msg = msg[i+len(spec)+2:]
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return msg
}

// sampleSpec unpacks the built-in sample disk where the worker can open it
// and returns the path to give it. The disk goes into an anonymous memory
// file (memfd), which the worker opens as /proc/<pid>/fd/<n> of this
// process: nothing is written to disk and nothing is left behind. Where
// memfd is missing, a temporary file removed on exit is used instead.
func sampleSpec() (spec string, cleanup func(), err error) {
	zr, err := gzip.NewReader(bytes.NewReader(sampleDisk))
	if err != nil {
		return "", nil, err
	}
	var f *os.File
	fd, merr := unix.MemfdCreate("vmsh-sample-disk", unix.MFD_CLOEXEC)
	if merr == nil {
		f = os.NewFile(uintptr(fd), "vmsh-sample-disk")
		spec = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)
	} else {
		f, err = os.CreateTemp("", "vmsh-sample-*.img")
		if err != nil {
			return "", nil, err
		}
		spec = f.Name()
	}
	cleanup = func() {
		f.Close()
		if merr != nil {
			os.Remove(spec)
		}
	}
	if _, err := sparse.Copy(f, zr, make([]byte, 64<<10)); err != nil {
		cleanup()
		return "", nil, err
	}
	return spec, cleanup, nil
}
