package lvm

import (
	"errors"
	"fmt"
	"math"
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
	ExtentSize int64 // sectors of 512 bytes
	PVs        []PhysicalVolume
	LVs        []LogicalVolume
	Section    *Section // the VG's section, for keys not decoded here
}

// PhysicalVolume is one entry of a VG's physical_volumes.
type PhysicalVolume struct {
	Name    string // key in the metadata, e.g. "pv0"
	ID      string // UUID with dashes
	Device  string // device path hint
	DevSize int64  // sectors
	PEStart int64  // sectors
	PECount int64
}

// LogicalVolume is one entry of a VG's logical_volumes.
type LogicalVolume struct {
	Name     string
	ID       string
	Status   []string
	Segments []Segment
	Section  *Section
}

// Segment is one segment of a logical volume.
type Segment struct {
	StartExtent int64
	ExtentCount int64
	Type        string
	StripeCount int64 // striped segments
	StripeSize  int64 // sectors; striped segments with more than one stripe
	Stripes     []Stripe
	Section     *Section // for types decoded later (mirror, raid, thin)
}

// Stripe is where one stripe of a striped segment lies.
type Stripe struct {
	PV          string // key of the PV in physical_volumes
	StartExtent int64
}

// ParseVG parses metadata text, as read from a metadata area or written by
// vgcfgbackup, and decodes the volume group it describes. Malformed text
// is a *SyntaxError; metadata that is well formed but inconsistent is an
// error naming the VG, LV or segment.
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
)

func decodeVG(vs *Section) (*VG, error) {
	d := &decoder{}
	vg := &VG{Name: vs.Name, Section: vs}
	vg.ID = d.str(vs, "id")
	vg.Seqno = d.num(vs, "seqno", 0, math.MaxInt64)
	vg.ExtentSize = d.num(vs, "extent_size", 1, 1<<32)
	pvIndex := map[string]int{}
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
			if d.err == nil && vg.ExtentSize > 0 && pv.PECount > (maxSectors-pv.PEStart)/vg.ExtentSize {
				d.fail(s, "pe_count %d extents of %d sectors overflow", pv.PECount, vg.ExtentSize)
			}
			if d.err == nil && pv.DevSize > 0 && pv.PEStart+pv.PECount*vg.ExtentSize > pv.DevSize {
				d.fail(s, "%d extents from sector %d pass dev_size %d", pv.PECount, pv.PEStart, pv.DevSize)
			}
			pvIndex[s.Name] = len(vg.PVs)
			vg.PVs = append(vg.PVs, pv)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	type used struct {
		start, end int64 // extents on the PV
		lv         string
	}
	usage := make([][]used, len(vg.PVs))
	if ls := vs.Section("logical_volumes"); ls != nil {
		for _, s := range ls.Sections {
			lv := LogicalVolume{Name: s.Name, Section: s}
			lv.ID = d.str(s, "id")
			lv.Status = d.strs(s, "status")
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
				seg.Type = d.str(ss, "type")
				if d.err != nil {
					break
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
				if seg.StartExtent+seg.ExtentCount > maxExtents {
					d.fail(ss, "LV longer than %d extents", int64(maxExtents))
					break
				}
				if seg.Type == "striped" {
					seg.StripeCount = d.num(ss, "stripe_count", 1, maxStripes)
					if seg.StripeCount > 1 {
						seg.StripeSize = d.num(ss, "stripe_size", 1, 1<<32)
					}
					st, ok := ss.Values["stripes"]
					if d.err != nil {
						break
					}
					if !ok || st.Kind != List || int64(len(st.Items)) != 2*seg.StripeCount {
						d.fail(ss, "stripes must list %d PV and extent pairs", seg.StripeCount)
						break
					}
					if seg.ExtentCount%seg.StripeCount != 0 {
						d.fail(ss, "extent_count %d is not a multiple of stripe_count %d", seg.ExtentCount, seg.StripeCount)
						break
					}
					per := seg.ExtentCount / seg.StripeCount
					for j := 0; j < len(st.Items); j += 2 {
						pvName, start := st.Items[j], st.Items[j+1]
						if pvName.Kind != String || start.Kind != Int || start.Int < 0 {
							d.fail(ss, "stripe %d is not a PV name and an extent", j/2)
							break
						}
						k, ok := pvIndex[pvName.Str]
						if !ok {
							d.fail(ss, "stripe %d names unknown PV %q", j/2, pvName.Str)
							break
						}
						if start.Int > vg.PVs[k].PECount || per > vg.PVs[k].PECount-start.Int {
							d.fail(ss, "stripe %d maps extents %d-%d beyond %s's %d extents", j/2, start.Int, start.Int+per-1, pvName.Str, vg.PVs[k].PECount)
							break
						}
						seg.Stripes = append(seg.Stripes, Stripe{PV: pvName.Str, StartExtent: start.Int})
						usage[k] = append(usage[k], used{start.Int, start.Int + per, lv.Name})
					}
				}
				lv.Segments = append(lv.Segments, seg)
			}
			if d.err != nil {
				return nil, d.err
			}
			vg.LVs = append(vg.LVs, lv)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	for k, u := range usage {
		sort.Slice(u, func(i, j int) bool { return u[i].start < u[j].start })
		for i := 1; i < len(u); i++ {
			if u[i].start < u[i-1].end {
				return nil, fmt.Errorf("lvm: VG %q: LVs %q and %q both map extent %d of PV %q", vg.Name, u[i-1].lv, u[i].lv, u[i].start, vg.PVs[k].Name)
			}
		}
	}
	return vg, nil
}
