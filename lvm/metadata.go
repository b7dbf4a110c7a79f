package lvm

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// SyntaxError reports malformed metadata text.
type SyntaxError struct {
	Line int // 1-based line of the text at fault
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("lvm: metadata line %d: %s", e.Line, e.Msg)
}

// Kind is the kind of a metadata Value.
type Kind int

// The kinds of Value.
const (
	String Kind = iota
	Int
	Float
	List
)

// Value is the right-hand side of an assignment in metadata text.
type Value struct {
	Kind  Kind
	Str   string  // String; for Float, the number as written
	Int   int64   // Int
	Items []Value // List
}

// Section is a `name { ... }` block of metadata text, or the whole text.
// Keys keeps every assignment and subsection in text order.
type Section struct {
	Name     string
	Line     int
	Keys     []string            // names of values, in text order
	Values   map[string]Value    // values by name
	Sections []*Section          // subsections, in text order
	byName   map[string]*Section // subsections by name
}

// Section returns the subsection called name, or nil.
func (s *Section) Section(name string) *Section { return s.byName[name] }

// Limits on what parsing metadata text may do.
const (
	maxDepth = 64 // nesting of sections and lists
)

type parser struct {
	text  []byte
	pos   int
	line  int
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// skip passes over white space and comments.
func (p *parser) skip() {
	for p.pos < len(p.text) {
		switch c := p.text[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#':
			for p.pos < len(p.text) && p.text[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '+'
}

// ParseText parses LVM2 metadata text into a tree. The returned Section is
// the top level: the volume group is one of its subsections.
func ParseText(text []byte) (*Section, error) {
	p := &parser{text: text, line: 1}
	top := newSection("", 1)
	if err := p.body(top, false); err != nil {
		return nil, err
	}
	return top, nil
}

func newSection(name string, line int) *Section {
	return &Section{Name: name, Line: line, Values: map[string]Value{}, byName: map[string]*Section{}}
}

// body parses assignments and sections up to `}` (when nested) or the end.
func (p *parser) body(s *Section, nested bool) error {
	for {
		p.skip()
		if p.pos == len(p.text) {
			if nested {
				return p.errorf("section %q opened on line %d is not closed", s.Name, s.Line)
			}
			return nil
		}
		c := p.text[p.pos]
		if c == '}' {
			if !nested {
				return p.errorf("unexpected '}'")
			}
			p.pos++
			return nil
		}
		if c == 0 {
			// Metadata areas pad the text with NUL bytes.
			for _, b := range p.text[p.pos:] {
				if b != 0 {
					return p.errorf("NUL byte in text")
				}
			}
			p.pos = len(p.text)
			continue
		}
		if !isIdent(c) {
			return p.errorf("unexpected %q, want a name", c)
		}
		start := p.pos
		for p.pos < len(p.text) && isIdent(p.text[p.pos]) {
			p.pos++
		}
		name := string(p.text[start:p.pos])
		line := p.line
		p.skip()
		if p.pos == len(p.text) {
			return p.errorf("%q is followed by nothing", name)
		}
		switch p.text[p.pos] {
		case '{':
			p.pos++
			if p.depth++; p.depth > maxDepth {
				return p.errorf("sections nested more than %d deep", maxDepth)
			}
			sub := newSection(name, line)
			if err := p.body(sub, true); err != nil {
				return err
			}
			p.depth--
			if _, dup := s.byName[name]; dup {
				return &SyntaxError{Line: line, Msg: fmt.Sprintf("section %q defined twice", name)}
			}
			s.Sections = append(s.Sections, sub)
			s.byName[name] = sub
		case '=':
			p.pos++
			v, err := p.value()
			if err != nil {
				return err
			}
			if _, dup := s.Values[name]; dup {
				return &SyntaxError{Line: line, Msg: fmt.Sprintf("%q assigned twice", name)}
			}
			s.Keys = append(s.Keys, name)
			s.Values[name] = v
		default:
			return p.errorf("unexpected %q after %q, want '=' or '{'", p.text[p.pos], name)
		}
	}
}

func (p *parser) value() (Value, error) {
	p.skip()
	if p.pos == len(p.text) {
		return Value{}, p.errorf("missing value")
	}
	switch c := p.text[p.pos]; {
	case c == '"':
		p.pos++
		var b strings.Builder
		for {
			if p.pos == len(p.text) {
				return Value{}, p.errorf("string not closed")
			}
			c := p.text[p.pos]
			p.pos++
			switch c {
			case '"':
				return Value{Kind: String, Str: b.String()}, nil
			case '\\':
				if p.pos == len(p.text) {
					return Value{}, p.errorf("string not closed")
				}
				c = p.text[p.pos]
				p.pos++
			case '\n':
				p.line++
			}
			b.WriteByte(c)
		}
	case c == '[':
		p.pos++
		if p.depth++; p.depth > maxDepth {
			return Value{}, p.errorf("lists nested more than %d deep", maxDepth)
		}
		v := Value{Kind: List, Items: []Value{}}
		for {
			p.skip()
			if p.pos < len(p.text) && p.text[p.pos] == ']' {
				p.pos++
				p.depth--
				return v, nil
			}
			if len(v.Items) > 0 {
				if p.pos == len(p.text) || p.text[p.pos] != ',' {
					return Value{}, p.errorf("want ',' or ']' in list")
				}
				p.pos++
			}
			item, err := p.value()
			if err != nil {
				return Value{}, err
			}
			v.Items = append(v.Items, item)
		}
	case c == '-' || c == '+' || c >= '0' && c <= '9' || c == '.':
		start := p.pos
		for p.pos < len(p.text) && isIdent(p.text[p.pos]) {
			p.pos++
		}
		s := string(p.text[start:p.pos])
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Value{Kind: Int, Int: n}, nil
		}
		if strings.Trim(s, "+-0123456789") == "" {
			return Value{}, p.errorf("integer %s out of range", s)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return Value{Kind: Float, Str: s}, nil
		}
		return Value{}, p.errorf("bad number %q", s)
	default:
		return Value{}, p.errorf("unexpected %q, want a value", c)
	}
}

// VG is a volume group as its metadata describes it.
type VG struct {
	Name       string
	ID         string
	Seqno      int64
	ExtentSize int64    // sectors of 512 bytes
	Status     []string // e.g. RESIZEABLE, READ, WRITE
	Flags      []string
	Alloc      string // allocation_policy; "" means normal
	LockType   string // lock_type, "" for a local VG
	PVs        []PhysicalVolume
	LVs        []LogicalVolume
	Section    *Section // the VG's section, for keys not decoded here

	lvIndex map[string]int // LVs by name
}

// PhysicalVolume is one entry of a VG's physical_volumes.
type PhysicalVolume struct {
	Name    string // key in the metadata, e.g. "pv0"
	ID      string // UUID with dashes
	Device  string // device path hint
	DevSize int64  // sectors
	PEStart int64  // sectors
	PECount int64
	Status  []string // e.g. ALLOCATABLE
	Flags   []string
	// Missing is set when the metadata flags the PV as MISSING, and by
	// Assemble when no device carries it.
	Missing bool
	// Allocated counts the PV's extents that segments map.
	Allocated int64
}

// LogicalVolume is one entry of a VG's logical_volumes.
type LogicalVolume struct {
	Name     string
	ID       string
	Status   []string // e.g. READ, WRITE, VISIBLE
	Flags    []string
	Alloc    string // allocation_policy; "" means inherit
	Segments []Segment
	Section  *Section

	roles   role   // how other LVs use this one
	origin  string // for a snapshot's COW LV, the snapshot's origin
	visible bool
}

// Segment is one segment of a logical volume: a run of its extents mapped
// by one segment type. Type-specific fields are set for the types decoded
// here; Section keeps every key for the others.
type Segment struct {
	StartExtent int64
	ExtentCount int64
	// Type is lvm2's segment type, e.g. "striped", "mirror", "raid5_ls",
	// "thin-pool", "thin", "snapshot", "zero", "error", without the
	// flags lvm2 may append after '+', which are in TypeFlags.
	Type      string
	TypeFlags []string
	// StripeCount is the number of stripes of a striped or raid0 segment.
	StripeCount int64
	// StripeSize is the chunk size in sectors of a striped segment with
	// more than one stripe, and of striped RAID levels.
	StripeSize int64
	// Stripes are the areas of a striped segment, one per stripe, and the
	// legs of a mirror segment.
	Stripes  []Stripe
	Mirror   *MirrorSegment
	RAID     *RAIDSegment
	ThinPool *ThinPoolSegment
	Thin     *ThinSegment
	Snapshot *SnapshotSegment
	Section  *Section
}

// Stripe is an area a segment maps: extents of a physical volume or of
// another (hidden) logical volume.
type Stripe struct {
	PV          string // key of the PV in physical_volumes, or ""
	LV          string // name of the logical volume, or ""
	StartExtent int64
}

// MirrorSegment describes a segment of lvm2's older "mirror" type; its legs
// are the segment's Stripes.
type MirrorSegment struct {
	Log        string // mirror_log LV, "" for a log kept in memory
	RegionSize int64  // sectors
}

// RAIDSegment describes a segment of one of the raid types.
type RAIDSegment struct {
	Images []string // data sub-LVs (rimage), in array order
	Metas  []string // metadata sub-LVs (rmeta), parallel to Images; "" where none
	// Parity is the number of parity devices: 1 for raid4 and raid5, 2
	// for raid6, 0 otherwise.
	Parity int
	// DataCopies is the number of copies of each chunk: the number of
	// images for raid1, 2 by default for raid10, 1 otherwise.
	DataCopies   int64
	RegionSize   int64 // sectors
	ReshapeCount int64 // extents of reshape space in each image

	layout raidLayout
}

// ThinPoolSegment describes a thin-pool segment.
type ThinPoolSegment struct {
	Metadata      string // the pool's metadata LV (_tmeta)
	Data          string // the pool's data LV (_tdata)
	TransactionID int64
	ChunkSize     int64 // sectors per data block
	ZeroNewBlocks bool
	Discards      string
}

// ThinSegment describes a thin volume's segment.
type ThinSegment struct {
	Pool           string // the thin-pool LV
	TransactionID  int64
	DeviceID       int64  // the thin device in the pool's metadata
	Origin         string // the thin volume this one was snapshotted from, if any
	ExternalOrigin string // LV read for blocks the pool has not provisioned, if any
}

// SnapshotSegment describes an old-style (copy-on-write) snapshot. The LV
// holding this segment is hidden; the snapshot the user sees is the COW LV.
type SnapshotSegment struct {
	Origin    string
	COW       string // the LV holding the exception store
	ChunkSize int64  // sectors
	Merging   bool   // the snapshot is being merged into its origin
}

// role records how an LV is used by others in its VG.
type role uint32

const (
	roleRAIDImage role = 1 << iota
	roleRAIDMeta
	roleMirrorImage
	roleMirrorLog
	rolePoolMeta
	rolePoolData
	roleOrigin // of an old-style snapshot
	roleMergingOrigin
	roleCOW
	roleMergingCOW
	roleExternalOrigin
)

// ParseVG parses metadata text, as read from a metadata area or written by
// vgcfgbackup, and decodes the volume group it describes. Malformed text
// is a *SyntaxError; metadata that is well formed but inconsistent is an
// error naming the VG, LV or segment: references to PVs or LVs that do not
// exist, LVs that refer to themselves, areas beyond their PV or sub-LV,
// extents mapped twice, and counts out of range. Segment types not decoded
// here are kept, with their Section, and give an error only when opened.
func ParseVG(text []byte) (*VG, error) {
	top, err := ParseText(text)
	if err != nil {
		return nil, err
	}
	var vs *Section
	for _, s := range top.Sections {
		if _, ok := s.Values["seqno"]; ok {
			if vs != nil {
				return nil, fmt.Errorf("lvm: metadata describes two volume groups, %q and %q", vs.Name, s.Name)
			}
			vs = s
		}
	}
	if vs == nil {
		return nil, errors.New("lvm: metadata describes no volume group")
	}
	return decodeVG(vs)
}

type decoder struct {
	err error
}

func (d *decoder) fail(s *Section, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("lvm: metadata line %d: section %q: %s", s.Line, s.Name, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) str(s *Section, key string) string {
	v, ok := s.Values[key]
	if !ok || v.Kind != String {
		d.fail(s, "%s is missing or not a string", key)
	}
	return v.Str
}

// optStr returns the string key, or "" when it is absent.
func (d *decoder) optStr(s *Section, key string) string {
	if _, ok := s.Values[key]; !ok {
		return ""
	}
	return d.str(s, key)
}

// num returns the integer key, which must be in [lo, hi].
func (d *decoder) num(s *Section, key string, lo, hi int64) int64 {
	v, ok := s.Values[key]
	if !ok || v.Kind != Int {
		d.fail(s, "%s is missing or not an integer", key)
		return 0
	}
	if v.Int < lo || v.Int > hi {
		d.fail(s, "%s = %d is out of range [%d, %d]", key, v.Int, lo, hi)
		return 0
	}
	return v.Int
}

// optNum returns the integer key, which must be in [lo, hi], or def when it
// is absent.
func (d *decoder) optNum(s *Section, key string, lo, hi, def int64) int64 {
	if _, ok := s.Values[key]; !ok {
		return def
	}
	return d.num(s, key, lo, hi)
}

func (d *decoder) strs(s *Section, key string) []string {
	v, ok := s.Values[key]
	if !ok {
		return nil
	}
	var out []string
	for _, it := range v.Items {
		if it.Kind != String {
			d.fail(s, "%s holds a non-string", key)
			return nil
		}
		out = append(out, it.Str)
	}
	if v.Kind != List {
		d.fail(s, "%s is not a list", key)
	}
	return out
}

// Limits on decoded metadata.
const (
	maxSectors = math.MaxInt64 / 512 // sectors addressable in an int64 of bytes
	maxExtents = 1 << 40
	maxStripes = 1 << 16
	maxChunk   = 1 << 32 // sectors in a stripe, region or chunk
	// maxNesting bounds how deep LVs may be stacked on one another (a
	// thin volume on a pool whose data LV is a raid1 of linear images is
	// four deep).
	maxNesting = 32
)

type used struct {
	start, end int64 // extents on the PV
	lv         string
}

// vgDecoder decodes a VG's logical volumes once its PVs are known.
type vgDecoder struct {
	decoder
	vg      *VG
	pvIndex map[string]int
	usage   [][]used // per PV
}

func decodeVG(vs *Section) (*VG, error) {
	d := &vgDecoder{vg: &VG{Name: vs.Name, Section: vs}, pvIndex: map[string]int{}}
	vg := d.vg
	vg.ID = d.str(vs, "id")
	vg.Seqno = d.num(vs, "seqno", 0, math.MaxInt64)
	vg.ExtentSize = d.num(vs, "extent_size", 1, 1<<32)
	vg.Status = d.strs(vs, "status")
	vg.Flags = d.strs(vs, "flags")
	vg.Alloc = d.optStr(vs, "allocation_policy")
	vg.LockType = d.optStr(vs, "lock_type")
	if ps := vs.Section("physical_volumes"); ps != nil {
		for _, s := range ps.Sections {
			pv := PhysicalVolume{Name: s.Name}
			pv.ID = d.str(s, "id")
			if v, ok := s.Values["device"]; ok && v.Kind == String {
				pv.Device = v.Str
			}
			if _, ok := s.Values["dev_size"]; ok {
				pv.DevSize = d.num(s, "dev_size", 0, maxSectors)
			}
			pv.PEStart = d.num(s, "pe_start", 0, maxSectors)
			pv.PECount = d.num(s, "pe_count", 0, maxExtents)
			pv.Status = d.strs(s, "status")
			pv.Flags = d.strs(s, "flags")
			pv.Missing = slices.Contains(pv.Flags, "MISSING") || slices.Contains(pv.Status, "MISSING")
			if d.err == nil && vg.ExtentSize > 0 && pv.PECount > (maxSectors-pv.PEStart)/vg.ExtentSize {
				d.fail(s, "pe_count %d extents of %d sectors overflow", pv.PECount, vg.ExtentSize)
			}
			if d.err == nil && pv.DevSize > 0 && pv.PEStart+pv.PECount*vg.ExtentSize > pv.DevSize {
				d.fail(s, "%d extents from sector %d pass dev_size %d", pv.PECount, pv.PEStart, pv.DevSize)
			}
			d.pvIndex[s.Name] = len(vg.PVs)
			vg.PVs = append(vg.PVs, pv)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	d.usage = make([][]used, len(vg.PVs))
	vg.lvIndex = map[string]int{}
	ls := vs.Section("logical_volumes")
	if ls != nil {
		for i, s := range ls.Sections {
			vg.lvIndex[s.Name] = i // ParseText refuses duplicate sections
		}
		for _, s := range ls.Sections {
			lv := d.decodeLV(s)
			if d.err != nil {
				return nil, d.err
			}
			vg.LVs = append(vg.LVs, lv)
		}
	}
	if err := d.link(); err != nil {
		return nil, err
	}
	for k, u := range d.usage {
		sort.Slice(u, func(i, j int) bool { return u[i].start < u[j].start })
		for i := range u {
			vg.PVs[k].Allocated += u[i].end - u[i].start
			if i > 0 && u[i].start < u[i-1].end {
				return nil, fmt.Errorf("lvm: VG %q: LVs %q and %q both map extent %d of PV %q", vg.Name, u[i-1].lv, u[i].lv, u[i].start, vg.PVs[k].Name)
			}
		}
	}
	return vg, nil
}

func (d *vgDecoder) decodeLV(s *Section) LogicalVolume {
	lv := LogicalVolume{Name: s.Name, Section: s}
	lv.ID = d.str(s, "id")
	lv.Status = d.strs(s, "status")
	lv.Flags = d.strs(s, "flags")
	lv.Alloc = d.optStr(s, "allocation_policy")
	count := d.num(s, "segment_count", 1, int64(len(s.Sections)))
	for i := int64(1); i <= count && d.err == nil; i++ {
		ss := s.Section(fmt.Sprintf("segment%d", i))
		if ss == nil {
			d.fail(s, "segment%d is missing", i)
			break
		}
		seg := Segment{Section: ss}
		seg.StartExtent = d.num(ss, "start_extent", 0, maxExtents)
		seg.ExtentCount = d.num(ss, "extent_count", 1, maxExtents)
		typ := d.str(ss, "type")
		if d.err != nil {
			break
		}
		seg.Type, _, _ = strings.Cut(typ, "+")
		if _, flags, ok := strings.Cut(typ, "+"); ok {
			seg.TypeFlags = strings.Split(flags, "+")
		}
		if n := len(lv.Segments); n > 0 {
			prev := lv.Segments[n-1]
			if seg.StartExtent != prev.StartExtent+prev.ExtentCount {
				d.fail(ss, "starts at extent %d, but the previous segment ends at %d (segments overlap or leave a gap)", seg.StartExtent, prev.StartExtent+prev.ExtentCount)
				break
			}
		} else if seg.StartExtent != 0 {
			d.fail(ss, "first segment starts at extent %d, not 0", seg.StartExtent)
			break
		}
		if end := seg.StartExtent + seg.ExtentCount; end > maxExtents || end > maxSectors/d.vg.ExtentSize {
			d.fail(ss, "LV of %d extents of %d sectors is too long", end, d.vg.ExtentSize)
			break
		}
		d.decodeSegment(lv.Name, ss, &seg)
		lv.Segments = append(lv.Segments, seg)
	}
	if d.err == nil && len(lv.Segments) > 1 {
		for _, seg := range lv.Segments {
			switch seg.Type {
			case "thin-pool", "thin", "snapshot":
				d.fail(s, "a %s segment must be the LV's only segment", seg.Type)
			}
		}
	}
	return lv
}

// decodeSegment decodes the keys of seg's type.
func (d *vgDecoder) decodeSegment(lv string, ss *Section, seg *Segment) {
	switch seg.Type {
	case "striped":
		seg.StripeCount = d.num(ss, "stripe_count", 1, maxStripes)
		if seg.StripeCount > 1 {
			seg.StripeSize = d.num(ss, "stripe_size", 1, maxChunk)
		}
		if d.err != nil {
			return
		}
		if seg.ExtentCount%seg.StripeCount != 0 {
			d.fail(ss, "extent_count %d is not a multiple of stripe_count %d", seg.ExtentCount, seg.StripeCount)
			return
		}
		seg.Stripes = d.areas(lv, ss, "stripes", seg.StripeCount, seg.ExtentCount/seg.StripeCount)
	case "mirror":
		n := d.num(ss, "mirror_count", 1, maxStripes)
		m := &MirrorSegment{}
		m.Log = d.optStr(ss, "mirror_log")
		m.RegionSize = d.optNum(ss, "region_size", 0, maxChunk, 0)
		if d.err != nil {
			return
		}
		seg.Stripes = d.areas(lv, ss, "mirrors", n, seg.ExtentCount)
		seg.Mirror = m
	case "thin-pool":
		p := &ThinPoolSegment{}
		p.Metadata = d.str(ss, "metadata")
		p.Data = d.str(ss, "pool")
		p.TransactionID = d.num(ss, "transaction_id", 0, math.MaxInt64)
		p.ChunkSize = d.num(ss, "chunk_size", 1, maxChunk)
		p.ZeroNewBlocks = d.optNum(ss, "zero_new_blocks", 0, 1, 0) == 1
		p.Discards = d.optStr(ss, "discards")
		seg.ThinPool = p
	case "thin":
		t := &ThinSegment{}
		t.Pool = d.str(ss, "thin_pool")
		t.TransactionID = d.num(ss, "transaction_id", 0, math.MaxInt64)
		t.DeviceID = d.num(ss, "device_id", 0, 1<<24-1)
		t.Origin = d.optStr(ss, "origin")
		t.ExternalOrigin = d.optStr(ss, "external_origin")
		seg.Thin = t
	case "snapshot":
		s := &SnapshotSegment{}
		s.Origin = d.str(ss, "origin")
		if _, ok := ss.Values["merging_store"]; ok {
			s.COW = d.str(ss, "merging_store")
			s.Merging = true
		} else {
			s.COW = d.str(ss, "cow_store")
		}
		s.ChunkSize = d.num(ss, "chunk_size", 1, maxChunk)
		seg.Snapshot = s
	default:
		if layout, ok := raidLayouts[seg.Type]; ok {
			d.decodeRAID(ss, seg, layout)
		}
		// zero and error need nothing; other types are kept undecoded.
	}
}

// areas decodes a list of n name and extent pairs, each mapping length
// extents of a PV or of an LV.
func (d *vgDecoder) areas(lv string, ss *Section, key string, n, length int64) []Stripe {
	st, ok := ss.Values[key]
	if !ok || st.Kind != List || int64(len(st.Items)) != 2*n {
		d.fail(ss, "%s must list %d PV or LV names, each followed by an extent", key, n)
		return nil
	}
	out := make([]Stripe, 0, n)
	for j := 0; j < len(st.Items); j += 2 {
		name, start := st.Items[j], st.Items[j+1]
		if name.Kind != String || start.Kind != Int || start.Int < 0 || start.Int > maxExtents {
			d.fail(ss, "%s entry %d is not a PV or LV name and an extent", key, j/2)
			return nil
		}
		if k, ok := d.pvIndex[name.Str]; ok {
			pv := d.vg.PVs[k]
			if start.Int > pv.PECount || length > pv.PECount-start.Int {
				d.fail(ss, "%s entry %d maps extents %d-%d beyond %s's %d extents", key, j/2, start.Int, start.Int+length-1, name.Str, pv.PECount)
				return nil
			}
			out = append(out, Stripe{PV: name.Str, StartExtent: start.Int})
			d.usage[k] = append(d.usage[k], used{start.Int, start.Int + length, lv})
			continue
		}
		if _, ok := d.vg.lvIndex[name.Str]; !ok {
			d.fail(ss, "%s entry %d names unknown PV or LV %q", key, j/2, name.Str)
			return nil
		}
		out = append(out, Stripe{LV: name.Str, StartExtent: start.Int})
	}
	return out
}

// decodeRAID decodes a segment of one of the raid types.
func (d *vgDecoder) decodeRAID(ss *Section, seg *Segment, layout raidLayout) {
	_, hasDev := ss.Values["device_count"]
	_, hasStripes := ss.Values["stripe_count"]
	if hasDev == hasStripes {
		d.fail(ss, "a %s segment needs one of device_count and stripe_count", seg.Type)
		return
	}
	var n int64
	if hasDev {
		n = d.num(ss, "device_count", 1, maxStripes)
	} else {
		n = d.num(ss, "stripe_count", 1, maxStripes)
	}
	r := &RAIDSegment{Parity: layout.parity, layout: layout}
	r.RegionSize = d.optNum(ss, "region_size", 0, maxChunk, 0)
	r.ReshapeCount = d.optNum(ss, "reshape_count", 0, maxExtents, 0)
	seg.StripeSize = d.optNum(ss, "stripe_size", 0, maxChunk, 0)
	switch layout.level {
	case 1:
		r.DataCopies = n
	case 10:
		r.DataCopies = d.optNum(ss, "data_copies", 2, n, 2)
	default:
		r.DataCopies = 1
	}
	if d.err != nil {
		return
	}
	if n <= int64(layout.parity) {
		d.fail(ss, "%s needs more than %d devices, has %d", seg.Type, layout.parity, n)
		return
	}
	if layout.level == 10 && n < 2 {
		d.fail(ss, "%s needs at least 2 devices", seg.Type)
		return
	}
	if seg.StripeSize == 0 && (layout.level >= 4 || layout.level == 0 && n > 1) {
		d.fail(ss, "%s with %d devices needs a stripe_size", seg.Type, n)
		return
	}
	key := "raids"
	if _, ok := ss.Values[key]; !ok && layout.level == 0 {
		key = "raid0_lvs" // raid0 without metadata LVs, as lvm2 2.02 and 2.03 write it
	}
	v, ok := ss.Values[key]
	if !ok || v.Kind != List {
		d.fail(ss, "%s is missing or not a list", key)
		return
	}
	// Each device is a metadata LV and a data LV, or "-" and a data LV,
	// or a data LV alone; lvm2 tells a metadata LV by its name.
	items := v.Items
	for len(items) > 0 {
		if items[0].Kind != String {
			d.fail(ss, "%s holds a non-string", key)
			return
		}
		meta, name := "", items[0].Str
		if name == "-" || strings.Contains(name, "_rmeta_") {
			if len(items) < 2 || items[1].Kind != String {
				d.fail(ss, "%s: %q is not followed by a data LV", key, name)
				return
			}
			if name != "-" {
				meta = name
			}
			name, items = items[1].Str, items[1:]
		}
		items = items[1:]
		for _, sub := range []string{meta, name} {
			if _, ok := d.vg.lvIndex[sub]; sub != "" && !ok {
				d.fail(ss, "%s names unknown LV %q", key, sub)
				return
			}
		}
		r.Images = append(r.Images, name)
		r.Metas = append(r.Metas, meta)
	}
	if int64(len(r.Images)) != n {
		d.fail(ss, "%s lists %d devices, want %d", key, len(r.Images), n)
		return
	}
	if layout.level == 0 {
		seg.StripeCount = n
	}
	seg.RAID = r
}

// imageExtents returns how many extents each image of a RAID segment must
// have to hold its share of the segment's extents.
func (s *Segment) imageExtents() int64 {
	r := s.RAID
	n := int64(len(r.Images))
	switch r.layout.level {
	case 1:
		return s.ExtentCount
	case 10:
		return ceilDiv(s.ExtentCount*r.DataCopies, n)
	default:
		return ceilDiv(s.ExtentCount, n-int64(r.Parity))
	}
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// refs returns the LVs that the segment reads from or depends on.
func (s *Segment) refs() []string {
	var out []string
	for _, st := range s.Stripes {
		if st.LV != "" {
			out = append(out, st.LV)
		}
	}
	switch {
	case s.Mirror != nil:
		if s.Mirror.Log != "" {
			out = append(out, s.Mirror.Log)
		}
	case s.RAID != nil:
		for i, img := range s.RAID.Images {
			if m := s.RAID.Metas[i]; m != "" {
				out = append(out, m)
			}
			out = append(out, img)
		}
	case s.ThinPool != nil:
		out = append(out, s.ThinPool.Metadata, s.ThinPool.Data)
	case s.Thin != nil:
		out = append(out, s.Thin.Pool)
		if s.Thin.ExternalOrigin != "" {
			out = append(out, s.Thin.ExternalOrigin)
		}
	case s.Snapshot != nil:
		out = append(out, s.Snapshot.Origin, s.Snapshot.COW)
	}
	return out
}

// link checks what segments refer to: that the LVs exist and are big
// enough, that no LV reaches itself, and how deep LVs are stacked; and it
// records each LV's roles and visibility.
func (d *vgDecoder) link() error {
	vg := d.vg
	fail := func(lv *LogicalVolume, i int, format string, args ...any) error {
		return fmt.Errorf("lvm: VG %q: LV %q segment %d: %s", vg.Name, lv.Name, i+1, fmt.Sprintf(format, args...))
	}
	for li := range vg.LVs {
		lv := &vg.LVs[li]
		for i := range lv.Segments {
			s := &lv.Segments[i]
			for _, ref := range s.refs() {
				if vg.LV(ref) == nil {
					return fail(lv, i, "refers to unknown LV %q", ref)
				}
			}
			for j, st := range s.Stripes {
				if st.LV == "" {
					continue
				}
				length := s.ExtentCount
				if s.Type == "striped" {
					length /= s.StripeCount
				}
				if sub := vg.LV(st.LV); st.StartExtent > sub.Extents() || length > sub.Extents()-st.StartExtent {
					return fail(lv, i, "area %d maps extents %d-%d beyond LV %q's %d extents", j, st.StartExtent, st.StartExtent+length-1, st.LV, sub.Extents())
				}
			}
			switch {
			case s.Mirror != nil:
				for _, st := range s.Stripes {
					if st.LV != "" {
						vg.LV(st.LV).roles |= roleMirrorImage
					}
				}
				if s.Mirror.Log != "" {
					vg.LV(s.Mirror.Log).roles |= roleMirrorLog
				}
			case s.RAID != nil:
				need := s.imageExtents()
				for j, img := range s.RAID.Images {
					sub := vg.LV(img)
					if sub.Extents() < need {
						return fail(lv, i, "RAID image %q has %d extents, less than the %d it must hold", img, sub.Extents(), need)
					}
					sub.roles |= roleRAIDImage
					if m := s.RAID.Metas[j]; m != "" {
						vg.LV(m).roles |= roleRAIDMeta
					}
				}
			case s.ThinPool != nil:
				meta, data := vg.LV(s.ThinPool.Metadata), vg.LV(s.ThinPool.Data)
				if meta == data {
					return fail(lv, i, "thin pool uses %q for both metadata and data", meta.Name)
				}
				if data.Extents() < s.ExtentCount {
					return fail(lv, i, "thin pool data LV %q has %d extents, less than the pool's %d", data.Name, data.Extents(), s.ExtentCount)
				}
				meta.roles |= rolePoolMeta
				data.roles |= rolePoolData
			case s.Thin != nil:
				if p := vg.LV(s.Thin.Pool); p.Segments[0].ThinPool == nil {
					return fail(lv, i, "thin_pool %q is not a thin pool", p.Name)
				}
				if s.Thin.ExternalOrigin != "" {
					vg.LV(s.Thin.ExternalOrigin).roles |= roleExternalOrigin
				}
			case s.Snapshot != nil:
				origin, cow := vg.LV(s.Snapshot.Origin), vg.LV(s.Snapshot.COW)
				switch {
				case origin == cow || origin == lv || cow == lv:
					return fail(lv, i, "snapshot origin %q and COW %q must be two other LVs", origin.Name, cow.Name)
				case origin.Extents() < s.ExtentCount:
					return fail(lv, i, "snapshot of %d extents has an origin %q of only %d", s.ExtentCount, origin.Name, origin.Extents())
				case cow.roles&roleCOW != 0:
					return fail(lv, i, "COW LV %q serves two snapshots", cow.Name)
				}
				origin.roles |= roleOrigin
				cow.roles |= roleCOW
				cow.origin = origin.Name
				if s.Snapshot.Merging {
					origin.roles |= roleMergingOrigin
					cow.roles |= roleMergingCOW
				}
			}
		}
	}
	if err := d.checkNesting(); err != nil {
		return err
	}
	for li := range vg.LVs {
		lv := &vg.LVs[li]
		lv.visible = d.visible(lv)
	}
	for li := range vg.LVs {
		lv := &vg.LVs[li]
		if lv.roles&roleCOW != 0 && (lv.roles&(roleOrigin|roleExternalOrigin) != 0 || lv.snapshot() != nil) {
			return fmt.Errorf("lvm: VG %q: COW LV %q is also an origin or a snapshot", vg.Name, lv.Name)
		}
	}
	return nil
}

// checkNesting verifies that following references from any LV never comes
// back to it and never goes deeper than maxNesting.
func (d *vgDecoder) checkNesting() error {
	vg := d.vg
	const (
		unvisited = iota
		onPath
		done
	)
	state := make([]int, len(vg.LVs))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		lv := &vg.LVs[i]
		switch state[i] {
		case done:
			return nil
		case onPath:
			k := slices.Index(path, lv.Name)
			return fmt.Errorf("lvm: VG %q: LV %q refers to itself through %s", vg.Name, lv.Name, strings.Join(append(path[k:], lv.Name), " -> "))
		}
		if len(path) >= maxNesting {
			return fmt.Errorf("lvm: VG %q: LVs stacked more than %d deep: %s", vg.Name, maxNesting, strings.Join(path, " -> "))
		}
		state[i] = onPath
		path = append(path, lv.Name)
		for _, s := range lv.Segments {
			for _, ref := range s.refs() {
				if err := visit(vg.lvIndex[ref]); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range vg.LVs {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}

// visible decides, as lvm2 does, whether lvs lists the LV without -a.
func (d *vgDecoder) visible(lv *LogicalVolume) bool {
	if lv.snapshot() != nil {
		return false
	}
	if lv.roles&roleCOW != 0 {
		if lv.roles&roleMergingCOW != 0 {
			return false
		}
		origin := d.vg.LV(d.vg.snapshotOf(lv.Name).Origin)
		if origin.virtual() {
			return true
		}
		return slices.Contains(origin.Status, "VISIBLE")
	}
	return slices.Contains(lv.Status, "VISIBLE")
}

// LV returns the logical volume called name, or nil.
func (vg *VG) LV(name string) *LogicalVolume {
	if i, ok := vg.lvIndex[name]; ok && i < len(vg.LVs) && vg.LVs[i].Name == name {
		return &vg.LVs[i]
	}
	for i := range vg.LVs {
		if vg.LVs[i].Name == name {
			return &vg.LVs[i]
		}
	}
	return nil
}

// snapshotOf returns the snapshot segment whose COW LV is cow, or nil.
func (vg *VG) snapshotOf(cow string) *SnapshotSegment {
	for i := range vg.LVs {
		if s := vg.LVs[i].snapshot(); s != nil && s.COW == cow {
			return s
		}
	}
	return nil
}

// mergingSnapshotOf returns the snapshot segment merging into origin, or nil.
func (vg *VG) mergingSnapshotOf(origin string) *SnapshotSegment {
	for i := range vg.LVs {
		if s := vg.LVs[i].snapshot(); s != nil && s.Origin == origin && s.Merging {
			return s
		}
	}
	return nil
}

// Extents returns the LV's length in extents.
func (lv *LogicalVolume) Extents() int64 {
	if n := len(lv.Segments); n > 0 {
		return lv.Segments[n-1].StartExtent + lv.Segments[n-1].ExtentCount
	}
	return 0
}

// Visible reports whether lvs lists the LV without -a: hidden sub-LVs
// (RAID images, pool data, mirror logs) and the internal LVs holding
// snapshot segments are not visible; a snapshot's COW LV is visible when
// its origin is.
func (lv *LogicalVolume) Visible() bool { return lv.visible }

// snapshot returns the LV's snapshot segment, or nil.
func (lv *LogicalVolume) snapshot() *SnapshotSegment {
	if len(lv.Segments) == 1 {
		return lv.Segments[0].Snapshot
	}
	return nil
}

// virtual reports whether one of the LV's segments is of a type that maps
// no storage (zero or error), which lvm2 calls virtual.
func (lv *LogicalVolume) virtual() bool {
	for _, s := range lv.Segments {
		if s.Type == "zero" || s.Type == "error" {
			return true
		}
	}
	return false
}

// Pool returns what lvs prints in its Pool column: the thin pool of a thin
// volume, else "".
func (lv *LogicalVolume) Pool() string {
	if len(lv.Segments) > 0 && lv.Segments[0].Thin != nil {
		return lv.Segments[0].Thin.Pool
	}
	return ""
}

// Origin returns what lvs prints in its Origin column: the origin of a
// snapshot, or of a thin snapshot, or a thin volume's external origin,
// else "".
func (lv *LogicalVolume) Origin() string {
	if lv.origin != "" {
		return lv.origin
	}
	if len(lv.Segments) > 0 && lv.Segments[0].Thin != nil {
		return cmp.Or(lv.Segments[0].Thin.Origin, lv.Segments[0].Thin.ExternalOrigin)
	}
	return ""
}

// SegType returns the type of the LV's first segment as lvs prints it.
func (lv *LogicalVolume) SegType() string {
	if len(lv.Segments) == 0 {
		return ""
	}
	return lv.Segments[0].SegType()
}

// SegType returns the segment's type as lvs prints it: "linear" for a
// striped segment with one stripe, else the type.
func (s *Segment) SegType() string {
	if s.Type == "striped" && s.StripeCount == 1 {
		return "linear"
	}
	return s.Type
}

// Devices returns what lvs prints in its devices column for the segment:
// each area as name(extent), separated by commas, where PV areas are named
// by pvName(key of the PV) and LV areas by the LV's name. RAID segments
// list their images, thin pools their data LV; thin volumes and virtual
// segments list nothing.
func (s *Segment) Devices(pvName func(pv string) string) string {
	var parts []string
	switch {
	case s.RAID != nil:
		for _, img := range s.RAID.Images {
			parts = append(parts, img+"(0)")
		}
	case s.ThinPool != nil:
		parts = append(parts, s.ThinPool.Data+"(0)")
	default:
		for _, st := range s.Stripes {
			name := st.LV
			if st.PV != "" {
				name = pvName(st.PV)
			}
			parts = append(parts, fmt.Sprintf("%s(%d)", name, st.StartExtent))
		}
	}
	return strings.Join(parts, ",")
}

// knownTypes are the segment types lvm2 knows, whether decoded here or not;
// lvs flags LVs with other types as having unknown segments.
var knownTypes = map[string]bool{
	"striped": true, "mirror": true, "snapshot": true, "zero": true, "error": true,
	"free": true, "thin-pool": true, "thin": true, "cache": true, "cache-pool": true,
	"writecache": true, "integrity": true, "vdo": true, "vdo-pool": true,
	"raid01": true, "raid10_far": true, "raid10_offset": true,
}

// Attr returns lvm2's ten-character lv_attr of the LV in vg: volume type,
// permissions, allocation policy, fixed minor, state, open, target type,
// zeroing, health and skip activation. Nothing is ever active here, so
// state and open are always '-'; health is 'p' when the LV needs a PV that
// is missing.
func (lv *LogicalVolume) Attr(vg *VG) string {
	a := []byte("----------")
	has := func(flag string) bool {
		return slices.Contains(lv.Status, flag) || slices.Contains(lv.Flags, flag)
	}
	first := Segment{}
	if len(lv.Segments) > 0 {
		first = lv.Segments[0]
	}
	isCache := false
	for _, s := range lv.Segments {
		if strings.HasPrefix(s.Type, "cache") || strings.HasPrefix(s.Type, "writecache") {
			isCache = true
		}
	}
	isRAIDType := first.RAID != nil || lv.roles&(roleRAIDImage|roleRAIDMeta) != 0
	isMirrorType := first.Mirror != nil || lv.roles&(roleMirrorImage|roleMirrorLog) != 0
	pvmove := has("PVMOVE")
	switch {
	case pvmove:
		a[0] = 'p'
	case first.Mirror != nil && len(first.Stripes) > 0 && strings.Contains(first.Stripes[0].LV, "_mimagetmp_"):
		a[0] = 'c'
	case lv.roles&(roleOrigin|roleExternalOrigin) != 0:
		a[0] = 'o'
		if lv.roles&roleMergingOrigin != 0 {
			a[0] = 'O'
		}
	case lv.roles&(rolePoolMeta|roleRAIDMeta) != 0 || !lv.visible && strings.Contains(lv.Name, "_pmspare"):
		a[0] = 'e'
	case isCache:
		a[0] = 'C'
	case first.RAID != nil:
		a[0] = 'r'
		if has("NOTSYNCED") {
			a[0] = 'R'
		}
	case first.Mirror != nil:
		a[0] = 'm'
		if has("NOTSYNCED") {
			a[0] = 'M'
		}
	case first.Thin != nil:
		a[0] = 'V'
	case first.ThinPool != nil:
		a[0] = 't'
	case lv.virtual():
		a[0] = 'v'
	case lv.roles&rolePoolData != 0:
		a[0] = 'T'
	case lv.roles&(roleMirrorImage|roleRAIDImage) != 0:
		// An image is in sync only while it is active.
		a[0] = 'I'
	case lv.roles&roleMirrorLog != 0:
		a[0] = 'l'
	case lv.roles&roleCOW != 0:
		a[0] = 's'
		if lv.roles&roleMergingCOW != 0 {
			a[0] = 'S'
		}
	}
	switch {
	case pvmove:
	case has("WRITE") || has("WRITE_LOCKED"):
		a[1] = 'w'
	case has("READ"):
		a[1] = 'r'
	}
	a[2] = allocChar(lv.Alloc, 'i')
	if has("LOCKED") {
		a[2] -= 'a' - 'A'
	}
	if has("FIXED_MINOR") {
		a[3] = 'm'
	}
	switch {
	case first.ThinPool != nil || first.Thin != nil:
		a[6] = 't'
	case isCache:
		a[6] = 'C'
	case isRAIDType:
		a[6] = 'r'
	case isMirrorType || pvmove:
		a[6] = 'm'
	case lv.roles&(roleCOW|roleOrigin) != 0:
		a[6] = 's'
	case lv.unknownSegments():
		a[6] = 'u'
	case lv.virtual():
		a[6] = 'v'
	}
	if p := lv.pool(vg); p != nil && p.ZeroNewBlocks {
		a[7] = 'z'
	}
	switch {
	case vg.partial(lv):
		a[8] = 'p'
	case first.RAID != nil:
		// As lvm2 does, image 0 is not looked at.
		for _, img := range first.RAID.Images[1:] {
			if sub := vg.LV(img); sub != nil && slices.Contains(sub.Status, "REMOVE_AFTER_RESHAPE") {
				a[8] = 'R'
			}
		}
	case lv.roles&roleRAIDImage != 0 && has("WRITEMOSTLY"):
		a[8] = 'w'
	case lv.roles&roleRAIDImage != 0 && has("REMOVE_AFTER_RESHAPE"):
		a[8] = 'R'
	}
	if has("ACTIVATION_SKIP") {
		a[9] = 'k'
	}
	return string(a)
}

// allocChar returns lvm2's letter for an allocation policy.
func allocChar(policy string, def byte) byte {
	switch policy {
	case "contiguous":
		return 'c'
	case "cling", "cling_by_tags":
		return 'l'
	case "normal":
		return 'n'
	case "anywhere":
		return 'a'
	case "inherit":
		return 'i'
	}
	return def
}

func (lv *LogicalVolume) unknownSegments() bool {
	for _, s := range lv.Segments {
		if _, raid := raidLayouts[s.Type]; !raid && !knownTypes[s.Type] {
			return true
		}
	}
	return false
}

// pool returns the thin-pool segment of the LV if it is a pool, or of its
// pool if it is a thin volume, else nil.
func (lv *LogicalVolume) pool(vg *VG) *ThinPoolSegment {
	if len(lv.Segments) == 0 {
		return nil
	}
	if p := lv.Segments[0].ThinPool; p != nil {
		return p
	}
	if t := lv.Segments[0].Thin; t != nil {
		if p := vg.LV(t.Pool); p != nil && len(p.Segments) > 0 {
			return p.Segments[0].ThinPool
		}
	}
	return nil
}

// PVsOf returns the indexes in vg.PVs of the physical volumes lv's extents
// lie on, directly or through the LVs it is built from (mirror and raid
// images, a thin pool's metadata and data, a snapshot's origin), in order.
func (vg *VG) PVsOf(lv *LogicalVolume) []int {
	found := map[int]bool{}
	seen := map[string]bool{}
	var walk func(lv *LogicalVolume)
	walk = func(lv *LogicalVolume) {
		if seen[lv.Name] {
			return
		}
		seen[lv.Name] = true
		for _, s := range lv.Segments {
			for _, st := range s.Stripes {
				for i := range vg.PVs {
					if st.PV != "" && vg.PVs[i].Name == st.PV {
						found[i] = true
					}
				}
			}
			for _, ref := range s.refs() {
				if sub := vg.LV(ref); sub != nil {
					walk(sub)
				}
			}
		}
	}
	walk(lv)
	out := make([]int, 0, len(found))
	for i := range found {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// partial reports whether lv needs a PV that is missing.
func (vg *VG) partial(lv *LogicalVolume) bool {
	for _, i := range vg.PVsOf(lv) {
		if vg.PVs[i].Missing {
			return true
		}
	}
	return false
}

// pv returns the PV whose key is name, or nil.
func (vg *VG) pv(name string) *PhysicalVolume {
	if name == "" {
		return nil
	}
	for i := range vg.PVs {
		if vg.PVs[i].Name == name {
			return &vg.PVs[i]
		}
	}
	return nil
}

// Attr returns lvm2's six-character vg_attr: permissions, resizeable,
// exported, partial (a PV is missing), allocation policy and clustered or
// shared.
func (vg *VG) Attr() string {
	a := []byte("r-----")
	if slices.Contains(vg.Status, "WRITE") {
		a[0] = 'w'
	}
	if slices.Contains(vg.Status, "RESIZEABLE") {
		a[1] = 'z'
	}
	if slices.Contains(vg.Status, "EXPORTED") {
		a[2] = 'x'
	}
	for _, pv := range vg.PVs {
		if pv.Missing {
			a[3] = 'p'
		}
	}
	a[4] = allocChar(vg.Alloc, 'n')
	switch {
	case slices.Contains(vg.Status, "CLUSTERED"):
		a[5] = 'c'
	case vg.LockType != "" && vg.LockType != "none":
		a[5] = 's'
	}
	return string(a)
}

// ExtentBytes returns the size of one extent in bytes.
func (vg *VG) ExtentBytes() int64 { return vg.ExtentSize * sectorSize }

// Extents returns the number of extents of all the VG's PVs.
func (vg *VG) Extents() int64 {
	var n int64
	for _, pv := range vg.PVs {
		n += pv.PECount
	}
	return n
}

// FreeExtents returns the number of extents no LV maps.
func (vg *VG) FreeExtents() int64 {
	var n int64
	for _, pv := range vg.PVs {
		n += pv.FreeExtents()
	}
	return n
}

// LVCount returns the number of LVs as vgs counts them: the visible ones.
func (vg *VG) LVCount() int {
	n := 0
	for i := range vg.LVs {
		if vg.LVs[i].visible {
			n++
		}
	}
	return n
}

// SnapshotCount returns the number of old-style snapshots, as vgs counts
// them.
func (vg *VG) SnapshotCount() int {
	n := 0
	for i := range vg.LVs {
		if vg.LVs[i].roles&roleCOW != 0 {
			n++
		}
	}
	return n
}

// FreeExtents returns the number of the PV's extents no LV maps.
func (pv *PhysicalVolume) FreeExtents() int64 { return pv.PECount - pv.Allocated }

// Attr returns lvm2's three-character pv_attr: allocatable, exported and
// missing.
func (pv *PhysicalVolume) Attr() string {
	a := []byte("---")
	if slices.Contains(pv.Status, "ALLOCATABLE") {
		a[0] = 'a'
	}
	if slices.Contains(pv.Status, "EXPORTED") {
		a[1] = 'x'
	}
	if pv.Missing {
		a[2] = 'm'
	}
	return string(a)
}
