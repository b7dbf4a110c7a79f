package lvm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
)

// ErrMissingPV is wrapped by errors about data on a physical volume that
// no device carries.
var ErrMissingPV = errors.New("lvm: physical volume missing")

// MissingPVError reports that an LV needs a physical volume that was not
// found among the devices.
type MissingPVError struct {
	VG     string // the volume group
	LV     string // the logical volume that needs it
	PV     string // key of the PV in the metadata, e.g. "pv1"
	UUID   string // the PV's UUID, with dashes
	Device string // where lvm2 last saw it, e.g. "/dev/sdb"; may be empty
}

func (e *MissingPVError) Error() string {
	hint := ""
	if e.Device != "" {
		hint = ", last seen as " + e.Device
	}
	return fmt.Sprintf("lvm: LV %s/%s needs physical volume %s (UUID %s%s), which is missing", e.VG, e.LV, e.PV, e.UUID, hint)
}

// Is reports whether target is ErrMissingPV.
func (e *MissingPVError) Is(target error) bool { return target == ErrMissingPV }

// Volume is a logical volume readable as a block device. ReadAt is safe
// for concurrent use.
type Volume struct {
	lv       *LogicalVolume
	dev      device
	size     int64
	warnings []string
}

var errNegativeOffset = errors.New("lvm: negative offset")

// ReadAt reads len(p) bytes from byte off of the volume. Reads that reach
// past the end return the bytes before it and io.EOF. When reading fails
// part way, ReadAt returns 0 and the error.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= v.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > v.size-off {
		p, eof = p[:v.size-off], io.EOF
	}
	if err := v.dev.readAt(p, off); err != nil {
		return 0, err
	}
	return len(p), eof
}

// Size returns the volume's size in bytes. For a snapshot it is the size
// of its origin, as device-mapper presents it, not the size of its COW LV.
func (v *Volume) Size() int64 { return v.size }

// LV returns the logical volume's metadata.
func (v *Volume) LV() *LogicalVolume { return v.lv }

// Warnings returns what was found wrong but still allows reading, such as
// a mirror leg left out because its PV is missing.
func (v *Volume) Warnings() []string { return v.warnings }

// Open returns the logical volume called name, hidden sub-LVs included, as
// a Volume. An LV that needs a missing PV gives an error wrapping
// ErrMissingPV (a *MissingPVError names it), except mirror and raid1 LVs,
// which open with the legs that remain (and a warning), and raid10 LVs
// that still have a copy of every chunk. Segment types not read here give
// an error wrapping errors.ErrUnsupported. A snapshot's COW LV opens as
// the snapshot: its origin seen through its exceptions; an origin being
// merged opens as the merged result; a thin pool opens as its data LV.
func (g *Group) Open(name string) (*Volume, error) {
	lv := g.VG.LV(name)
	if lv == nil {
		return nil, fmt.Errorf("lvm: VG %s has no logical volume %q: %w", g.VG.Name, name, fs.ErrNotExist)
	}
	o := &opener{g: g, vg: g.VG, raw: map[string]*lvDev{}, shown: map[string]sized{},
		pools: map[string]*poolState{}, busy: map[string]bool{}}
	d, err := o.present(lv, 0)
	if err != nil {
		return nil, err
	}
	return &Volume{lv: lv, dev: d.dev, size: d.size, warnings: o.warnings}, nil
}

// device is an address space: an LV, a segment, a PV area. readAt fills
// all of p from off; callers keep p within the device.
type device interface {
	readAt(p []byte, off int64) error
}

// sized is a device and its size in bytes.
type sized struct {
	dev  device
	size int64
}

// pvArea is a PV's data from some byte of the device that carries it.
type pvArea struct {
	d    *Device
	base int64
}

func (a *pvArea) readAt(p []byte, off int64) error {
	n, err := a.d.R.ReadAt(p, a.base+off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("lvm: reading %d bytes at byte %d of %s: %w", len(p), a.base+off, a.d.Name, err)
}

// offsetDev is a device seen from some byte on.
type offsetDev struct {
	d    device
	base int64
}

func (o *offsetDev) readAt(p []byte, off int64) error { return o.d.readAt(p, o.base+off) }

// lvDev is an LV's address space: its segments one after the other.
type lvDev struct {
	size int64
	ends []int64  // byte at which each segment ends
	segs []device // each from its own byte 0
}

func (l *lvDev) readAt(p []byte, off int64) error {
	if len(l.segs) == 1 {
		return l.segs[0].readAt(p, off)
	}
	i, found := slices.BinarySearch(l.ends, off)
	if found {
		i++
	}
	for len(p) > 0 && i < len(l.segs) {
		start := int64(0)
		if i > 0 {
			start = l.ends[i-1]
		}
		m := min(int64(len(p)), l.ends[i]-off)
		if err := l.segs[i].readAt(p[:m], off-start); err != nil {
			return err
		}
		p, off = p[m:], off+m
		i++
	}
	return nil
}

// stripedDev spreads chunks over its legs in turn, as dm-stripe does.
type stripedDev struct {
	chunk int64 // bytes
	legs  []device
}

func (s *stripedDev) readAt(p []byte, off int64) error {
	n := int64(len(s.legs))
	for len(p) > 0 {
		c, within := off/s.chunk, off%s.chunk
		m := min(int64(len(p)), s.chunk-within)
		if err := s.legs[c%n].readAt(p[:m], (c/n)*s.chunk+within); err != nil {
			return err
		}
		p, off = p[m:], off+m
	}
	return nil
}

// mirrorDev reads from the first leg that succeeds.
type mirrorDev struct {
	name string // the LV, for messages
	legs []device
}

func (m *mirrorDev) readAt(p []byte, off int64) error {
	err := m.legs[0].readAt(p, off)
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, leg := range m.legs[1:] {
		if err := leg.readAt(p, off); err == nil {
			return nil
		} else {
			errs = append(errs, err)
		}
	}
	return fmt.Errorf("lvm: LV %s: every leg failed: %w", m.name, errors.Join(errs...))
}

// zeroDev reads as zeros.
type zeroDev struct{}

func (zeroDev) readAt(p []byte, off int64) error {
	clear(p)
	return nil
}

// errorDev fails every read, as device-mapper's error target does.
type errorDev struct{ name string }

func (e errorDev) readAt(p []byte, off int64) error {
	return fmt.Errorf("lvm: LV %s maps byte %d to the error target: %w", e.name, off, syscall.EIO)
}

// thinDev is a thin volume: its blocks are looked up in the pool's
// metadata and read from the pool's data LV; unmapped blocks read as
// zeros, or from the external origin.
type thinDev struct {
	name   string
	dev    *ThinDevice
	bs     int64 // bytes in a data block
	data   sized
	ext    device // external origin, or nil
	extLen int64
}

func (t *thinDev) readAt(p []byte, off int64) error {
	for len(p) > 0 {
		vb, within := off/t.bs, off%t.bs
		limit := uint64((within + int64(len(p)) + t.bs - 1) / t.bs)
		run, err := t.dev.LookupRun(uint64(vb), limit)
		if err != nil {
			return fmt.Errorf("lvm: LV %s: %w", t.name, err)
		}
		m := min(int64(len(p)), int64(min(max(run.Len, 1), limit))*t.bs-within)
		switch {
		case run.Mapped:
			if run.DBlock >= uint64(t.data.size/t.bs) || int64(run.DBlock)*t.bs+within+m > t.data.size {
				return fmt.Errorf("lvm: LV %s: block %d maps to data block %d, beyond the pool's %d bytes of data", t.name, vb, run.DBlock, t.data.size)
			}
			if err := t.data.dev.readAt(p[:m], int64(run.DBlock)*t.bs+within); err != nil {
				return err
			}
		case t.ext != nil && off < t.extLen:
			e := min(m, t.extLen-off)
			if err := t.ext.readAt(p[:e], off); err != nil {
				return err
			}
			clear(p[e:m])
		default:
			clear(p[:m])
		}
		p, off = p[m:], off+m
	}
	return nil
}

// snapDev is an old-style snapshot: the origin, except for the chunks its
// exception store holds copies of.
type snapDev struct {
	name   string
	store  *COWStore
	chunk  int64 // bytes
	origin device
	cow    sized
}

func (s *snapDev) readAt(p []byte, off int64) error {
	for len(p) > 0 {
		c, within := off/s.chunk, off%s.chunk
		limit := uint64((within + int64(len(p)) + s.chunk - 1) / s.chunk)
		nc, n, ok := s.store.LookupRun(uint64(c), limit)
		m := min(int64(len(p)), int64(min(max(n, 1), limit))*s.chunk-within)
		if ok {
			if nc >= uint64(s.cow.size/s.chunk) || int64(nc)*s.chunk+within+m > s.cow.size {
				return fmt.Errorf("lvm: snapshot %s: chunk %d is stored at chunk %d, beyond its COW LV", s.name, c, nc)
			}
			if err := s.cow.dev.readAt(p[:m], int64(nc)*s.chunk+within); err != nil {
				return err
			}
		} else if err := s.origin.readAt(p[:m], off); err != nil {
			return err
		}
		p, off = p[m:], off+m
	}
	return nil
}

// poolState is an opened thin pool.
type poolState struct {
	pool *ThinPool
	data sized
}

// opener builds the devices of one Group.Open call, opening each LV once.
type opener struct {
	g        *Group
	vg       *VG
	raw      map[string]*lvDev // LVs' own segments
	shown    map[string]sized  // LVs as Open presents them
	pools    map[string]*poolState
	busy     map[string]bool // being opened, to catch loops
	warnings []string
}

func (o *opener) warnf(format string, args ...any) {
	o.warnings = append(o.warnings, fmt.Sprintf(format, args...))
}

// enter marks key as being opened; it fails on a loop or too deep a stack.
func (o *opener) enter(key string, depth int) error {
	if o.busy[key] {
		return fmt.Errorf("lvm: VG %s: LV %s is reached again while opening it", o.vg.Name, strings.TrimPrefix(key, "="))
	}
	if depth > 2*maxNesting {
		return fmt.Errorf("lvm: VG %s: LVs stacked more than %d deep at %s", o.vg.Name, 2*maxNesting, strings.TrimPrefix(key, "="))
	}
	o.busy[key] = true
	return nil
}

// present returns the LV as Open presents it: snapshots and origins being
// merged through their exception stores, everything else as its segments.
func (o *opener) present(lv *LogicalVolume, depth int) (sized, error) {
	if d, ok := o.shown[lv.Name]; ok {
		return d, nil
	}
	if err := o.enter("="+lv.Name, depth); err != nil {
		return sized{}, err
	}
	defer delete(o.busy, "="+lv.Name)
	var snap *SnapshotSegment
	var size int64
	switch {
	case lv.snapshot() != nil:
		snap, size = lv.snapshot(), lv.Extents()
	case lv.roles&roleCOW != 0:
		snap = o.vg.snapshotOf(lv.Name)
	case lv.roles&roleMergingOrigin != 0:
		snap = o.vg.mergingSnapshotOf(lv.Name)
	}
	var d sized
	var err error
	if snap != nil {
		if size == 0 {
			for i := range o.vg.LVs {
				if o.vg.LVs[i].snapshot() == snap {
					size = o.vg.LVs[i].Extents()
				}
			}
		}
		d, err = o.snapshot(lv.Name, snap, size*o.vg.ExtentBytes(), depth)
	} else {
		var r *lvDev
		r, err = o.rawLV(lv, depth)
		if r != nil {
			d = sized{r, r.size}
		}
	}
	if err != nil {
		return sized{}, err
	}
	o.shown[lv.Name] = d
	return d, nil
}

// rawLV returns the address space of the LV's own segments.
func (o *opener) rawLV(lv *LogicalVolume, depth int) (*lvDev, error) {
	if d, ok := o.raw[lv.Name]; ok {
		return d, nil
	}
	if err := o.enter(lv.Name, depth); err != nil {
		return nil, err
	}
	defer delete(o.busy, lv.Name)
	eb := o.vg.ExtentBytes()
	d := &lvDev{size: lv.Extents() * eb}
	for i := range lv.Segments {
		s := &lv.Segments[i]
		sd, err := o.segment(lv, s, depth)
		if err != nil {
			return nil, err
		}
		d.segs = append(d.segs, sd)
		d.ends = append(d.ends, (s.StartExtent+s.ExtentCount)*eb)
	}
	o.raw[lv.Name] = d
	return d, nil
}

// segment returns the device of one segment of lv, from its byte 0.
func (o *opener) segment(lv *LogicalVolume, s *Segment, depth int) (device, error) {
	eb := o.vg.ExtentBytes()
	switch {
	case s.Type == "striped":
		legs := make([]device, len(s.Stripes))
		for i, st := range s.Stripes {
			var err error
			if legs[i], err = o.area(lv, st, s.ExtentCount/s.StripeCount, depth); err != nil {
				return nil, err
			}
		}
		if len(legs) == 1 {
			return legs[0], nil
		}
		return &stripedDev{chunk: s.StripeSize * sectorSize, legs: legs}, nil
	case s.Mirror != nil:
		var legs []device
		var errs []error
		for _, st := range s.Stripes {
			leg, err := o.area(lv, st, s.ExtentCount, depth)
			if err != nil {
				errs = append(errs, err)
				o.warnf("LV %s/%s: mirror leg %s left out: %v", o.vg.Name, lv.Name, st.name(), err)
				continue
			}
			legs = append(legs, leg)
		}
		if len(legs) == 0 {
			return nil, fmt.Errorf("lvm: LV %s/%s: no mirror leg can be read: %w", o.vg.Name, lv.Name, errors.Join(errs...))
		}
		return &mirrorDev{name: lv.Name, legs: legs}, nil
	case s.RAID != nil:
		return o.raid(lv, s, depth)
	case s.ThinPool != nil:
		// Reads of a pool device go to its data device, as in dm-thin.
		data, err := o.sub(lv, s.ThinPool.Data, depth)
		if err != nil {
			return nil, err
		}
		return data.dev, nil
	case s.Thin != nil:
		return o.thin(lv, s, depth)
	case s.Snapshot != nil:
		d, err := o.snapshot(lv.Name, s.Snapshot, s.ExtentCount*eb, depth)
		return d.dev, err
	case s.Type == "zero":
		return zeroDev{}, nil
	case s.Type == "error":
		return errorDev{lv.Name}, nil
	}
	return nil, fmt.Errorf("lvm: LV %s/%s: segment type %q: %w", o.vg.Name, lv.Name, s.Type, errors.ErrUnsupported)
}

func (st Stripe) name() string {
	if st.PV != "" {
		return st.PV
	}
	return st.LV
}

// sub returns the LV called name as a layer of lv.
func (o *opener) sub(lv *LogicalVolume, name string, depth int) (sized, error) {
	sub := o.vg.LV(name)
	if sub == nil {
		return sized{}, fmt.Errorf("lvm: LV %s/%s refers to unknown LV %q", o.vg.Name, lv.Name, name)
	}
	return o.present(sub, depth+1)
}

// area returns the device of length extents of a PV or sub-LV from st.
func (o *opener) area(lv *LogicalVolume, st Stripe, length int64, depth int) (device, error) {
	eb := o.vg.ExtentBytes()
	if st.LV != "" {
		d, err := o.sub(lv, st.LV, depth)
		if err != nil {
			return nil, err
		}
		if (st.StartExtent+length)*eb > d.size {
			return nil, fmt.Errorf("lvm: LV %s/%s maps extents %d-%d of LV %s, which has %d bytes", o.vg.Name, lv.Name, st.StartExtent, st.StartExtent+length-1, st.LV, d.size)
		}
		if st.StartExtent == 0 {
			return d.dev, nil
		}
		return &offsetDev{d.dev, st.StartExtent * eb}, nil
	}
	k := slices.IndexFunc(o.vg.PVs, func(pv PhysicalVolume) bool { return pv.Name == st.PV })
	if k < 0 {
		return nil, fmt.Errorf("lvm: LV %s/%s refers to unknown PV %q", o.vg.Name, lv.Name, st.PV)
	}
	pv := &o.vg.PVs[k]
	var dev *Device
	if k < len(o.g.Devices) {
		dev = o.g.Devices[k]
	}
	if dev == nil {
		return nil, &MissingPVError{VG: o.vg.Name, LV: lv.Name, PV: pv.Name, UUID: pv.ID, Device: pv.Device}
	}
	base := pv.PEStart*sectorSize + st.StartExtent*eb
	if end := base + length*eb; end > dev.Size {
		return nil, fmt.Errorf("lvm: LV %s/%s maps bytes up to %d of PV %s on %s, which has only %d", o.vg.Name, lv.Name, end, pv.Name, dev.Name, dev.Size)
	}
	return &pvArea{d: dev, base: base}, nil
}

// raid returns the device of a raid segment.
func (o *opener) raid(lv *LogicalVolume, s *Segment, depth int) (device, error) {
	r := s.RAID
	if r.layout.level != 1 && (slices.Contains(lv.Status, "RESHAPE") || slices.Contains(lv.Status, "RESHAPE_DATA_OFFSET")) {
		return nil, fmt.Errorf("lvm: LV %s/%s is being reshaped: %w", o.vg.Name, lv.Name, errors.ErrUnsupported)
	}
	n := len(r.Images)
	images := make([]device, n)
	offsets := make([]int64, n)
	missing := make([]error, n)
	need := s.imageExtents() * o.vg.ExtentBytes()
	for i, img := range r.Images {
		d, err := o.sub(lv, img, depth)
		if err == nil && r.Metas[i] != "" {
			var meta sized
			if meta, err = o.sub(lv, r.Metas[i], depth); err == nil {
				offsets[i], err = raidDataOffset(meta.dev, meta.size, lv.Name, r.Metas[i])
			} else if errors.Is(err, ErrMissingPV) {
				// The superblock is lost with its PV; the image is read
				// as if its data started at 0.
				o.warnf("LV %s/%s: %s: %v", o.vg.Name, lv.Name, r.Metas[i], err)
				err = nil
			}
			if errors.Is(err, errors.ErrUnsupported) {
				return nil, err
			}
		}
		if err == nil && offsets[i]+need > d.size {
			err = fmt.Errorf("lvm: LV %s/%s: image %s has %d bytes, too few for data offset %d and its %d bytes of data", o.vg.Name, lv.Name, img, d.size, offsets[i], need)
		}
		if err != nil {
			missing[i] = err
			continue
		}
		images[i] = d.dev
	}
	if r.layout.level == 1 {
		return o.raid1(lv, r, images, offsets, missing)
	}
	chunk := s.StripeSize * sectorSize
	if chunk == 0 {
		// A raid0 of one image.
		chunk = s.ExtentCount * o.vg.ExtentBytes()
	}
	rd := &raidDev{name: lv.Name, layout: r.layout, chunk: chunk, copies: int(r.DataCopies),
		images: images, offsets: offsets, missing: missing, names: r.Images}
	if err := rd.checkRedundancy(); err != nil {
		return nil, err
	}
	for i, err := range missing {
		if err != nil {
			o.warnf("LV %s/%s: RAID image %s left out: %v", o.vg.Name, lv.Name, r.Images[i], err)
		}
	}
	return rd, nil
}

// inSync reports whether a RAID image's metadata marks it as holding
// current data.
func inSync(lv *LogicalVolume) bool {
	for _, f := range []string{"REBUILD", "RESHAPE_DELTA_DISKS_PLUS", "REMOVE_AFTER_RESHAPE"} {
		if slices.Contains(lv.Status, f) || slices.Contains(lv.Flags, f) {
			return false
		}
	}
	return true
}

// raid1 returns a mirror over the in-sync images, write-mostly ones last.
func (o *opener) raid1(lv *LogicalVolume, r *RAIDSegment, images []device, offsets []int64, missing []error) (device, error) {
	var legs, mostly []device
	var errs []error
	for i, img := range r.Images {
		sub := o.vg.LV(img)
		switch {
		case missing[i] != nil:
			errs = append(errs, missing[i])
			o.warnf("LV %s/%s: RAID image %s left out: %v", o.vg.Name, lv.Name, img, missing[i])
			continue
		case !inSync(sub):
			errs = append(errs, fmt.Errorf("lvm: LV %s/%s: RAID image %s is not in sync", o.vg.Name, lv.Name, img))
			continue
		}
		leg := images[i]
		if offsets[i] != 0 {
			leg = &offsetDev{leg, offsets[i]}
		}
		if slices.Contains(sub.Status, "WRITEMOSTLY") {
			mostly = append(mostly, leg)
		} else {
			legs = append(legs, leg)
		}
	}
	legs = append(legs, mostly...)
	if len(legs) == 0 {
		return nil, fmt.Errorf("lvm: LV %s/%s: no RAID image in sync can be read: %w", o.vg.Name, lv.Name, errors.Join(errs...))
	}
	return &mirrorDev{name: lv.Name, legs: legs}, nil
}

// pool returns the thin pool called name, opened once per Open.
func (o *opener) pool(lv *LogicalVolume, name string, depth int) (*poolState, error) {
	if p, ok := o.pools[name]; ok {
		return p, nil
	}
	plv := o.vg.LV(name)
	if plv == nil || len(plv.Segments) != 1 || plv.Segments[0].ThinPool == nil {
		return nil, fmt.Errorf("lvm: LV %s/%s: %q is not a thin pool", o.vg.Name, lv.Name, name)
	}
	seg := plv.Segments[0].ThinPool
	meta, err := o.sub(plv, seg.Metadata, depth+1)
	if err != nil {
		return nil, err
	}
	data, err := o.sub(plv, seg.Data, depth+1)
	if err != nil {
		return nil, err
	}
	pool, err := OpenThinPool(&readerAt{meta.dev, meta.size}, meta.size)
	if err != nil {
		return nil, fmt.Errorf("lvm: thin pool %s/%s: %w", o.vg.Name, name, err)
	}
	if got, want := pool.DataBlockSize(), seg.ChunkSize*sectorSize; got != want {
		return nil, fmt.Errorf("lvm: thin pool %s/%s: metadata superblock has %d-byte data blocks, lvm2 metadata says %d", o.vg.Name, name, got, want)
	}
	if got := pool.TransactionID(); got != uint64(seg.TransactionID) {
		o.warnf("thin pool %s/%s: transaction %d in the pool, %d in the lvm2 metadata", o.vg.Name, name, got, seg.TransactionID)
	}
	if pool.NeedsCheck() {
		o.warnf("thin pool %s/%s: metadata is flagged for a check (thin_check)", o.vg.Name, name)
	}
	p := &poolState{pool: pool, data: data}
	o.pools[name] = p
	return p, nil
}

// thin returns the device of a thin volume's segment.
func (o *opener) thin(lv *LogicalVolume, s *Segment, depth int) (device, error) {
	p, err := o.pool(lv, s.Thin.Pool, depth)
	if err != nil {
		return nil, err
	}
	td, err := p.pool.Device(uint64(s.Thin.DeviceID))
	if err != nil {
		return nil, fmt.Errorf("lvm: LV %s/%s: %w", o.vg.Name, lv.Name, err)
	}
	t := &thinDev{name: lv.Name, dev: td, bs: p.pool.DataBlockSize(), data: p.data}
	if s.Thin.ExternalOrigin != "" {
		ext, err := o.sub(lv, s.Thin.ExternalOrigin, depth)
		if err != nil {
			return nil, err
		}
		t.ext, t.extLen = ext.dev, ext.size
	}
	return t, nil
}

// snapshot returns the view of a snapshot of size bytes named name.
func (o *opener) snapshot(name string, s *SnapshotSegment, size int64, depth int) (sized, error) {
	origin, cow := o.vg.LV(s.Origin), o.vg.LV(s.COW)
	if origin == nil || cow == nil {
		return sized{}, fmt.Errorf("lvm: snapshot %s/%s refers to unknown LVs %q and %q", o.vg.Name, name, s.Origin, s.COW)
	}
	od, err := o.rawLV(origin, depth+1)
	if err != nil {
		return sized{}, err
	}
	cd, err := o.rawLV(cow, depth+1)
	if err != nil {
		return sized{}, err
	}
	if size > od.size {
		return sized{}, fmt.Errorf("lvm: snapshot %s/%s is %d bytes, its origin %s only %d", o.vg.Name, name, size, s.Origin, od.size)
	}
	store, err := OpenCOW(&readerAt{cd, cd.size}, cd.size)
	if err != nil {
		return sized{}, fmt.Errorf("lvm: snapshot %s/%s: %w", o.vg.Name, name, err)
	}
	if got, want := store.ChunkSize(), s.ChunkSize*sectorSize; got != want {
		o.warnf("snapshot %s/%s: exception store has %d-byte chunks, lvm2 metadata says %d; using the store's", o.vg.Name, name, got, want)
	}
	return sized{&snapDev{name: name, store: store, chunk: store.ChunkSize(), origin: od, cow: sized{cd, cd.size}}, size}, nil
}

// readerAt is a device as an io.ReaderAt, for the thin-pool and COW
// readers.
type readerAt struct {
	d    device
	size int64
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= r.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > r.size-off {
		p, eof = p[:r.size-off], io.EOF
	}
	if err := r.d.readAt(p, off); err != nil {
		return 0, err
	}
	return len(p), eof
}
