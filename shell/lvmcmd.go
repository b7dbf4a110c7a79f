package shell

import (
	"io"
	"slices"
	"strconv"
	"strings"

	"vmsh/lvm"
)

const lvsHelp = "lvs lists the logical volumes as lvm2's lvs -o +segtype,devices does, one row per\n" +
	"segment: name, volume group, attributes (lv_attr; nothing is active, so the state\n" +
	"and open columns are '-'), size, thin pool, origin, segment type and the devices or\n" +
	"sub-volumes the segment lies on. -a adds the hidden volumes (mirror and raid images,\n" +
	"thin pool metadata and data) in brackets, as lvs -a does.\n"

// lvmTable writes rows the way lvm2's reports do: two spaces in front, one
// between columns, headings left-aligned, sizes and counts right-aligned
// below them, no trailing spaces.
func lvmTable(w io.Writer, head []string, right []bool, rows [][]string) error {
	width := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for n, r := range append([][]string{head}, rows...) {
		var line strings.Builder
		line.WriteString(" ")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			line.WriteString(" ")
			if right[i] && n > 0 {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// lvmGroups checks that pvs, vgs or lvs was given no operands and returns
// the assembled volume groups, or an error when there are no physical
// volumes at all.
func (x *Call) lvmGroups() ([]*lvGroup, error) {
	if err := x.noArgs(); err != nil {
		return nil, err
	}
	s := x.Shell
	s.assembleLVM()
	if len(s.lvm.groups) == 0 && len(s.lvm.orphans) == 0 {
		return nil, errNoLVM
	}
	return s.lvm.groups, nil
}

// pvName is how pvs names a physical volume: the device it was found on,
// or [unknown] when it is missing.
func pvName(dev *lvm.Device) string {
	if dev == nil {
		return "[unknown]"
	}
	return dev.Name
}

func runPvs(x *Call) error {
	groups, err := x.lvmGroups()
	if err != nil {
		return err
	}
	var rows [][]string
	for _, g := range groups {
		vg := g.g.VG
		for i := range vg.PVs {
			pv := &vg.PVs[i]
			var dev *lvm.Device
			if i < len(g.g.Devices) {
				dev = g.g.Devices[i]
			}
			rows = append(rows, []string{pvName(dev), vg.Name, "lvm2", pv.Attr(),
				lvmSize(pv.PECount * vg.ExtentBytes()), lvmSize(pv.FreeExtents() * vg.ExtentBytes())})
		}
	}
	for _, dev := range x.Shell.lvm.orphans {
		rows = append(rows, []string{dev.Name, "", "lvm2", "---", lvmSize(dev.PV.DeviceSize), lvmSize(dev.PV.DeviceSize)})
	}
	sortRows(rows, 0)
	return lvmTable(x.Out, []string{"PV", "VG", "Fmt", "Attr", "PSize", "PFree"},
		[]bool{false, false, false, false, true, true}, rows)
}

func runVgs(x *Call) error {
	groups, err := x.lvmGroups()
	if err != nil {
		return err
	}
	var rows [][]string
	for _, g := range groups {
		vg := g.g.VG
		rows = append(rows, []string{vg.Name, strconv.Itoa(len(vg.PVs)), strconv.Itoa(vg.LVCount()), strconv.Itoa(vg.SnapshotCount()),
			vg.Attr(), lvmSize(vg.Extents() * vg.ExtentBytes()), lvmSize(vg.FreeExtents() * vg.ExtentBytes())})
	}
	sortRows(rows, 0)
	return lvmTable(x.Out, []string{"VG", "#PV", "#LV", "#SN", "Attr", "VSize", "VFree"},
		[]bool{false, true, true, true, false, true, true}, rows)
}

func runLvs(x *Call) error {
	groups, err := x.lvmGroups()
	if err != nil {
		return err
	}
	all := x.Flag('a')
	var rows [][]string
	for _, g := range groups {
		vg := g.g.VG
		for i := range vg.LVs {
			lv := &vg.LVs[i]
			name := lv.Name
			if !lv.Visible() {
				if !all {
					continue
				}
				name = "[" + name + "]"
			}
			for j, devs := range g.g.DevicesOf(lv) {
				rows = append(rows, []string{name, vg.Name, lv.Attr(vg), lvmSize(lv.Extents() * vg.ExtentBytes()),
					lv.Pool(), lv.Origin(), lv.Segments[j].SegType(), devs})
			}
		}
	}
	sortRows(rows, 1, 0)
	return lvmTable(x.Out, []string{"LV", "VG", "Attr", "LSize", "Pool", "Origin", "Type", "Devices"},
		[]bool{false, false, false, true, false, false, false, false}, rows)
}

// sortRows sorts report rows as lvm2 does by default: by the given
// columns, names in brackets as if they had none, keeping the order of
// rows that compare equal (an LV's segments).
func sortRows(rows [][]string, cols ...int) {
	key := func(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]") }
	slices.SortStableFunc(rows, func(a, b []string) int {
		for _, c := range cols {
			if n := strings.Compare(key(a[c]), key(b[c])); n != 0 {
				return n
			}
		}
		return 0
	})
}

// noArgs fails when the command was given operands.
func (x *Call) noArgs() error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) > 0 {
		return usagef("too many arguments")
	}
	return nil
}
