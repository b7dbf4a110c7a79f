package lvm

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Device is one volume that carries a PV label, as the caller found it.
type Device struct {
	Name string      // the caller's name for it, e.g. "sda2"; used in messages and Devices columns
	R    io.ReaderAt // the whole volume (partition or disk)
	Size int64
	PV   *PV // from ReadLabel
}

// Set is what Assemble makes of a list of devices.
type Set struct {
	Groups  []*Group  // sorted by VG name
	Orphans []*Device // PVs in no VG
	// Warnings holds everything found wrong, those of each Group
	// included, in the order found.
	Warnings []string
}

// Group is a volume group and the devices that carry its PVs.
type Group struct {
	VG       *VG
	Devices  []*Device // parallel to VG.PVs; nil where the PV is missing
	Warnings []string
}

// Assemble groups devices into volume groups by VG id. For each VG the
// metadata with the highest seqno among its devices is used; a device
// whose copy is older, or whose copy at the same seqno differs, gives a
// warning naming both devices and seqnos. PVs of the metadata without a
// device are Missing (warning naming the PV UUID); so are PVs the metadata
// itself flags as missing, whose devices may hold stale data. Devices with
// a label but no metadata (orphan PVs, or metadata areas all ignored) join
// the VG that lists their UUID, or are returned as Orphans, as are devices
// whose VG no longer lists them.
//
// Damage confined to one device or VG gives warnings and leaves it out;
// the error is only for unusable input (a device without a reader or a
// label).
func Assemble(devs []*Device) (*Set, error) {
	set := &Set{}
	warn := func(g *Group, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if g != nil {
			g.Warnings = append(g.Warnings, msg)
		}
		set.Warnings = append(set.Warnings, msg)
	}
	// One device per PV UUID.
	byUUID := map[string]*Device{}
	var uniq []*Device
	for i, d := range devs {
		if d == nil || d.R == nil || d.PV == nil {
			return nil, fmt.Errorf("lvm: device %d has no reader or no PV label", i)
		}
		if prev := byUUID[d.PV.UUID]; prev != nil {
			warn(nil, "%s and %s carry the same PV UUID %s; using %s", prev.Name, d.Name, FormattedUUID(d.PV.UUID), prev.Name)
			continue
		}
		byUUID[d.PV.UUID] = d
		uniq = append(uniq, d)
	}
	// Each device's copy of its VG's metadata.
	type copyOf struct {
		dev *Device
		vg  *VG
	}
	byVG := map[string][]copyOf{}
	own := map[*Device]*VG{}
	var ids []string
	for _, d := range uniq {
		if d.PV.Metadata == nil {
			continue
		}
		vg, err := ParseVG(d.PV.Metadata)
		if err != nil {
			warn(nil, "%s: metadata left out: %v", d.Name, err)
			continue
		}
		if _, ok := byVG[vg.ID]; !ok {
			ids = append(ids, vg.ID)
		}
		byVG[vg.ID] = append(byVG[vg.ID], copyOf{d, vg})
		own[d] = vg
	}
	claimed := map[*Device]bool{}
	for _, id := range ids {
		copies := byVG[id]
		best := copies[0]
		for _, c := range copies[1:] {
			if c.vg.Seqno > best.vg.Seqno {
				best = c
			}
		}
		vg := best.vg
		g := &Group{VG: vg, Devices: make([]*Device, len(vg.PVs))}
		for _, c := range copies {
			switch {
			case c == best:
			case c.vg.Seqno < vg.Seqno:
				warn(g, "VG %s: %s holds metadata seqno %d, older than seqno %d on %s; using seqno %d", vg.Name, c.dev.Name, c.vg.Seqno, vg.Seqno, best.dev.Name, vg.Seqno)
			case !bytes.Equal(c.dev.PV.Metadata, best.dev.PV.Metadata):
				warn(g, "VG %s: %s and %s both hold metadata seqno %d, but the copies differ; using the one on %s", vg.Name, best.dev.Name, c.dev.Name, vg.Seqno, best.dev.Name)
			}
		}
		for i := range vg.PVs {
			pv := &vg.PVs[i]
			d := byUUID[strings.ReplaceAll(pv.ID, "-", "")]
			switch {
			case d == nil:
			case claimed[d]:
				warn(g, "VG %s: PV %s on %s already belongs to another VG", vg.Name, pv.Name, d.Name)
				d = nil
			case own[d] != nil && own[d].ID != id:
				warn(g, "VG %s lists PV %s, but %s holds metadata of VG %s", vg.Name, pv.Name, d.Name, own[d].Name)
				d = nil
			case pv.Missing:
				warn(g, "VG %s: PV %s (UUID %s) is on %s, but the metadata marks it missing; its data is not used", vg.Name, pv.Name, pv.ID, d.Name)
				claimed[d] = true
				continue
			}
			if d == nil {
				pv.Missing = true
				hint := ""
				if pv.Device != "" {
					hint = ", last seen as " + pv.Device
				}
				warn(g, "VG %s: PV %s (UUID %s%s) is missing", vg.Name, pv.Name, pv.ID, hint)
				continue
			}
			claimed[d] = true
			g.Devices[i] = d
			if end := (pv.PEStart + pv.PECount*vg.ExtentSize) * sectorSize; d.Size < end {
				warn(g, "VG %s: %s is %d bytes, but PV %s spans %d; reading beyond its end fails", vg.Name, d.Name, d.Size, pv.Name, end)
			}
		}
		set.Groups = append(set.Groups, g)
	}
	for _, d := range uniq {
		if claimed[d] {
			continue
		}
		if vg := own[d]; vg != nil {
			warn(nil, "%s holds metadata seqno %d of VG %s, whose newest metadata does not list it", d.Name, vg.Seqno, vg.Name)
		}
		set.Orphans = append(set.Orphans, d)
	}
	slices.SortStableFunc(set.Groups, func(a, b *Group) int {
		return cmp.Or(cmp.Compare(a.VG.Name, b.VG.Name), cmp.Compare(a.VG.ID, b.VG.ID))
	})
	for i := 1; i < len(set.Groups); i++ {
		if a, b := set.Groups[i-1].VG, set.Groups[i].VG; a.Name == b.Name {
			warn(nil, "two volume groups are named %s (ids %s and %s)", a.Name, a.ID, b.ID)
		}
	}
	return set, nil
}

// Missing returns the PVs of the VG that no device carries.
func (g *Group) Missing() []PhysicalVolume {
	var out []PhysicalVolume
	for i, pv := range g.VG.PVs {
		if i >= len(g.Devices) || g.Devices[i] == nil {
			out = append(out, pv)
		}
	}
	return out
}

// DevicesOf returns, for each segment of lv, what lvs prints in its devices
// column, naming PVs by their Device's Name and missing ones "[unknown]".
func (g *Group) DevicesOf(lv *LogicalVolume) []string {
	name := func(key string) string {
		for i, pv := range g.VG.PVs {
			if pv.Name == key && i < len(g.Devices) && g.Devices[i] != nil {
				return g.Devices[i].Name
			}
		}
		return "[unknown]"
	}
	out := make([]string, len(lv.Segments))
	for i := range lv.Segments {
		out[i] = lv.Segments[i].Devices(name)
	}
	return out
}
