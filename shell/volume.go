package shell

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"vmsh/fsread"
	"vmsh/internal/devio"
	"vmsh/lvm"
	"vmsh/partition"
)

// Disk is one disk the shell was given, with the volumes on it.
type Disk struct {
	Name   string // as Linux would name it: sda, sdb, ...
	Source string // what the user named: an image path, a device, a URL
	Size   int64
	Table  *partition.Table // nil when the disk has no partition table
	Self   *Volume          // the whole disk
	Parts  []*Volume        // its partitions, in Linux order
	index  int
}

// Volume is anything that may hold a filesystem: a whole disk or a
// partition.
type Volume struct {
	Name       string // sda, sda2
	Number     int    // partition number, 0 for a whole disk
	Start      int64  // byte offset on the disk
	Size       int64
	FSType     string // "ext4", "swap", "LVM2_member", "vfat", ... or ""
	Label      string
	UUID       string
	PartUUID   string
	PartLabel  string
	PartType   string             // partition type name, as fdisk says it
	PartTypeID string             // partition type: GPT type GUID or MBR type byte ("0x83")
	Bootable   bool               // the partition table marks it bootable
	Disk       *Disk              // nil for a logical volume
	LV         *lvm.LogicalVolume // the logical volume, or nil
	Group      *lvm.Group         // the LV's volume group, or nil

	major, minor uint32 // Linux's device numbers for it

	// r reads the volume. A disk or partition is a *devio.Section of
	// the disk, which passes bulk copies (devio.WriteRange) down to it.
	r         io.ReaderAt
	blockSize int
	fsys      *fsread.FS
	openErr   error
	warned    int // warnings of fsys already shown
}

// isExt reports whether the volume holds a filesystem vmsh can read.
func (v *Volume) isExt() bool { return strings.HasPrefix(v.FSType, "ext") }

// open opens the volume's filesystem once, printing its warnings.
func (v *Volume) open(s *Shell) (*fsread.FS, error) {
	if v.fsys == nil && v.openErr == nil {
		v.fsys, v.openErr = v.openFS(s)
		v.showWarnings(s)
	}
	return v.fsys, v.openErr
}

// openFS opens the volume's filesystem, without recording it or printing
// anything: once the LVM2 volumes are assembled, it may run for several
// volumes at once.
func (v *Volume) openFS(s *Shell) (*fsread.FS, error) {
	if !v.isExt() {
		switch v.FSType {
		case "":
			return nil, fmt.Errorf("%s: no filesystem found", v.Name)
		case "LVM2_member":
			var names []string
			for _, lv := range s.lvsOn(v) {
				names = append(names, lv.Name)
			}
			if len(names) > 0 {
				return nil, fmt.Errorf("%s: LVM2 physical volume holding %s; name one of those", v.Name, strings.Join(names, ", "))
			}
			return nil, fmt.Errorf("%s: LVM2 physical volume; no readable LV on it", v.Name)
		case "swap":
			return nil, fmt.Errorf("%s: swap space holds no files", v.Name)
		}
		return nil, unsupported(v.Name + ": " + v.FSType + " is not supported")
	}
	opts := s.FSOptions
	if info, err := fsread.Probe(v.r); err == nil && info.JournalUUID != "" && opts.ExternalJournal == nil {
		// The journal is on another volume: replay from it if a disk
		// holds it.
		for _, j := range s.volumes() {
			if j.FSType == "jbd" && j.UUID == info.JournalUUID {
				opts.ExternalJournal, opts.ExternalJournalSize = j.r, j.Size
				break
			}
		}
	}
	f, err := fsread.OpenOptions(v.r, v.Size, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.Name, err)
	}
	return f, nil
}

// showWarnings prints the warnings of the volume's filesystem not shown
// yet: those of opening it, and those found while reading, such as
// checksum mismatches.
func (v *Volume) showWarnings(s *Shell) {
	if v == nil || v.fsys == nil {
		return
	}
	w := v.fsys.Warnings()
	for _, m := range w[min(v.warned, len(w)):] {
		s.Warnf("%s: %s", v.Name, m)
	}
	v.warned = len(w)
}

// unsupportedError is an error for something vmsh does not read yet.
type unsupportedError string

func unsupported(msg string) error              { return unsupportedError(msg) }
func (e unsupportedError) Error() string        { return string(e) }
func (e unsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }

// describe says what a volume holds: "ext4, label root".
func (v *Volume) describe() string {
	d := v.FSType
	if d == "" {
		d = "unknown"
	}
	if v.Label != "" {
		d += ", label " + v.Label
	}
	return d
}

// diskName returns Linux's name for the i'th SCSI disk: sda ... sdz, sdaa.
func diskName(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('a' + (i-1)%26)}, b...)
	}
	return "sd" + string(b)
}

// diskIndex is the inverse of the letters of diskName: "a" is 0, "aa" 26.
func diskIndex(letters string) int {
	n := 0
	for _, c := range letters {
		n = n*26 + int(c-'a'+1)
	}
	return n - 1
}

// AddDisk finds the volumes on a disk: its partitions, or the whole disk
// when it has no partition table, and what each one holds.
func (s *Shell) AddDisk(source string, r io.ReaderAt, size int64) *Disk {
	d := &Disk{Name: diskName(len(s.disks)), Source: source, Size: size, index: len(s.disks)}
	s.disks = append(s.disks, d)
	s.lvm.done = false // assemble again with this disk's physical volumes
	d.Self = &Volume{Name: d.Name, Size: size, Disk: d, r: devio.NewSection(r, 0, size),
		major: 8, minor: uint32(16 * d.index)}
	// GPT keeps a backup header in the last sector: ask for it along with
	// the first ones, so that a reader that caches (the worker's client)
	// has both after one round trip instead of two.
	var tail sync.WaitGroup
	if size >= 1<<20 {
		tail.Go(func() { r.ReadAt(make([]byte, 512), size-512) })
	}
	t, err := partition.Read(r, size)
	tail.Wait()
	switch {
	case errors.Is(err, partition.ErrNoTable):
		s.probe(d.Self)
		return d
	case err != nil:
		s.Warnf("%s: %v; reading the whole disk as one volume", d.Name, err)
		s.probe(d.Self)
		return d
	}
	d.Table = t
	for _, w := range t.Warnings {
		s.Warnf("%s: %s", d.Name, w)
	}
	for _, p := range t.Partitions {
		if p.Start < 0 || p.Size <= 0 || p.Start > size {
			s.Warnf("%s: partition %d lies outside the disk", d.Name, p.Number)
			continue
		}
		psize := min(p.Size, size-p.Start)
		v := &Volume{
			Name: d.Name + strconv.Itoa(p.Number), Number: p.Number, Start: p.Start, Size: psize,
			PartUUID: p.UUID, PartLabel: p.Name, PartType: p.TypeName, PartTypeID: p.Type, Bootable: p.Bootable, Disk: d,
			major: 8, minor: uint32(16*d.index + p.Number),
			r: devio.NewSection(r, p.Start, psize),
		}
		d.Parts = append(d.Parts, v)
	}
	// Probe the partitions at once, so that their reads are in flight
	// together: over a worker or a network each is a round trip.
	var wg sync.WaitGroup
	for _, v := range d.Parts {
		wg.Go(func() { s.probe(v) })
	}
	wg.Wait()
	return d
}

// probe finds what a volume holds from the signatures at its start.
func (s *Shell) probe(v *Volume) {
	if info, err := fsread.Probe(v.r); err == nil {
		v.FSType, v.Label, v.UUID, v.blockSize = info.Type, info.Label, info.UUID, info.BlockSize
		return
	}
	if u, err := fsread.ProbeJournalDev(v.r); err == nil {
		v.FSType, v.UUID = "jbd", u // an ext4 external journal, as blkid names it
		return
	}
	head := make([]byte, 64<<10)
	n, _ := v.r.ReadAt(head, 0)
	head = head[:n]
	at := func(off int, sig string) bool {
		return off+len(sig) <= len(head) && string(head[off:off+len(sig)]) == sig
	}
	// Linux swap: the signature ends the first page, whatever its size.
	for _, page := range []int{4096, 8192, 16384, 65536} {
		if at(page-10, "SWAPSPACE2") || at(page-10, "SWAP-SPACE") {
			v.FSType = "swap"
			if len(head) >= 1068 {
				v.UUID = uuidString(head[1036:1052])
				v.Label = cString(head[1052:1068])
			}
			return
		}
	}
	// LVM2 physical volume: a label in one of the first four sectors.
	for sec := 0; sec < 4; sec++ {
		o := sec * 512
		if at(o, "LABELONE") && at(o+24, "LVM2 001") {
			v.FSType = "LVM2_member"
			if hdr := int(binary.LittleEndian.Uint32(head[o+20:])); hdr >= 32 && o+hdr+32 <= len(head) {
				v.UUID = lvmUUID(head[o+hdr : o+hdr+32])
			}
			return
		}
	}
	id := identify(head, v.r, v.Size)
	v.FSType, v.Label, v.UUID = id.typ, id.label, id.uuid
}

func uuidString(b []byte) string {
	if bytes.Count(b, []byte{0}) == len(b) {
		return ""
	}
	h := fmt.Sprintf("%x", b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// lvmUUID formats a PV's 32-character id as LVM and blkid do: 6-4-4-4-4-4-6.
func lvmUUID(b []byte) string {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return ""
		}
	}
	s := string(b)
	return s[0:6] + "-" + s[6:10] + "-" + s[10:14] + "-" + s[14:18] + "-" + s[18:22] + "-" + s[22:26] + "-" + s[26:32]
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// volumes returns every volume: each disk, then its partitions, then the
// logical volumes.
func (s *Shell) volumes() []*Volume {
	var vs []*Volume
	for _, d := range s.disks {
		vs = append(vs, d.Self)
		vs = append(vs, d.Parts...)
	}
	return append(vs, s.lvVolumes()...)
}

// findVolume finds the volume a user or an fstab names: sda2, /dev/sda2,
// /dev/vda2, 2 (a partition of the first disk), LABEL=x, UUID=x,
// PARTUUID=x, PARTLABEL=x, /dev/disk/by-uuid/x and the like, or a bare
// label or UUID.
func (s *Shell) findVolume(spec string) (*Volume, error) {
	return s.findVolumeIn(spec, s.volumes())
}

// findVolumeIn is findVolume with the volumes a key (UUID=, LABEL=, ...)
// or a bare label or UUID is looked for among.
func (s *Shell) findVolumeIn(spec string, vs []*Volume) (*Volume, error) {
	find := func(match func(v *Volume) bool) *Volume {
		for _, v := range vs {
			if match(v) {
				return v
			}
		}
		return nil
	}
	key, val, hasKey := strings.Cut(spec, "=")
	if !hasKey {
		for _, by := range []struct{ dir, key string }{
			{"/dev/disk/by-uuid/", "UUID"}, {"/dev/disk/by-label/", "LABEL"},
			{"/dev/disk/by-partuuid/", "PARTUUID"}, {"/dev/disk/by-partlabel/", "PARTLABEL"},
		} {
			if rest, ok := strings.CutPrefix(spec, by.dir); ok {
				key, val, hasKey = by.key, unhexEscapes(rest), true
			}
		}
	}
	var v *Volume
	if hasKey {
		switch strings.ToUpper(key) {
		case "UUID":
			v = find(func(v *Volume) bool { return v.UUID != "" && strings.EqualFold(v.UUID, val) })
		case "LABEL":
			v = find(func(v *Volume) bool { return v.Label != "" && v.Label == val })
		case "PARTUUID":
			v = find(func(v *Volume) bool { return v.PartUUID != "" && strings.EqualFold(v.PartUUID, val) })
		case "PARTLABEL":
			v = find(func(v *Volume) bool { return v.PartLabel != "" && v.PartLabel == val })
		default:
			return nil, fmt.Errorf("%s: unknown key %s (UUID, LABEL, PARTUUID or PARTLABEL)", spec, key)
		}
	} else {
		v = s.findLV(spec)
		name := linuxName(spec)
		if v == nil {
			v = find(func(v *Volume) bool { return v.Name == name })
		}
		if v == nil && len(s.disks) > 0 {
			if n, err := strconv.Atoi(spec); err == nil {
				v = find(func(v *Volume) bool { return v.Disk == s.disks[0] && v.Number == n && n > 0 })
			}
		}
		if v == nil {
			v = find(func(v *Volume) bool { return v.Label != "" && v.Label == spec })
		}
		if v == nil {
			v = find(func(v *Volume) bool { return v.UUID != "" && strings.EqualFold(v.UUID, spec) })
		}
		if v == nil {
			v = find(func(v *Volume) bool { return v.PartUUID != "" && strings.EqualFold(v.PartUUID, spec) })
		}
	}
	if v == nil {
		return nil, fmt.Errorf("%s: no such volume (see lsblk)", spec)
	}
	return v, nil
}

// linuxName maps a guest's device name to the names vmsh gives volumes: the
// guest may call its first disk vda, xvda, hda or nvme0n1, all sda here.
func linuxName(dev string) string {
	n := strings.TrimPrefix(dev, "/dev/")
	for _, p := range []string{"xvd", "vd", "hd", "sd"} {
		if rest, ok := strings.CutPrefix(n, p); ok {
			letters := strings.TrimRight(rest, "0123456789")
			num := rest[len(letters):]
			if letters == "" || strings.Trim(letters, "abcdefghijklmnopqrstuvwxyz") != "" {
				return n
			}
			return diskName(diskIndex(letters)) + num
		}
	}
	for _, p := range []string{"nvme", "mmcblk"} {
		rest, ok := strings.CutPrefix(n, p)
		if !ok {
			continue
		}
		if p == "nvme" {
			ctrl, ns, ok := strings.Cut(rest, "n")
			if !ok {
				return n
			}
			rest = ctrl
			if _, part, ok := strings.Cut(ns, "p"); ok {
				rest += "p" + part
			}
		}
		disk, part, _ := strings.Cut(rest, "p")
		i, err := strconv.Atoi(disk)
		if err != nil {
			return n
		}
		return diskName(i) + part
	}
	return n
}

// unhexEscapes decodes the \xNN escapes udev uses in /dev/disk/by-label.
func unhexEscapes(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if c, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (s *Shell) mountRoot(v *Volume) {
	s.ns = mountFS{}
	s.ns.add(".", v.fsys, v)
	s.ids = nil
	s.cwd, s.oldCwd = "/", "/"
	s.Warnf("/ is %s (%s)", v.Name, v.describe())
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// unoctal decodes the \040-style escapes of fstab fields.
func unoctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return data, err
}

// mountpoints returns where a volume is mounted, as shell paths.
func (s *Shell) mountpoints(v *Volume) []string {
	var out []string
	for i := len(s.ns.mounts) - 1; i >= 0; i-- {
		if mt := s.ns.mounts[i]; mt.vol == v {
			out = append(out, "/"+strings.TrimPrefix(mt.dir, "."))
		}
	}
	return out
}

func runLsblk(x *Call) error {
	if err := x.noArgs(); err != nil {
		return err
	}
	s := x.Shell
	if len(s.disks) == 0 {
		return errors.New("no disks")
	}
	if x.LongFlag("json") {
		return x.writeJSON(s.lsblkJSON())
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 8, 1, ' ', 0)
	if x.Flag('p') {
		partitionTable(tw, s.disks)
		tw.Flush()
		return writeTrimmed(x.Out, buf.String())
	}
	fmt.Fprintln(tw, "NAME\tSIZE\tTYPE\tFSTYPE\tLABEL\tUUID\tMOUNTPOINTS")
	row := func(name string, v *Volume, typ string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, sizeString(v.Size), typ,
			v.FSType, v.Label, v.UUID, strings.Join(s.mountpoints(v), ","))
	}
	// children writes the LVs on a physical volume under it, indented
	// below the branch its parent hangs from.
	children := func(v *Volume, indent string) {
		lvs := s.lvsOn(v)
		for i, lv := range lvs {
			branch := "├─"
			if i == len(lvs)-1 {
				branch = "└─"
			}
			row(indent+branch+lv.Name, lv, "lvm")
		}
	}
	for _, d := range s.disks {
		row(d.Name, d.Self, "disk")
		children(d.Self, "")
		for i, p := range d.Parts {
			branch, indent := "├─", "│ "
			if i == len(d.Parts)-1 {
				branch, indent = "└─", "  "
			}
			row(branch+p.Name, p, "part")
			children(p, indent)
		}
	}
	tw.Flush()
	return writeTrimmed(x.Out, buf.String())
}

// blockJSON is one device in lsblk --json, as lsblk -J describes it, with
// sizes in bytes and null where a field has no value.
type blockJSON struct {
	Name        string      `json:"name"`
	Path        string      `json:"path"`
	Size        int64       `json:"size"`
	Type        string      `json:"type"`
	FSType      *string     `json:"fstype"`
	Label       *string     `json:"label"`
	UUID        *string     `json:"uuid"`
	PartUUID    *string     `json:"partuuid"`
	PartLabel   *string     `json:"partlabel"`
	PartType    *string     `json:"parttype"`
	Mountpoints []string    `json:"mountpoints"`
	Children    []blockJSON `json:"children,omitempty"`
}

// lsblkJSON describes the disks as lsblk -J does: {"blockdevices": [...]},
// partitions and logical volumes as children.
func (s *Shell) lsblkJSON() any {
	node := func(v *Volume, typ string) blockJSON {
		b := blockJSON{Name: v.Name, Path: devPath(v), Size: v.Size, Type: typ,
			FSType: optString(v.FSType), Label: optString(v.Label), UUID: optString(v.UUID),
			PartUUID: optString(v.PartUUID), PartLabel: optString(v.PartLabel), PartType: optString(v.PartTypeID),
			Mountpoints: s.mountpoints(v)}
		if b.Mountpoints == nil {
			b.Mountpoints = []string{}
		}
		for _, lv := range s.lvsOn(v) {
			c := blockJSON{Name: lv.Name, Path: devPath(lv), Size: lv.Size, Type: "lvm",
				FSType: optString(lv.FSType), Label: optString(lv.Label), UUID: optString(lv.UUID),
				Mountpoints: s.mountpoints(lv)}
			if c.Mountpoints == nil {
				c.Mountpoints = []string{}
			}
			b.Children = append(b.Children, c)
		}
		return b
	}
	devs := []blockJSON{}
	for _, d := range s.disks {
		b := node(d.Self, "disk")
		for _, p := range d.Parts {
			b.Children = append(b.Children, node(p, "part"))
		}
		devs = append(devs, b)
	}
	return struct {
		BlockDevices []blockJSON `json:"blockdevices"`
	}{devs}
}

// partitionTable writes what the partition tables say of each partition,
// as lsblk -o NAME,START,SIZE,PARTTYPENAME,PARTLABEL,PARTUUID would, with a
// mark for the bootable ones. A disk without a table has no rows.
func partitionTable(w io.Writer, disks []*Disk) {
	fmt.Fprintln(w, "NAME\tSTART\tSIZE\tBOOT\tPARTTYPE\tPARTLABEL\tPARTUUID")
	for _, d := range disks {
		for _, p := range d.Parts {
			boot := ""
			if p.Bootable {
				boot = "*"
			}
			typ := p.PartType
			if typ == "" {
				typ = p.PartTypeID
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Start, sizeString(p.Size), boot, typ, p.PartLabel, p.PartUUID)
		}
	}
}

// writeTrimmed writes text without the spaces tabwriter leaves at the ends
// of lines.
func writeTrimmed(w io.Writer, text string) error {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if strings.HasSuffix(l, "\n") {
			b.WriteString(strings.TrimRight(l[:len(l)-1], " ") + "\n")
		} else {
			b.WriteString(l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sizeString formats a size as lsblk does: "20G", "512M", "1.5G".
func sizeString(n int64) string {
	const units = "BKMGTPE"
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + units[i:i+1]
}

func runUse(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) != 1 {
		return usagef("name one volume")
	}
	s := x.Shell
	v, err := s.findVolume(ops[0].text)
	if err != nil {
		return err
	}
	if _, err := v.open(s); err != nil {
		return err
	}
	s.mountRoot(v)
	s.mountFstab(v)
	return nil
}

// ConnStatus is what the process holding the disks says of one
// connection: a disk file or a network export.
type ConnStatus struct {
	ID         uint32
	Name       string // without credentials
	Format     string // "raw", "qcow2", "vmdk (nbd)", ...
	Size       int64
	State      string // "connected", "reconnecting", "ready", ...
	Reconnects uint64
	Requests   uint64 // reads served
	Bytes      uint64 // bytes served
	Errors     uint64 // reads that failed
	LastErr    string
	LastErrAt  time.Time
}

// runDisks lists the disks and where they came from, then the
// connections behind them.
func runDisks(x *Call) error {
	if err := x.noArgs(); err != nil {
		return err
	}
	if x.LongFlag("json") {
		return x.disksJSON()
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tTABLE\tID\tSOURCE")
	for _, d := range x.Shell.disks {
		scheme, id := "none", ""
		if d.Table != nil {
			scheme, id = d.Table.Scheme, d.Table.DiskID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, sizeString(d.Size), scheme, id, d.Source)
	}
	tw.Flush()
	if x.Shell.ConnStatus != nil {
		conns, err := x.Shell.ConnStatus()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "\nCONN\tFORMAT\tSIZE\tSTATE\tRECONNECTS\tREADS\tBYTES\tERRORS\tLAST ERROR\tNAME")
		for _, c := range conns {
			last := "-"
			if c.LastErr != "" {
				last = c.LastErrAt.Local().Format("15:04:05") + " " + c.LastErr
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\n", c.ID, c.Format, sizeString(c.Size), c.State,
				c.Reconnects, c.Requests, sizeString(int64(c.Bytes)), c.Errors, last, c.Name)
		}
		tw.Flush()
	}
	return writeTrimmed(x.Out, buf.String())
}

// diskJSON is one disk in disks --json.
type diskJSON struct {
	Name   string  `json:"name"`
	Size   int64   `json:"size"`
	Table  *string `json:"table"` // "gpt", "dos", or null
	ID     *string `json:"id"`    // the table's disk id
	Source string  `json:"source"`
}

// connJSON is one connection of the worker in disks --json.
type connJSON struct {
	ID          uint32     `json:"id"`
	Name        string     `json:"name"`
	Format      string     `json:"format"`
	Size        int64      `json:"size"`
	State       string     `json:"state"`
	Reconnects  uint64     `json:"reconnects"`
	Reads       uint64     `json:"reads"`
	Bytes       uint64     `json:"bytes"`
	Errors      uint64     `json:"errors"`
	LastError   *string    `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
}

// disksJSON writes {"disks": [...], "connections": [...]}.
func (x *Call) disksJSON() error {
	doc := struct {
		Disks       []diskJSON `json:"disks"`
		Connections []connJSON `json:"connections"`
	}{Disks: []diskJSON{}, Connections: []connJSON{}}
	for _, d := range x.Shell.disks {
		j := diskJSON{Name: d.Name, Size: d.Size, Source: d.Source}
		if d.Table != nil {
			j.Table, j.ID = optString(d.Table.Scheme), optString(d.Table.DiskID)
		}
		doc.Disks = append(doc.Disks, j)
	}
	if x.Shell.ConnStatus != nil {
		conns, err := x.Shell.ConnStatus()
		if err != nil {
			return err
		}
		for _, c := range conns {
			j := connJSON{ID: c.ID, Name: c.Name, Format: c.Format, Size: c.Size, State: c.State,
				Reconnects: c.Reconnects, Reads: c.Requests, Bytes: c.Bytes, Errors: c.Errors,
				LastError: optString(c.LastErr)}
			if c.LastErr != "" && !c.LastErrAt.IsZero() {
				t := c.LastErrAt
				j.LastErrorAt = &t
			}
			doc.Connections = append(doc.Connections, j)
		}
	}
	return x.writeJSON(doc)
}
