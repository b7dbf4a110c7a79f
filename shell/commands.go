package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// argKind says what a command's operands are, for completion.
type argKind int

const (
	argNone     argKind = iota
	argPath             // guest paths
	argCommand          // command names
	argVolume           // volume names
	argLocalDir         // local (host) directories
)

// A Command is one thing the shell can do. Help is generated from the
// table of commands.
type Command struct {
	Name      string
	Aliases   []string
	Usage     string   // one line: name and arguments
	Short     string   // one line for the help table
	Long      string   // paragraphs for help NAME
	Flags     string   // the single-letter flags it accepts
	LongFlags []string // the long flags it accepts, without "--": "json", "tar"
	Args      argKind
	Run       func(x *Call) error
}

// A Call is one run of a command.
type Call struct {
	Shell  *Shell
	Ctx    context.Context
	Name   string
	Out    io.Writer
	words  []word
	flags  map[byte]bool
	long   map[string]bool
	failed bool
}

// parse separates flags from operands. Flags are the letters of c.Flags,
// given as -x or clustered as -xyz, and the names of c.LongFlags, given as
// --name, before the first operand or "--".
func (x *Call) parse(c *Command) ([]word, error) {
	x.flags, x.long = map[byte]bool{}, map[string]bool{}
	ws := x.words
	for len(ws) > 0 {
		w := ws[0]
		if !w.flag || w.text == "-" {
			break
		}
		ws = ws[1:]
		if w.text == "--" {
			break
		}
		if name, ok := strings.CutPrefix(w.text, "--"); ok {
			if !slices.Contains(c.LongFlags, name) {
				return nil, badFlag("unknown flag %s", w.text)
			}
			x.long[name] = true
			continue
		}
		for i := 1; i < len(w.text); i++ {
			f := w.text[i]
			if strings.IndexByte(c.Flags, f) < 0 {
				return nil, badFlag("unknown flag -%c", f)
			}
			x.flags[f] = true
		}
	}
	return ws, nil
}

// Flag reports whether flag f was given.
func (x *Call) Flag(f byte) bool { return x.flags[f] }

// LongFlag reports whether the long flag --name was given.
func (x *Call) LongFlag(name string) bool { return x.long[name] }

// writeJSON writes v as the one JSON document of a --json command,
// indented, with a newline after it.
func (x *Call) writeJSON(v any) error {
	enc := json.NewEncoder(x.Out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Fail reports an error about one operand and marks the command failed:
// "vmsh: cat /nope: no such file or directory".
func (x *Call) Fail(arg string, err error) {
	x.failed = true
	x.Shell.Warnf("%s %s: %s", x.Name, arg, reason(err))
}

// Warn prints a warning about the command that does not make it fail.
func (x *Call) Warn(format string, a ...any) {
	x.Shell.Warnf(x.Name+": "+format, a...)
}

// expand returns the operands with patterns replaced by the guest paths
// they match, sorted. A pattern matching nothing is reported and dropped.
func (x *Call) expand(ws []word) []string {
	var out []string
	for _, w := range ws {
		if !w.glob {
			out = append(out, w.text)
			continue
		}
		m, err := x.Shell.glob(w.pat)
		if err == nil && len(m) == 0 {
			err = errNoMatch
		}
		if err != nil {
			x.Fail(w.text, err)
			continue
		}
		out = append(out, m...)
	}
	return out
}

var commands []*Command

func init() {
	commands = []*Command{
		{Name: "help", Usage: "help [command]", Short: "list the commands, or explain one", Args: argCommand, Run: runHelp,
			Long: "With no argument, help lists every command. With a command name, it shows how to use that command."},
		{Name: "ls", Usage: "ls [-laAhRd1tSrin] [--json] [path...]", Short: "list directory contents", Flags: "laAhRd1tSrin", LongFlags: []string{"json"}, Args: argPath, Run: runLs, Long: lsHelp},
		{Name: "cd", Usage: "cd [dir | -]", Short: "change the working directory", Args: argPath, Run: runCd,
			Long: "cd changes the working directory; with no argument to /, with - to the previous one."},
		{Name: "pwd", Usage: "pwd", Short: "print the working directory", Run: runPwd},
		{Name: "cat", Usage: "cat path...", Short: "print files", Args: argPath, Run: runCat,
			Long: "cat writes the contents of each file to standard output."},
		{Name: "stat", Usage: "stat [--json] path...", Short: "show everything the inode says about files", LongFlags: []string{"json"}, Args: argPath, Run: runStat, Long: statHelp},
		{Name: "getfattr", Usage: "getfattr [-dh] [-n name] [-m pattern] [-e text|hex|base64] path...", Short: "show extended attributes", Flags: "dhnme", Args: argPath, Run: runGetfattr, Long: getfattrHelp},
		{Name: "getfacl", Usage: "getfacl [-n] path...", Short: "show POSIX access control lists", Flags: "n", Args: argPath, Run: runGetfacl, Long: getfaclHelp},
		{Name: "get", Usage: "get [-af] [--no-archive] [--numeric-owner] [--tar] src... [dest]", Short: "copy files and directories out of the guest",
			Flags: "af", LongFlags: []string{"no-archive", "numeric-owner", "tar"}, Args: argPath, Run: runGet, Long: getHelp},
		{Name: "tar", Usage: "tar [-v] [-C dir] src...", Short: "write a tar archive of guest files to standard output", Flags: "vC", Args: argPath, Run: runTar, Long: tarHelp},
		{Name: "lcd", Usage: "lcd [dir]", Short: "change the local directory", Args: argLocalDir, Run: runLcd,
			Long: "lcd changes the local (host) directory, with no argument to $HOME. Relative local paths are\n" +
				"relative to it: get's destination, the file of > and >>, and where ! and | run their commands."},
		{Name: "lpwd", Usage: "lpwd", Short: "print the local directory", Run: runLpwd,
			Long: "lpwd prints the local (host) directory that lcd sets."},
		{Name: "fsinfo", Usage: "fsinfo [path...]", Short: "describe a filesystem and its journal replay", Args: argPath, Run: runFsinfo, Long: fsinfoHelp},
		{Name: "lsblk", Usage: "lsblk [-p] [--json]", Short: "list disks, partitions and filesystems", Flags: "p", LongFlags: []string{"json"}, Run: runLsblk,
			Long: "lsblk shows every disk, its partitions, the LVM2 logical volumes on each physical volume,\n" +
				"the filesystem on each (type, label, UUID) and where it is mounted. Filesystems vmsh does not\n" +
				"read (xfs, btrfs, NTFS, FAT, exFAT, LUKS, ...) are named by type, label and UUID too.\n" +
				"  -p      show the partitions instead: start, size, partition type, GPT name, PARTUUID, bootable flag\n" +
				"  --json  one JSON document, as lsblk -J writes it: {\"blockdevices\": [...]}, each device with\n" +
				"          name, path, size (bytes), type, fstype, label, uuid, mountpoints and children"},
		{Name: "mounts", Usage: "mounts [--json]", Short: "show what is mounted where, and what in fstab is not", LongFlags: []string{"json"}, Run: runMounts, Long: mountsHelp},
		{Name: "info", Usage: "info [--json]", Short: "describe the operating systems found on the disks", LongFlags: []string{"json"}, Run: runInfo, Long: infoHelp},
		{Name: "pvs", Usage: "pvs", Short: "list LVM2 physical volumes", Run: runPvs,
			Long: "pvs lists the LVM2 physical volumes as lvm2's pvs does: device, volume group, format,\n" +
				"attributes (a allocatable, m missing), size and free space. A PV whose disk was not given\n" +
				"shows as [unknown]."},
		{Name: "vgs", Usage: "vgs", Short: "list LVM2 volume groups", Run: runVgs,
			Long: "vgs lists the LVM2 volume groups as lvm2's vgs does: name, number of PVs, LVs and\n" +
				"snapshots, attributes (vg_attr; p when a PV is missing), size and free space."},
		{Name: "lvs", Usage: "lvs [-a]", Short: "list LVM2 logical volumes", Flags: "a", Run: runLvs, Long: lvsHelp},
		{Name: "disks", Aliases: []string{"status"}, Usage: "disks [--json]", Short: "list the disks and the connections behind them", LongFlags: []string{"json"}, Run: runDisks,
			Long: "disks lists the disks (name as lsblk shows it, size, partition table, its id, where it came from),\n" +
				"then each connection the worker holds: its id, image format, size, state (connected,\n" +
				"reconnecting, ...), reconnections, reads and bytes served, failed reads, the last error and\n" +
				"when it happened, and the disk's name without credentials. --json writes one JSON document:\n" +
				"{\"disks\": [...], \"connections\": [...]}."},
		{Name: "use", Usage: "use volume", Short: "mount another volume at /", Args: argVolume, Run: runUse,
			Long: "use mounts the filesystem of a volume at / in place of the current tree. The volume may be\n" +
				"named as lsblk shows it (sda2, /dev/sda2, vg0-root), by partition number (2, on the first disk),\n" +
				"as an LVM2 logical volume (/dev/vg0/root, /dev/mapper/vg0-root, vg0/root),\n" +
				"by LABEL=name or a label, or by UUID=uuid or a UUID."},
		{Name: "head", Usage: "head [-qv] [-n N] [-c N] path...", Short: "print the first lines of files", Flags: "qvnc", Args: argPath, Run: runHead, Long: headHelp},
		{Name: "tail", Usage: "tail [-qv] [-n N] [-c N] path...", Short: "print the last lines of files", Flags: "qvnc", Args: argPath, Run: runTail, Long: tailHelp},
		{Name: "hexdump", Usage: "hexdump [-Cv] [-s offset] [-n length] path...", Short: "show bytes in hex and ASCII", Flags: "Cvsn", Args: argPath, Run: runHexdump, Long: hexdumpHelp},
		{Name: "xxd", Usage: "xxd [-s offset] [-l length] path", Short: "show bytes as xxd does", Flags: "sl", Args: argPath, Run: runXxd, Long: xxdHelp},
		{Name: "md5sum", Usage: "md5sum path...", Short: "print MD5 checksums", Args: argPath, Run: runSum, Long: fmt.Sprintf(sumHelp, "md5sum", "MD5", "md5sum")},
		{Name: "sha1sum", Usage: "sha1sum path...", Short: "print SHA-1 checksums", Args: argPath, Run: runSum, Long: fmt.Sprintf(sumHelp, "sha1sum", "SHA-1", "sha1sum")},
		{Name: "sha256sum", Usage: "sha256sum path...", Short: "print SHA-256 checksums", Args: argPath, Run: runSum, Long: fmt.Sprintf(sumHelp, "sha256sum", "SHA-256", "sha256sum")},
		{Name: "sha512sum", Usage: "sha512sum path...", Short: "print SHA-512 checksums", Args: argPath, Run: runSum, Long: fmt.Sprintf(sumHelp, "sha512sum", "SHA-512", "sha512sum")},
		{Name: "readlink", Usage: "readlink [-fv] path...", Short: "print where symbolic links point", Flags: "fv", Args: argPath, Run: runReadlink, Long: readlinkHelp},
		{Name: "file", Usage: "file path...", Short: "name the type of files by their contents", Args: argPath, Run: runFile, Long: fileHelp},
		{Name: "find", Usage: "find [--json] [path...] [test...]", Short: "search for files by name, type, size or time", Args: argPath, Run: runFind, Long: findHelp},
		{Name: "grep", Usage: "grep [-rinlcvEFwxhH] pattern path...", Short: "print lines that match a pattern", Flags: "rinlcvEFwxhH", Args: argPath, Run: runGrep, Long: grepHelp},
		{Name: "du", Usage: "du [-ash] [path...]", Short: "show the disk space files use", Flags: "ash", Args: argPath, Run: runDu, Long: duHelp},
		{Name: "df", Usage: "df [-hi] [--json] [path...]", Short: "show the space and inodes of mounted filesystems", Flags: "hi", LongFlags: []string{"json"}, Args: argPath, Run: runDf, Long: dfHelp},
		{Name: "less", Aliases: []string{"more"}, Usage: "less path...", Short: "page through files with the host's pager", Args: argPath, Run: runLess, Long: lessHelp},
		{Name: "tree", Usage: "tree [-a] [-L N] [path...]", Short: "draw a directory tree", Flags: "aL", Args: argPath, Run: runTree, Long: treeHelp},
		{Name: "set", Usage: "set [-e | +e]", Short: "stop at the first failing command (-e) or not (+e)", Run: runSet,
			Long: "set -e makes the first command that fails end vmsh with status 1, as sh -e does (vmsh -e\n" +
				"turns it on from the start); set +e turns it off. With no argument, set says which is on."},
		{Name: "exit", Aliases: []string{"quit"}, Usage: "exit [status]", Short: "leave vmsh", Run: runExit},
	}
}

func runHelp(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) > 1 {
		return usagef("too many arguments")
	}
	if len(ops) == 1 {
		c := x.Shell.cmds[ops[0].text]
		if c == nil {
			return fmt.Errorf("%s: unknown command", ops[0].text)
		}
		fmt.Fprintf(x.Out, "usage: %s\n\n%s.\n", c.Usage, capitalize(c.Short))
		if c.Long != "" {
			fmt.Fprintf(x.Out, "\n%s\n", c.Long)
		}
		if len(c.Aliases) > 0 {
			fmt.Fprintf(x.Out, "\nAlso called: %s.\n", strings.Join(c.Aliases, ", "))
		}
		return nil
	}
	// A usage longer than the column goes on a line of its own, so one
	// long command line does not push every description off the screen.
	const col = 28
	fmt.Fprintln(x.Out, "Commands:")
	for _, c := range commands {
		if len(c.Usage) > col-2 {
			fmt.Fprintf(x.Out, "  %s\n  %-*s%s\n", c.Usage, col, "", c.Short)
			continue
		}
		fmt.Fprintf(x.Out, "  %-*s%s\n", col, c.Usage, c.Short)
	}
	fmt.Fprintln(x.Out, "Paths may use * ? [...] patterns; separate commands with ';'. help COMMAND says more.")
	fmt.Fprint(x.Out, localHelp)
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// cmd returns the command being run.
func (x *Call) cmd() *Command { return x.Shell.cmds[x.Name] }

func runPwd(x *Call) error {
	if err := x.noArgs(); err != nil {
		return err
	}
	fmt.Fprintln(x.Out, x.Shell.cwd)
	return nil
}

func runCd(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	args := x.expand(ops)
	if x.failed {
		return nil
	}
	if len(args) > 1 {
		return usagef("too many arguments")
	}
	dir := "/"
	switch {
	case len(args) == 1 && args[0] == "-":
		dir = x.Shell.oldCwd
		fmt.Fprintln(x.Out, dir)
	case len(args) == 1:
		dir = x.Shell.abs(args[0])
	}
	fi, err := fs.Stat(x.Shell.FS(), fsPath(dir))
	if err != nil {
		x.Fail(args[0], err)
		return nil
	}
	if !fi.IsDir() {
		x.Fail(args[0], errNotDir)
		return nil
	}
	x.Shell.oldCwd, x.Shell.cwd = x.Shell.cwd, dir
	return nil
}

func runExit(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) > 1 {
		return usagef("too many arguments")
	}
	code := 0
	if len(ops) == 1 {
		code, err = strconv.Atoi(ops[0].text)
		if err != nil || code < 0 || code > 255 {
			return usagef("bad status %q", ops[0].text)
		}
	}
	x.Shell.exit, x.Shell.code = true, code
	return nil
}

// bufSize is the size of the reads used to copy file contents: big reads
// let the disk layers fetch many blocks per request.
const bufSize = 1 << 20

func runCat(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing file operand")
	}
	var buf []byte
	for _, p := range x.expand(ops) {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		if err := x.copyFile(x.Out, p, &buf); err != nil {
			if x.Ctx.Err() != nil {
				return x.Ctx.Err()
			}
			x.Fail(p, err)
		}
	}
	return nil
}

// copyFile writes the contents of the guest file p to w through *buf,
// which it makes as big as the file, up to bufSize, when it is smaller: a
// small file costs no megabyte of memory to clear.
func (x *Call) copyFile(w io.Writer, p string, buf *[]byte) error {
	f, err := x.Shell.FS().Open(x.Shell.name(p))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errIsDir
	}
	if done, err := x.streamFile(w, f, fi.Size()); done {
		return err
	}
	if n := int(min(max(fi.Size(), 4096), bufSize)); n > len(*buf) {
		*buf = make([]byte, n)
	}
	_, err = io.CopyBuffer(onlyWriter{w}, ctxReader{x.Ctx, f}, *buf)
	return err
}

// streamMin is the smallest file worth handing to the disk worker.
const streamMin = 1 << 20

// fileCopier is a guest file that can copy itself to a writer, passing the
// writer down to the disk (fsread's regular files).
type fileCopier interface {
	CopyTo(ctx context.Context, w io.Writer) (int64, error)
}

// fileOutput is an output with a local file under it: FlushFile writes
// out what it buffered and returns the file, so that others may write to
// it next; Failed tells it a write to the file failed.
type fileOutput interface {
	FlushFile() (*os.File, error)
	Failed(err error)
}

// streamFile copies the guest file f to w by having the disk worker write
// it to w's file itself, when w is a file (or an output with one under
// it) other than a terminal, and f is a big regular file of a filesystem
// that can pass the copy down. done is false if it did nothing, and the
// caller copies as usual.
func (x *Call) streamFile(w io.Writer, f fs.File, size int64) (done bool, err error) {
	c, ok := f.(fileCopier)
	if !ok || size < streamMin || x.Shell.OpenStream == nil {
		return false, nil
	}
	var out *os.File
	var fo fileOutput
	switch o := w.(type) {
	case *os.File:
		out = o
	case fileOutput:
		fo = o
		if out, err = o.FlushFile(); err != nil {
			return true, err
		}
	}
	if out == nil || IsTerminal(out) {
		return false, nil
	}
	st, err := x.Shell.OpenStream(out)
	if err != nil {
		return false, nil // the worker cannot: copy through the shell
	}
	_, err = c.CopyTo(x.Ctx, st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil && fo != nil && errors.Is(err, syscall.EPIPE) {
		fo.Failed(err) // the reader went away: as if the shell had written
	}
	return true, err
}

// onlyWriter hides any ReadFrom method of the writer, so io.CopyBuffer
// uses the caller's buffer.
type onlyWriter struct{ io.Writer }

// ctxReader stops reading when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// commandNames returns the names a user can type, sorted.
func (s *Shell) commandNames() []string {
	var names []string
	for n := range s.cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func runSet(x *Call) error {
	switch len(x.words) {
	case 0:
		if x.Shell.ErrExit {
			fmt.Fprintln(x.Out, "set -e")
		} else {
			fmt.Fprintln(x.Out, "set +e")
		}
		return nil
	case 1:
		switch x.words[0].text {
		case "-e":
			x.Shell.ErrExit = true
			return nil
		case "+e":
			x.Shell.ErrExit = false
			return nil
		}
	}
	return usagef("only -e and +e are known")
}

// isTerminal reports whether w writes to a terminal: what decides colours,
// paging and progress bars, which are never sent to files or pipes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && IsTerminal(f)
}
