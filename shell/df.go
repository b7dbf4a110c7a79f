package shell

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"vmsh/fsread"
)

// dfHelp is the help text of df.
const dfHelp = `df shows the space and inodes of each mounted filesystem, or of the filesystems
holding the paths named, as GNU df does on Linux: size, used, available and use%
in 1K blocks (-h: in K, M, G), or with -i the inodes. The size leaves out what
the filesystem's own structures take (superblocks, group descriptors, bitmaps,
inode tables, journal), and available leaves out the blocks reserved for root,
as the kernel's statfs counts them.
  -h  sizes in powers of 1024: K, M, G
  -i  inodes, used and free, instead of blocks
  --json  one JSON document: {"filesystems": [{"filesystem", "type", "mounted_on",
          "block_size", "size", "used", "available", "use_percent", "inodes",
          "inodes_used", "inodes_free", "inodes_use_percent"}]}; sizes in bytes`

// dfRow is one filesystem of df.
type dfRow struct {
	source, fstype, target string
	st                     fsread.StatFS
}

// dfJSON is one filesystem of df --json. Sizes are in bytes; a
// percentage is null when it cannot be computed (no space at all).
type dfJSON struct {
	Filesystem       string `json:"filesystem"`
	Type             string `json:"type"`
	MountedOn        string `json:"mounted_on"`
	BlockSize        int64  `json:"block_size"`
	Size             uint64 `json:"size"`
	Used             uint64 `json:"used"`
	Available        uint64 `json:"available"`
	UsePercent       *int   `json:"use_percent"`
	Inodes           uint64 `json:"inodes"`
	InodesUsed       uint64 `json:"inodes_used"`
	InodesFree       uint64 `json:"inodes_free"`
	InodesUsePercent *int   `json:"inodes_use_percent"`
}

func runDf(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	s := x.Shell
	var mounts []*mount
	if len(ops) == 0 {
		for i := range s.ns.mounts {
			mounts = append(mounts, &s.ns.mounts[i])
		}
		slices.SortFunc(mounts, func(a, b *mount) int { return strings.Compare(mountTarget(a), mountTarget(b)) })
	}
	for _, p := range x.expand(ops) {
		r, err := s.ns.resolve("stat", s.name(p), true)
		if err == nil {
			_, err = fs.Stat(s.FS(), r)
		}
		if err != nil {
			x.Fail(p, err)
			continue
		}
		if mt, _ := s.ns.lookup(r); mt != nil {
			mounts = append(mounts, mt)
		}
	}
	if len(mounts) == 0 && len(ops) == 0 {
		return errNoFS
	}
	var rows []dfRow
	for _, mt := range mounts {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		f, ok := mt.fsys.(*fsread.FS)
		if !ok {
			continue // a filesystem given directly, in tests
		}
		st, err := f.StatFS()
		if err != nil {
			x.Fail(mountTarget(mt), err)
			continue
		}
		rows = append(rows, dfRow{source: mountSource(mt), fstype: f.Info().Type, target: mountTarget(mt), st: st})
	}
	if x.LongFlag("json") {
		out := struct {
			Filesystems []dfJSON `json:"filesystems"`
		}{Filesystems: []dfJSON{}}
		for _, r := range rows {
			bs := uint64(r.st.BlockSize)
			used := r.st.Blocks - min(r.st.FreeBlocks, r.st.Blocks)
			iused := r.st.Inodes - min(r.st.FreeInodes, r.st.Inodes)
			out.Filesystems = append(out.Filesystems, dfJSON{
				Filesystem: r.source, Type: r.fstype, MountedOn: r.target, BlockSize: r.st.BlockSize,
				Size: r.st.Blocks * bs, Used: used * bs, Available: r.st.AvailBlocks * bs,
				UsePercent: percent(used, r.st.AvailBlocks),
				Inodes:     r.st.Inodes, InodesUsed: iused, InodesFree: r.st.FreeInodes,
				InodesUsePercent: percent(iused, r.st.FreeInodes),
			})
		}
		return x.writeJSON(out)
	}
	if len(rows) > 0 || len(ops) == 0 {
		x.printDf(rows)
	}
	return nil
}

// printDf prints the table as GNU df does: each column as wide as its
// widest cell, with at least GNU df's minimum widths, numbers on the
// right, the last column unpadded.
func (x *Call) printDf(rows []dfRow) {
	human, inodes := x.Flag('h'), x.Flag('i')
	num := func(n uint64, unit uint64) string {
		if human {
			return humanSize(int64(n * unit))
		}
		return strconv.FormatUint(n*unit/1024, 10)
	}
	head := []string{"Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on"}
	switch {
	case inodes:
		head = []string{"Filesystem", "Inodes", "IUsed", "IFree", "IUse%", "Mounted on"}
	case human:
		head = []string{"Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on"}
	}
	table := [][]string{head}
	for _, r := range rows {
		var total, used, avail, unit uint64
		if inodes {
			total, used, avail, unit = r.st.Inodes, r.st.Inodes-min(r.st.FreeInodes, r.st.Inodes), r.st.FreeInodes, 1
			if !human {
				unit = 1024 // num divides by 1024
			}
		} else {
			total, used, avail, unit = r.st.Blocks, r.st.Blocks-min(r.st.FreeBlocks, r.st.Blocks), r.st.AvailBlocks, uint64(r.st.BlockSize)
		}
		pct := "-"
		if p := percent(used, avail); p != nil {
			pct = strconv.Itoa(*p) + "%"
		}
		table = append(table, []string{r.source, num(total, unit), num(used, unit), num(avail, unit), pct, r.target})
	}
	widths := []int{14, 5, 5, 5, 4, 0}
	for _, row := range table {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range table {
		b.Reset()
		for i, c := range row {
			switch {
			case i == len(row)-1:
				b.WriteString(" " + c)
			case i == 0:
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			default:
				fmt.Fprintf(&b, " %*s", widths[i], c)
			}
		}
		b.WriteByte('\n')
		fmt.Fprint(x.Out, b.String())
	}
}

// percent is used as a percentage of used+avail, rounded up, as df's Use%
// is; nil when both are 0.
func percent(used, avail uint64) *int {
	total := used + avail
	if total == 0 || total < used {
		return nil
	}
	p := int((used*100 + total - 1) / total)
	if used > ^uint64(0)/100 {
		p = int(used / (total/100 + 1))
	}
	return &p
}

// mountTarget is where a mount is in the shell's tree.
func mountTarget(mt *mount) string {
	if mt.dir == "." {
		return "/"
	}
	return "/" + mt.dir
}

// mountSource names a mount's device as Linux would: /dev/sda2, or
// /dev/mapper/VG-LV for a logical volume.
func mountSource(mt *mount) string {
	switch {
	case mt.vol == nil:
		return "-"
	case mt.vol.LV != nil:
		return "/dev/mapper/" + mt.vol.Name
	}
	return "/dev/" + mt.vol.Name
}
