package shell

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"vmsh/internal/devio"
	"vmsh/lvm"
)

// lvmState is what the shell assembled from the LVM2 physical volumes on
// its disks.
type lvmState struct {
	done    bool
	set     *lvm.Set
	groups  []*lvGroup
	pvVols  map[*lvm.Device]*Volume // the volume each PV was found on
	orphans []*lvm.Device
}

// lvGroup is one volume group and the volumes of its logical volumes.
type lvGroup struct {
	g    *lvm.Group
	vols []*Volume // visible LVs, in metadata order
}

// devMapperMajor is the block major number Linux gives device-mapper
// devices, and so LVs.
const devMapperMajor = 253

// dmName is the device-mapper name of an LV, as it appears in /dev/mapper:
// the VG and LV names joined by a dash, with their own dashes doubled.
func dmName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// assembleLVM reads the label of every LVM2 physical volume on the disks,
// groups them into volume groups and makes a volume of each visible
// logical volume. It runs once, when the volumes are first needed, so that
// the physical volumes of every disk are seen together.
func (s *Shell) assembleLVM() {
	st := &s.lvm
	if st.done {
		return
	}
	*st = lvmState{done: true, pvVols: map[*lvm.Device]*Volume{}}
	var devs []*lvm.Device
	for _, d := range s.disks {
		for _, v := range append([]*Volume{d.Self}, d.Parts...) {
			if v.FSType != "LVM2_member" || v.r == nil {
				continue
			}
			pv, err := lvm.ReadLabel(v.r, v.Size)
			if err != nil {
				v.openErr = fmt.Errorf("%s: %w", v.Name, err)
				s.Warnf("%v", v.openErr)
				continue
			}
			dev := &lvm.Device{Name: "/dev/" + v.Name, R: v.r, Size: v.Size, PV: pv}
			devs = append(devs, dev)
			st.pvVols[dev] = v
		}
	}
	if len(devs) == 0 {
		return
	}
	set, err := lvm.Assemble(devs)
	if err != nil {
		s.Warnf("lvm: %v", err)
		return
	}
	st.set = set
	st.orphans = set.Orphans
	for _, w := range set.Warnings {
		s.Warnf("lvm: %s", w)
	}
	minor := 0
	var probes []*Volume
	for _, g := range set.Groups {
		lg := &lvGroup{g: g}
		st.groups = append(st.groups, lg)
		var unreadable []string
		for i := range g.VG.LVs {
			lv := &g.VG.LVs[i]
			if !lv.Visible() {
				continue
			}
			v := &Volume{
				Name:  dmName(g.VG.Name, lv.Name),
				Size:  lv.Extents() * g.VG.ExtentBytes(),
				LV:    lv,
				Group: g,
				major: devMapperMajor,
				minor: uint32(minor),
			}
			minor++
			r, err := g.Open(lv.Name)
			if err != nil {
				v.openErr = fmt.Errorf("%s: %w", v.Name, err)
				unreadable = append(unreadable, lv.Name)
			} else {
				v.Size = r.Size()
				v.r = devio.NewSection(r, 0, r.Size())
				probes = append(probes, v)
			}
			lg.vols = append(lg.vols, v)
		}
		if len(unreadable) > 0 && len(g.Missing()) > 0 {
			s.Warnf("lvm: VG %s is partial: %s cannot be read without the missing PV; %d other LVs can",
				g.VG.Name, strings.Join(unreadable, ", "), len(lg.vols)-len(unreadable))
		}
	}
	// Probe the LVs at once, so that their reads are in flight together.
	var wg sync.WaitGroup
	for _, v := range probes {
		wg.Go(func() { s.probe(v) })
	}
	wg.Wait()
}

// lvVolumes returns the volumes of every visible LV.
func (s *Shell) lvVolumes() []*Volume {
	s.assembleLVM()
	var vs []*Volume
	for _, g := range s.lvm.groups {
		vs = append(vs, g.vols...)
	}
	return vs
}

// findLV finds an LV volume by the names Linux gives it: /dev/VG/LV,
// /dev/mapper/VG-LV, /dev/disk/by-id/dm-name-VG-LV, VG/LV or VG-LV.
func (s *Shell) findLV(spec string) *Volume {
	vs := s.lvVolumes()
	if len(vs) == 0 {
		return nil
	}
	name := spec
	if rest, ok := strings.CutPrefix(spec, "/dev/mapper/"); ok {
		name = rest
	} else if rest, ok := strings.CutPrefix(spec, "/dev/disk/by-id/dm-name-"); ok {
		name = rest
	} else if vg, lv, ok := strings.Cut(strings.TrimPrefix(spec, "/dev/"), "/"); ok && !strings.Contains(lv, "/") {
		name = dmName(vg, lv)
	}
	for _, v := range vs {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// lvsOn returns the LV volumes with extents on the physical volume found
// on v, in the order of the VG's metadata.
func (s *Shell) lvsOn(v *Volume) []*Volume {
	s.assembleLVM()
	var out []*Volume
	for _, g := range s.lvm.groups {
		for i, dev := range g.g.Devices {
			if dev == nil || s.lvm.pvVols[dev] != v {
				continue
			}
			for _, lv := range g.vols {
				if slices.Contains(g.g.VG.PVsOf(lv.LV), i) {
					out = append(out, lv)
				}
			}
		}
	}
	return out
}

// lvmSize formats a size as lvm2's reports do by default: two decimals in
// the largest binary unit not above it, lower-case unit letter, and a "<"
// in front when rounding made the figure larger than the size.
func lvmSize(n int64) string {
	const units = "bkmgtpe"
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := fmt.Sprintf("%.2f", v)
	var shown float64
	fmt.Sscan(s, &shown)
	if shown > v {
		s = "<" + s
	}
	return s + units[i:i+1]
}

// errNoLVM is what pvs, vgs and lvs say when no disk holds a PV.
var errNoLVM = errors.New("no LVM2 physical volumes on these disks")
