package shell

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"vmsh/fsread"
)

// GuestOptions say how MountGuestWith picks and mounts the guest's root.
type GuestOptions struct {
	// Root names the volume to mount at /, as use names one; "" lets
	// inspection choose.
	Root string
	// NoInspect mounts nothing: the user mounts a volume with use.
	NoInspect bool
}

// inspection is what vmsh found out about the guest: the operating system
// roots on the disks, and what became of each line of the fstab the
// mounted tree was assembled from.
type inspection struct {
	off   bool         // --no-inspect: nothing was looked at
	roots []*osRoot    // in the order of volumes()
	fstab *fstabResult // the fstab of the volume mounted at /, or nil
}

// An osRoot is a filesystem holding an operating system's root directory:
// one with /etc/os-release, /usr/lib/os-release, another release file, or
// /etc/fstab.
//
// Whether a filesystem is a root takes a look at its /etc; what system it
// holds takes more reads, which go on in the background while the guest
// is mounted and the first command runs: details waits for them.
type osRoot struct {
	vol      *Volume
	hasFstab bool
	ready    chan struct{} // closed once the fields below are set

	release     map[string]string // os-release fields: ID, NAME, VERSION_ID, PRETTY_NAME, ...
	releaseFile string            // the file they came from, "/etc/os-release"; "" if none
	hostname    string
	arch        string // as uname -m says it: x86_64, aarch64, ...
	archFrom    string // the ELF file arch was read from
	fstabLines  int    // entries in its fstab
}

// details waits for the description of the system on r and returns r.
func (r *osRoot) details() *osRoot {
	<-r.ready
	return r
}

// fstabResult is what mounting a root's /etc/fstab did, line by line.
type fstabResult struct {
	vol     *Volume // the volume holding the fstab
	path    string  // "/etc/fstab", or "" when the volume has none
	err     error   // reading it failed
	entries []*fstabEntry
}

// fstabEntry is one line of an fstab and its outcome.
type fstabEntry struct {
	line                 int // 1-based line number
	spec, dir, typ, opts string
	vol                  *Volume // the volume spec names, if found
	mounted              bool
	kind                 string // why not: "swap", "virtual", "network", "bind", "noauto", "missing", "unsupported", "unreadable", "covered", "invalid"
	reason               string
}

// quiet reports whether a failure to mount the entry is expected enough
// not to be shown at start.
func (e *fstabEntry) quiet() bool {
	switch e.kind {
	case "missing", "unsupported", "unreadable":
		return hasOpt(e.opts, "nofail")
	}
	return true
}

// MountGuest inspects the volumes and mounts the guest's root at / and the
// rest of its fstab, saying on stderr what / is. It reports false when
// nothing was mounted.
func (s *Shell) MountGuest() bool {
	ok, _ := s.MountGuestWith(GuestOptions{})
	return ok
}

// MountGuestWith inspects the volumes: every ext2/3/4 filesystem is opened
// (all at once, so that their reads are in flight together) and those
// holding an operating system's root are described. It then mounts at /
// the volume o.Root names, or the first root found (saying so on stderr
// when there are several), or failing any the largest readable
// filesystem, and the filesystems that root's /etc/fstab names at their
// mount points. With o.NoInspect it looks at nothing and mounts only the
// volume o.Root names, if any. It reports whether something was mounted,
// and fails only when o.Root names no volume vmsh can mount.
func (s *Shell) MountGuestWith(o GuestOptions) (bool, error) {
	s.insp = inspection{off: o.NoInspect}
	if o.NoInspect {
		if o.Root == "" {
			return false, nil
		}
		v, err := s.findVolume(o.Root)
		if err != nil {
			return false, err
		}
		if _, err := v.open(s); err != nil {
			return false, err
		}
		s.mountRoot(v)
		s.mountFstab(v)
		return true, nil
	}
	var exts []*Volume
	for _, v := range s.volumes() {
		if v.isExt() && v.openErr == nil {
			exts = append(exts, v)
		}
	}
	type opened struct {
		fsys *fsread.FS
		err  error
		root *osRoot
	}
	res := make([]opened, len(exts))
	var wg sync.WaitGroup
	for i, v := range exts {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil { // a bug, not the guest's: keep the others
					res[i] = opened{err: fmt.Errorf("%s: internal error: %v", v.Name, p)}
				}
			}()
			f, err := v.fsys, error(nil)
			if f == nil {
				f, err = v.openFS(s)
			}
			res[i] = opened{fsys: f, err: err}
			if err == nil {
				res[i].root = inspectRoot(v, f)
			}
		})
	}
	wg.Wait()
	found := map[*Volume]*osRoot{}
	for i, v := range exts {
		v.fsys, v.openErr = res[i].fsys, res[i].err
		v.showWarnings(s)
		if res[i].root != nil {
			found[v] = res[i].root
		}
	}
	var readable []*Volume
	for _, v := range s.volumes() {
		if r := found[v]; r != nil {
			s.insp.roots = append(s.insp.roots, r)
		}
		if v.isExt() {
			readable = append(readable, v)
		}
	}

	var root *Volume
	switch {
	case o.Root != "":
		v, err := s.findVolume(o.Root)
		if err != nil {
			return false, err
		}
		if _, err := v.open(s); err != nil {
			return false, err
		}
		root = v
	case len(s.insp.roots) > 0:
		root = s.insp.roots[0].vol
		if len(s.insp.roots) > 1 {
			s.Warnf("%d operating systems on these disks:", len(s.insp.roots))
			var b strings.Builder
			for _, r := range s.insp.roots {
				fmt.Fprintf(&b, "  %s\t%s\n", r.vol.Name, r.details().describe())
			}
			for _, l := range strings.Split(strings.TrimSuffix(tabulate(b.String()), "\n"), "\n") {
				s.Warnf("%s", l)
			}
			s.Warnf("mounting %s; vmsh --root VOLUME or use VOLUME mounts another", root.Name)
		}
	default:
		for _, v := range readable {
			if v.fsys != nil && (root == nil || v.Size > root.Size) {
				root = v
			}
		}
		if root == nil {
			if len(readable) > 0 {
				s.Warnf("no readable ext2/3/4 filesystem on these disks (%v); see lsblk", readable[0].openErr)
			} else {
				s.Warnf("no ext2/3/4 filesystem on these disks; see lsblk")
			}
			return false, nil
		}
	}
	s.mountRoot(root)
	s.mountFstab(root)
	return true, nil
}

// tabulate aligns the tab-separated columns of text.
func tabulate(text string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	io.WriteString(tw, text)
	tw.Flush()
	var out strings.Builder
	writeTrimmed(&out, b.String())
	return out.String()
}

// describe names the system on a root in a few words: "Ubuntu 24.04.1 LTS
// (hostname guest)".
func (r *osRoot) describe() string {
	d := r.distro()
	if d == "" {
		d = "unknown system"
		if r.hasFstab {
			d += " (has /etc/fstab)"
		}
	}
	if r.hostname != "" {
		d += ", hostname " + r.hostname
	}
	return d
}

// distro is the system's name as os-release's PRETTY_NAME gives it, or
// NAME and VERSION_ID, or ID.
func (r *osRoot) distro() string {
	if p := r.release["PRETTY_NAME"]; p != "" {
		return p
	}
	if n := r.release["NAME"]; n != "" {
		return strings.TrimSpace(n + " " + r.release["VERSION_ID"])
	}
	return r.release["ID"]
}

// rootTree is a mount table holding one filesystem at /, so that paths in
// it resolve as they would in the guest: symlinks followed, absolute
// targets taken from that filesystem's top.
func rootTree(v *Volume, f fs.FS) *mountFS {
	t := &mountFS{}
	t.add(".", f, v)
	return t
}

// inspectRoot reports whether f holds an operating system's root at its
// top: an /etc with fstab, os-release or another release file, or a
// /usr/lib/os-release. For a root it starts reading what system it is.
func inspectRoot(v *Volume, f fs.FS) *osRoot {
	t := rootTree(v, f)
	if fi, err := t.Stat("etc"); err != nil || !fi.IsDir() {
		return nil
	}
	r := &osRoot{vol: v, ready: make(chan struct{})}
	if fi, err := t.Stat("etc/fstab"); err == nil && fi.Mode().IsRegular() {
		r.hasFstab = true
	}
	isRoot := r.hasFstab
	for _, name := range releaseFiles {
		if isRoot {
			break
		}
		_, err := t.Lstat(name)
		isRoot = err == nil
	}
	if !isRoot {
		return nil
	}
	go r.describeSystem(t)
	return r
}

// releaseFiles are the files that say what system a root holds, in the
// order readRelease reads them.
var releaseFiles = []string{"etc/os-release", "usr/lib/os-release", "etc/lsb-release", "etc/redhat-release", "etc/debian_version", "etc/alpine-release"}

// describeSystem reads what system t holds and closes r.ready. Each part
// is a few dependent reads: done at once, their reads are in flight
// together.
func (r *osRoot) describeSystem(t *mountFS) {
	defer close(r.ready)
	defer func() { recover() }() // a bug, not the guest's: the rest stays unknown
	var wg sync.WaitGroup
	var fstabLines int
	var release map[string]string
	var releaseFile, hostname, arch, archFrom string
	wg.Go(func() {
		if data, err := readSmallFile(t, "etc/fstab", maxFstab); err == nil {
			fstabLines = len(parseFstab(string(data)))
		}
	})
	wg.Go(func() { release, releaseFile = readRelease(t) })
	wg.Go(func() { hostname = readHostname(t) })
	wg.Go(func() { arch, archFrom = guestArch(t) })
	wg.Wait()
	r.fstabLines, r.release, r.releaseFile, r.hostname, r.arch, r.archFrom = fstabLines, release, releaseFile, hostname, arch, archFrom
}

// maxFstab and maxConfig bound the guest files inspection reads;
// maxFstabWarnings bounds the fstab lines warned about at start.
const (
	maxFstab         = 1 << 20
	maxConfig        = 64 << 10
	maxFstabWarnings = 8
)

// readRelease reads what the guest says it is: os-release (in /etc, else
// /usr/lib, as os-release(5) says), else the release files older systems
// keep. It returns os-release's fields and the file read.
func readRelease(t fs.FS) (map[string]string, string) {
	for _, name := range []string{"etc/os-release", "usr/lib/os-release"} {
		if data, err := readSmallFile(t, name, maxConfig); err == nil {
			return parseShellVars(string(data)), "/" + name
		}
	}
	if data, err := readSmallFile(t, "etc/lsb-release", maxConfig); err == nil {
		v := parseShellVars(string(data))
		if v["DISTRIB_ID"] != "" {
			return map[string]string{
				"ID": strings.ToLower(v["DISTRIB_ID"]), "NAME": v["DISTRIB_ID"],
				"VERSION_ID": v["DISTRIB_RELEASE"], "PRETTY_NAME": v["DISTRIB_DESCRIPTION"],
			}, "/etc/lsb-release"
		}
	}
	// "CentOS release 6.10 (Final)", "Red Hat Enterprise Linux Server
	// release 6.4 (Santiago)", "Fedora release 20 (Heisenbug)".
	if line := firstLine(t, "etc/redhat-release"); line != "" {
		m := map[string]string{"PRETTY_NAME": line}
		if name, rest, ok := strings.Cut(line, " release "); ok {
			m["NAME"] = name
			m["VERSION_ID"], _, _ = strings.Cut(rest, " ")
			id := strings.ToLower(strings.Fields(name)[0])
			if strings.HasPrefix(name, "Red Hat") {
				id = "rhel"
			}
			m["ID"] = id
		}
		return m, "/etc/redhat-release"
	}
	for _, f := range []struct{ file, id, name string }{
		{"etc/debian_version", "debian", "Debian GNU/Linux"},
		{"etc/alpine-release", "alpine", "Alpine Linux"},
	} {
		if line := firstLine(t, f.file); line != "" {
			return map[string]string{"ID": f.id, "NAME": f.name, "VERSION_ID": line, "PRETTY_NAME": f.name + " " + line}, "/" + f.file
		}
	}
	return nil, ""
}

// firstLine returns the first line of a small file, trimmed, or "".
func firstLine(t fs.FS, name string) string {
	data, err := readSmallFile(t, name, maxConfig)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}

// parseShellVars reads the KEY=value lines of os-release and files like
// it: values may be quoted as in sh, with \ escaping ", \, $ and ` inside
// double quotes.
func parseShellVars(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		m[k] = unquoteShell(v)
	}
	return m
}

func unquoteShell(v string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case c == quote:
			quote = 0
		case quote == '"' && c == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0:
			i++
			b.WriteByte(v[i])
		case quote == 0 && c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case quote == 0 && (c == ' ' || c == '\t' || c == '#'):
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// readHostname reads the guest's host name: /etc/hostname, else SUSE's
// /etc/HOSTNAME, else HOSTNAME= in older Red Hat systems'
// /etc/sysconfig/network, else hostname= in Gentoo's /etc/conf.d/hostname.
func readHostname(t fs.FS) string {
	for _, name := range []string{"etc/hostname", "etc/HOSTNAME"} {
		data, err := readSmallFile(t, name, maxConfig)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
				return strings.TrimSpace(l)
			}
		}
	}
	for _, f := range []struct{ name, key string }{
		{"etc/sysconfig/network", "HOSTNAME"}, {"etc/conf.d/hostname", "hostname"},
	} {
		if data, err := readSmallFile(t, f.name, maxConfig); err == nil {
			if h := parseShellVars(string(data))[f.key]; h != "" {
				return h
			}
		}
	}
	return ""
}

// archCandidates are executables every Linux system has one of, in the
// order tried: their ELF header names the machine the system runs on.
var archCandidates = []string{"bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "bin/ls", "usr/bin/ls", "sbin/init", "bin/busybox"}

// guestArch reads the ELF header of the first of archCandidates there is,
// following symlinks inside the guest, and returns the architecture and
// the file (symlinks resolved) it read.
func guestArch(t *mountFS) (arch, from string) {
	for _, name := range archCandidates {
		real, err := t.resolve("open", name, true)
		if err != nil {
			continue
		}
		f, err := t.Open(real)
		if err != nil {
			continue
		}
		var hdr [64]byte
		n, _ := io.ReadFull(f, hdr[:])
		f.Close()
		if a, err := elfArch(hdr[:n]); err == nil {
			return a, "/" + real
		}
	}
	return "", ""
}

// The ELF e_machine values elfArch knows.
const (
	emSPARC     = 2
	em386       = 3
	em68K       = 4
	emMIPS      = 8
	emPARISC    = 15
	emPPC       = 20
	emPPC64     = 21
	emS390      = 22
	emARM       = 40
	emSH        = 42
	emSPARCV9   = 43
	emIA64      = 50
	emX86_64    = 62
	emAARCH64   = 183
	emRISCV     = 243
	emLoongArch = 258
	emAlpha     = 0x9026
)

// elfArch names the machine an ELF header is for as uname -m does on it:
// x86_64, i386, aarch64, arm, riscv64, ppc64le, s390x, ...
func elfArch(h []byte) (string, error) {
	if len(h) < 20 || string(h[:4]) != "\x7fELF" {
		return "", errors.New("not an ELF file")
	}
	class, data := h[4], h[5]
	if class != 1 && class != 2 || data != 1 && data != 2 {
		return "", fmt.Errorf("ELF class %d, data encoding %d unknown", class, data)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if data == 2 {
		bo = binary.BigEndian
	}
	is64, le := class == 2, data == 1
	pick := func(if64, if32 string) string {
		if is64 {
			return if64
		}
		return if32
	}
	switch m := bo.Uint16(h[18:]); m {
	case emX86_64:
		return "x86_64", nil
	case em386:
		return "i386", nil
	case emAARCH64:
		if !le {
			return "aarch64_be", nil
		}
		return "aarch64", nil
	case emARM:
		if !le {
			return "armeb", nil
		}
		return "arm", nil
	case emRISCV:
		return pick("riscv64", "riscv32"), nil
	case emPPC64:
		if le {
			return "ppc64le", nil
		}
		return "ppc64", nil
	case emPPC:
		return "ppc", nil
	case emS390:
		return pick("s390x", "s390"), nil
	case emMIPS:
		return pick("mips64", "mips"), nil
	case emLoongArch:
		return pick("loongarch64", "loongarch32"), nil
	case emSPARCV9:
		return "sparc64", nil
	case emSPARC:
		return "sparc", nil
	case emIA64:
		return "ia64", nil
	case emAlpha:
		return "alpha", nil
	case emPARISC:
		return pick("parisc64", "parisc"), nil
	case em68K:
		return "m68k", nil
	case emSH:
		return "sh", nil
	default:
		return "", fmt.Errorf("ELF machine %d unknown", m)
	}
}

// parseFstab returns the entries of an fstab: the lines with at least a
// source, a mount point and a type, \040-style escapes decoded.
func parseFstab(text string) []*fstabEntry {
	var out []*fstabEntry
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		e := &fstabEntry{line: i + 1, spec: unoctal(f[0]), dir: unoctal(f[1]), typ: f[2]}
		if len(f) > 3 {
			e.opts = f[3]
		}
		out = append(out, e)
	}
	return out
}

// Filesystem types that live in memory or in the kernel, and those served
// over a network: fstab lines of these types name no disk.
var (
	virtualTypes = map[string]bool{
		"tmpfs": true, "proc": true, "sysfs": true, "devpts": true, "devtmpfs": true, "ramfs": true,
		"cgroup": true, "cgroup2": true, "securityfs": true, "debugfs": true, "tracefs": true,
		"hugetlbfs": true, "mqueue": true, "efivarfs": true, "pstore": true, "bpf": true,
		"configfs": true, "fusectl": true, "binfmt_misc": true, "autofs": true, "overlay": true,
		"usbfs": true, "rpc_pipefs": true, "nfsd": true, "selinuxfs": true, "shm": true,
	}
	networkTypes = map[string]bool{
		"nfs": true, "nfs4": true, "cifs": true, "smbfs": true, "smb3": true, "sshfs": true,
		"fuse.sshfs": true, "glusterfs": true, "ceph": true, "9p": true, "davfs": true,
		"fuse.s3fs": true, "afs": true, "ncpfs": true, "lustre": true, "fuse.glusterfs": true,
	}
)

// classify decides what to do with an fstab entry of root's fstab: it
// finds the volume the entry names and sets kind and reason when the entry
// cannot be mounted. An entry left with kind "" is to be mounted.
func (s *Shell) classify(e *fstabEntry, root *Volume) {
	set := func(kind, reason string) { e.kind, e.reason = kind, reason }
	isDev := strings.Contains(e.spec, "=") || strings.HasPrefix(e.spec, "/dev/")
	switch {
	case e.typ == "swap":
		set("swap", "swap space")
	case hasOpt(e.opts, "bind") || hasOpt(e.opts, "rbind"):
		set("bind", "bind mount")
	case virtualTypes[e.typ]:
		set("virtual", "virtual filesystem")
	case networkTypes[e.typ] || strings.HasPrefix(e.spec, "//") ||
		!isDev && strings.Contains(e.spec, ":"):
		set("network", "network filesystem")
	case !strings.HasPrefix(e.dir, "/"):
		set("invalid", "mount point is not an absolute path")
	case !isDev:
		set("virtual", "not a device: "+e.spec)
	}
	if e.kind == "" && path.Clean(e.dir) == "/" {
		e.vol, e.mounted = root, true // what is mounted at / already
		return
	}
	if e.kind != "" && e.kind != "swap" {
		return
	}
	v, err := s.fstabVolume(e.spec, root)
	if err != nil {
		if e.kind == "" {
			set("missing", "not on these disks")
		}
		return
	}
	e.vol = v
	switch {
	case e.kind != "":
	case hasOpt(e.opts, "noauto"):
		set("noauto", "noauto: not mounted at boot")
	case v.FSType == "swap":
		set("swap", "swap space")
	case !v.isExt():
		switch v.FSType {
		case "":
			set("unreadable", "no filesystem found")
		case "LVM2_member":
			set("unreadable", "LVM2 physical volume, not a filesystem")
		default:
			set("unsupported", v.FSType+": not supported")
		}
	default:
		if _, err := v.open(s); err != nil {
			set("unreadable", strings.TrimPrefix(reason(err), v.Name+": "))
		}
	}
}

// fstabVolume finds the volume an fstab source names. A UUID or label that
// several volumes carry (two copies of one system) is taken from the
// disks root is on, if one of them has it. The by-id and by-path names of
// /dev/disk, which vmsh cannot know, are taken as the partition of that
// number when there is only one disk.
func (s *Shell) fstabVolume(spec string, root *Volume) (*Volume, error) {
	if k, v, ok := strings.Cut(spec, "="); ok && len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		spec = k + "=" + v[1:len(v)-1] // UUID="...", as libmount accepts
	}
	byKey := strings.Contains(spec, "=")
	for _, dir := range []string{"/dev/disk/by-uuid/", "/dev/disk/by-label/", "/dev/disk/by-partuuid/", "/dev/disk/by-partlabel/"} {
		byKey = byKey || strings.HasPrefix(spec, dir)
	}
	if byKey {
		near := s.disksOf(root)
		var local []*Volume
		for _, v := range s.volumes() {
			if slices.ContainsFunc(s.disksOf(v), func(d *Disk) bool { return slices.Contains(near, d) }) {
				local = append(local, v)
			}
		}
		if v, err := s.findVolumeIn(spec, local); err == nil {
			return v, nil
		}
	}
	v, err := s.findVolume(spec)
	if err == nil {
		return v, nil
	}
	if id, ok := strings.CutPrefix(spec, "/dev/disk/by-id/dm-uuid-LVM-"); ok {
		for _, g := range s.lvm.groups {
			for _, lv := range g.vols {
				if id == strings.ReplaceAll(g.g.VG.ID+lv.LV.ID, "-", "") {
					return lv, nil
				}
			}
		}
	}
	rest, byID := strings.CutPrefix(spec, "/dev/disk/by-id/")
	if !byID {
		rest, byID = strings.CutPrefix(spec, "/dev/disk/by-path/")
	}
	if byID && len(s.disks) == 1 {
		d := s.disks[0]
		i := strings.LastIndex(rest, "-part")
		if i < 0 {
			return d.Self, nil
		}
		for _, p := range d.Parts {
			if fmt.Sprint(p.Number) == rest[i+len("-part"):] {
				return p, nil
			}
		}
	}
	return nil, err
}

// disksOf returns the disks a volume is on: its own, or for a logical
// volume those of the physical volumes under it.
func (s *Shell) disksOf(v *Volume) []*Disk {
	if v.Disk != nil {
		return []*Disk{v.Disk}
	}
	var out []*Disk
	for _, g := range s.lvm.groups {
		if !slices.Contains(g.vols, v) {
			continue
		}
		for _, i := range g.g.VG.PVsOf(v.LV) {
			if i < len(g.g.Devices) && g.g.Devices[i] != nil {
				if pv := s.lvm.pvVols[g.g.Devices[i]]; pv != nil && pv.Disk != nil && !slices.Contains(out, pv.Disk) {
					out = append(out, pv.Disk)
				}
			}
		}
	}
	return out
}

// mountFstab mounts the filesystems root's /etc/fstab names, parents
// before children whatever the order of the lines, records what became of
// every line for mounts and info, and warns about those that should have
// been mounted and could not.
func (s *Shell) mountFstab(root *Volume) {
	res := &fstabResult{vol: root}
	s.insp.fstab = res
	data, err := readSmallFile(rootTree(root, root.fsys), "etc/fstab", maxFstab)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	res.path = "/etc/fstab"
	if err != nil {
		res.err = err
		s.Warnf("fstab: %s", reason(err))
		return
	}
	res.entries = parseFstab(string(data))
	var todo []*fstabEntry
	for _, e := range res.entries {
		s.classify(e, root)
		if e.kind == "" && !e.mounted {
			todo = append(todo, e)
		}
	}
	depth := func(e *fstabEntry) int { return strings.Count(path.Clean(e.dir), "/") }
	slices.SortStableFunc(todo, func(a, b *fstabEntry) int { return depth(a) - depth(b) })
	at := map[string]*fstabEntry{}
	for _, e := range todo {
		dir := fsPath(path.Clean(e.dir))
		if prev := at[dir]; prev != nil {
			prev.mounted, prev.kind, prev.reason = false, "covered", fmt.Sprintf("line %d mounts over it", e.line)
		}
		at[dir] = e
		s.ns.add(dir, e.vol.fsys, e.vol)
		e.mounted = true
	}
	shown := 0
	for _, e := range res.entries {
		if e.quiet() {
			continue
		}
		if shown++; shown > maxFstabWarnings {
			s.Warnf("fstab: more lines not mounted; see mounts")
			break
		}
		if e.vol != nil {
			s.Warnf("fstab: %s (%s) not mounted: %s", e.dir, e.vol.Name, e.reason)
		} else {
			s.Warnf("fstab: %s not mounted: %s %s", e.dir, e.spec, e.reason)
		}
	}
}

// devPath is the device name Linux gives a volume: /dev/sda2, or
// /dev/mapper/VG-LV for a logical volume.
func devPath(v *Volume) string {
	if v.LV != nil {
		return "/dev/mapper/" + v.Name
	}
	return "/dev/" + v.Name
}

// identity says what a volume holds, as blkid would: "vfat, UUID
// 2A6C-5F01", "ext4, label var, UUID ...".
func (v *Volume) identity() string {
	parts := []string{v.FSType}
	if v.FSType == "" {
		parts[0] = "no filesystem found"
	}
	if v.Label != "" {
		parts = append(parts, "label "+v.Label)
	}
	if v.UUID != "" {
		parts = append(parts, "UUID "+v.UUID)
	}
	return strings.Join(parts, ", ")
}

// mountedRoot returns the volume mounted at /, or nil.
func (s *Shell) mountedRoot() *Volume {
	if mt := s.ns.mountAt("."); mt != nil {
		return mt.vol
	}
	return nil
}

// optString is s for JSON, or null when it is empty.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// rootJSON is one operating system root in info --json.
type rootJSON struct {
	Volume       string  `json:"volume"`
	Device       string  `json:"device"`
	FSType       string  `json:"fstype"`
	Label        *string `json:"label"`
	UUID         *string `json:"uuid"`
	Mounted      bool    `json:"mounted"`
	OSRelease    *string `json:"os_release"`
	ID           *string `json:"id"`
	Name         *string `json:"name"`
	VersionID    *string `json:"version_id"`
	Version      *string `json:"version"`
	PrettyName   *string `json:"pretty_name"`
	Hostname     *string `json:"hostname"`
	Arch         *string `json:"arch"`
	ArchFrom     *string `json:"arch_from"`
	Fstab        *string `json:"fstab"`
	FstabEntries int     `json:"fstab_entries"`
	Mounts       int     `json:"mounts"`
}

// infoJSON is the document info --json writes.
type infoJSON struct {
	Inspected bool       `json:"inspected"`
	Mounted   *string    `json:"mounted"`
	Roots     []rootJSON `json:"roots"`
}

// fstabMounts counts the filesystems mounted from the fstab of v, if v is
// the mounted root: / and what its fstab put elsewhere.
func (s *Shell) fstabMounts(v *Volume) int {
	if v == nil || s.mountedRoot() != v {
		return 0
	}
	n := 0
	for _, mt := range s.ns.mounts {
		if mt.vol != nil {
			n++
		}
	}
	return n
}

func runInfo(x *Call) error {
	if err := x.noArgs(); err != nil {
		return err
	}
	s := x.Shell
	mounted := s.mountedRoot()
	if x.LongFlag("json") {
		doc := infoJSON{Inspected: !s.insp.off, Roots: []rootJSON{}}
		if mounted != nil {
			doc.Mounted = optString(mounted.Name)
		}
		for _, r := range s.insp.roots {
			r.details()
			j := rootJSON{
				Volume: r.vol.Name, Device: devPath(r.vol), FSType: r.vol.FSType,
				Label: optString(r.vol.Label), UUID: optString(r.vol.UUID), Mounted: r.vol == mounted,
				OSRelease: optString(r.releaseFile), ID: optString(r.release["ID"]), Name: optString(r.release["NAME"]),
				VersionID: optString(r.release["VERSION_ID"]), Version: optString(r.release["VERSION"]),
				PrettyName: optString(r.release["PRETTY_NAME"]), Hostname: optString(r.hostname),
				Arch: optString(r.arch), ArchFrom: optString(r.archFrom),
				FstabEntries: r.fstabLines, Mounts: s.fstabMounts(r.vol),
			}
			if r.hasFstab {
				j.Fstab = optString("/etc/fstab")
			}
			doc.Roots = append(doc.Roots, j)
		}
		return x.writeJSON(doc)
	}
	if s.insp.off {
		fmt.Fprintln(x.Out, "Inspection was off (--no-inspect): no operating system was looked for.")
		if mounted != nil {
			fmt.Fprintf(x.Out, "/ is %s (%s).\n", mounted.Name, mounted.describe())
		}
		return nil
	}
	if len(s.insp.roots) == 0 {
		fmt.Fprintln(x.Out, "No operating system root found: no ext2/3/4 filesystem holds /etc/os-release, /usr/lib/os-release or /etc/fstab.")
		if mounted != nil {
			fmt.Fprintf(x.Out, "/ is %s (%s).\n", mounted.Name, mounted.describe())
		}
		return nil
	}
	var b strings.Builder
	for i, r := range s.insp.roots {
		r.details()
		if i > 0 {
			b.WriteString("\n")
		}
		state := "not mounted; use " + r.vol.Name + " mounts it"
		if r.vol == mounted {
			state = "mounted at /"
		}
		fmt.Fprintf(&b, "Root:\t%s (%s)\n", r.vol.Name, state)
		fmt.Fprintf(&b, "Volume:\t%s (%s)\n", devPath(r.vol), r.vol.identity())
		field := func(name, val string) {
			if val == "" {
				val = "unknown"
			}
			fmt.Fprintf(&b, "%s:\t%s\n", name, val)
		}
		field("Distribution", r.distro())
		field("ID", r.release["ID"])
		field("Version", r.release["VERSION_ID"])
		field("Hostname", r.hostname)
		arch := r.arch
		if arch != "" {
			arch += " (from " + r.archFrom + ")"
		}
		field("Architecture", arch)
		fstab := "none"
		if r.hasFstab {
			fstab = fmt.Sprintf("/etc/fstab, %s", plural(r.fstabLines, "entry"))
			if r.vol == mounted {
				fstab += fmt.Sprintf("; %s mounted (see mounts)", plural(s.fstabMounts(r.vol), "filesystem"))
			}
		}
		field("Fstab", fstab)
	}
	return writeTrimmed(x.Out, s.show(tabulate(b.String())))
}

// mountJSON is one mounted filesystem in mounts --json.
type mountJSON struct {
	Mountpoint string  `json:"mountpoint"`
	Volume     *string `json:"volume"`
	Device     *string `json:"device"`
	FSType     *string `json:"fstype"`
	Label      *string `json:"label"`
	UUID       *string `json:"uuid"`
	Source     *string `json:"source"`
	Options    *string `json:"options"`
	Line       int     `json:"line"`
}

// unmountedJSON is one fstab line that was not mounted, in mounts --json.
type unmountedJSON struct {
	Mountpoint   string  `json:"mountpoint"`
	Source       string  `json:"source"`
	Type         string  `json:"type"`
	Options      *string `json:"options"`
	Line         int     `json:"line"`
	Kind         string  `json:"kind"`
	Reason       string  `json:"reason"`
	Volume       *string `json:"volume"`
	Device       *string `json:"device"`
	VolumeFSType *string `json:"volume_fstype"`
	Label        *string `json:"label"`
	UUID         *string `json:"uuid"`
}

// mountsJSON is the document mounts --json writes.
type mountsJSON struct {
	Fstab      *fstabJSON      `json:"fstab"`
	Mounts     []mountJSON     `json:"mounts"`
	NotMounted []unmountedJSON `json:"not_mounted"`
}

type fstabJSON struct {
	Volume string  `json:"volume"`
	Path   string  `json:"path"`
	Error  *string `json:"error"`
}

// mountRow is one row of mounts: a filesystem in the tree and the fstab
// line that put it there, if any.
type mountRow struct {
	dir string // "/", "/boot"
	vol *Volume
	e   *fstabEntry
}

// mountRows returns the filesystems in the tree, sorted by mount point.
func (s *Shell) mountRows() []mountRow {
	var rows []mountRow
	for _, mt := range s.ns.mounts {
		r := mountRow{dir: "/" + strings.TrimPrefix(mt.dir, "."), vol: mt.vol}
		if f := s.insp.fstab; f != nil {
			for _, e := range f.entries {
				if e.mounted && path.Clean(e.dir) == r.dir && e.vol == mt.vol {
					r.e = e
				}
			}
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b mountRow) int { return strings.Compare(a.dir, b.dir) })
	return rows
}

func runMounts(x *Call) error {
	if err := x.noArgs(); err != nil {
		return err
	}
	s := x.Shell
	rows := s.mountRows()
	f := s.insp.fstab
	var failed []*fstabEntry
	if f != nil {
		for _, e := range f.entries {
			if !e.mounted {
				failed = append(failed, e)
			}
		}
	}
	if x.LongFlag("json") {
		doc := mountsJSON{Mounts: []mountJSON{}, NotMounted: []unmountedJSON{}}
		if f != nil && f.path != "" {
			doc.Fstab = &fstabJSON{Volume: f.vol.Name, Path: f.path}
			if f.err != nil {
				doc.Fstab.Error = optString(reason(f.err))
			}
		}
		for _, r := range rows {
			j := mountJSON{Mountpoint: r.dir}
			if r.vol != nil {
				j.Volume, j.Device, j.FSType = optString(r.vol.Name), optString(devPath(r.vol)), optString(r.vol.FSType)
				j.Label, j.UUID = optString(r.vol.Label), optString(r.vol.UUID)
			}
			if r.e != nil {
				j.Source, j.Options, j.Line = optString(r.e.spec), optString(r.e.opts), r.e.line
			}
			doc.Mounts = append(doc.Mounts, j)
		}
		for _, e := range failed {
			j := unmountedJSON{Mountpoint: e.dir, Source: e.spec, Type: e.typ, Options: optString(e.opts),
				Line: e.line, Kind: e.kind, Reason: e.reason}
			if v := e.vol; v != nil {
				j.Volume, j.Device, j.VolumeFSType = optString(v.Name), optString(devPath(v)), optString(v.FSType)
				j.Label, j.UUID = optString(v.Label), optString(v.UUID)
			}
			doc.NotMounted = append(doc.NotMounted, j)
		}
		return x.writeJSON(doc)
	}
	if len(rows) == 0 {
		fmt.Fprintln(x.Out, "Nothing is mounted (see lsblk and use).")
	} else {
		var b strings.Builder
		b.WriteString("MOUNTPOINT\tVOLUME\tFSTYPE\tSOURCE\n")
		for _, r := range rows {
			name, typ, src := "-", "-", "-"
			if r.vol != nil {
				name, typ = r.vol.Name, r.vol.FSType
			}
			if r.e != nil {
				src = r.e.spec
			}
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", r.dir, name, typ, src)
		}
		writeTrimmed(x.Out, s.show(tabulate(b.String())))
	}
	switch {
	case f == nil || f.path == "":
		if root := s.mountedRoot(); root != nil {
			fmt.Fprintf(x.Out, "\n%s has no /etc/fstab.\n", root.Name)
		}
		return nil
	case f.err != nil:
		fmt.Fprintf(x.Out, "\n/etc/fstab on %s cannot be read: %s\n", f.vol.Name, reason(f.err))
		return nil
	case len(failed) == 0:
		fmt.Fprintf(x.Out, "\nEvery line of /etc/fstab on %s is mounted.\n", f.vol.Name)
		return nil
	}
	fmt.Fprintf(x.Out, "\nNot mounted, from /etc/fstab on %s:\n", f.vol.Name)
	var b strings.Builder
	b.WriteString("MOUNTPOINT\tSOURCE\tTYPE\tVOLUME\tREASON\n")
	for _, e := range failed {
		vol := "-"
		if e.vol != nil {
			vol = e.vol.Name + " (" + e.vol.identity() + ")"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", e.dir, e.spec, e.typ, vol, e.reason)
	}
	return writeTrimmed(x.Out, s.show(tabulate(b.String())))
}

const infoHelp = "info describes what inspection found when vmsh started: for each filesystem holding an operating\n" +
	"system's root (/etc/os-release, /usr/lib/os-release or /etc/fstab), its volume, the distribution\n" +
	"(os-release's PRETTY_NAME, ID and VERSION_ID), the host name (/etc/hostname), the architecture\n" +
	"(read from the ELF header of /bin/sh, symlinks followed inside the guest), its fstab and how many\n" +
	"filesystems are mounted from it, and whether it is the root mounted at /. With several roots,\n" +
	"vmsh mounts the first unless vmsh --root VOLUME names another; use VOLUME switches later.\n" +
	"  --json  one JSON document: {\"inspected\", \"mounted\", \"roots\": [...]}"

const mountsHelp = "mounts lists the filesystems in the tree: mount point, volume, filesystem type and the source\n" +
	"as the guest's /etc/fstab names it (UUID=, LABEL=, /dev/mapper/..., ...). Then the lines of that\n" +
	"fstab that were not mounted, and why: swap space, a virtual or network filesystem, a bind mount,\n" +
	"noauto, a source not on these disks, or a filesystem vmsh does not read (named by type, label and\n" +
	"UUID). Mount points are mounted parents first, whatever the order of the lines.\n" +
	"  --json  one JSON document: {\"fstab\", \"mounts\": [...], \"not_mounted\": [...]}"
