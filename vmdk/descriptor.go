package vmdk

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NoCID is the content id a descriptor gives as parentCID when the disk
// has no parent.
const NoCID = 0xffffffff

const (
	maxDescriptor = 1 << 20 // bytes of descriptor text
	maxExtents    = 1 << 16 // extent lines in one descriptor
	// maxSectors bounds a virtual disk: 2^41 sectors are 1 PiB, far more
	// than any VMDK may hold (VMFS stops at 62 TiB).
	maxSectors = 1 << 41
)

// Descriptor is a parsed VMDK text descriptor.
type Descriptor struct {
	Version    int    // "version", 0 when absent
	Encoding   string // "encoding", e.g. "UTF-8"; "" when absent
	CID        uint32 // content id; NoCID when absent
	ParentCID  uint32 // the parent's content id; NoCID when there is no parent
	CreateType string // e.g. "monolithicSparse", "twoGbMaxExtentFlat", "vmfs"

	// ParentFileNameHint names the parent of a delta disk, as written,
	// usually relative to the descriptor's directory.
	ParentFileNameHint string

	Extents []Extent

	// DDB holds the disk database: every "ddb.*" key, with the value
	// unquoted (ddb.adapterType, ddb.geometry.cylinders, ddb.uuid, ...).
	DDB map[string]string

	// Warnings lists lines that were not understood and were skipped.
	Warnings []string
}

// Extent is one extent line of a descriptor:
//
//	ACCESS SECTORS TYPE ["FILE" [OFFSET]]
type Extent struct {
	Access  string // "RW", "RDONLY" or "NOACCESS"
	Sectors int64  // size of the extent in 512-byte sectors
	Type    string // "SPARSE", "FLAT", "ZERO", "VMFS", "VMFSSPARSE", "SESPARSE", ...
	File    string // file name as written, "" for ZERO
	Offset  int64  // FLAT and VMFS only: sector in File where the extent starts
}

// Size returns the sum of the extents' sizes in bytes.
func (d *Descriptor) Size() int64 {
	var n int64
	for _, e := range d.Extents {
		n += e.Sectors
	}
	return n * sectorSize
}

// ParseDescriptor parses the text of a VMDK descriptor. The text ends at the
// first NUL byte, as it does when it is embedded in a sparse extent.
//
// Lines end in LF or CRLF; blank lines and lines starting with '#' are
// comments; "key = value" lines may quote their value in double quotes and
// put spaces around '='; keys are matched without regard to case. Extent
// lines start with an access mode. A line that is neither is skipped and
// named in Warnings. Errors are for text that cannot be a descriptor: more
// than 1 MiB, a number that does not parse, an extent line that is
// malformed or too large, or no "version", "createType" or extent line
// at all.
func ParseDescriptor(text []byte) (*Descriptor, error) {
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	if len(text) > maxDescriptor {
		return nil, fmt.Errorf("vmdk: descriptor of %d bytes is larger than %d", len(text), maxDescriptor)
	}
	text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))
	d := &Descriptor{CID: NoCID, ParentCID: NoCID}
	var total int64
	seen := make(map[string]bool)
	recognised := false
	for n, line := range strings.Split(string(text), "\n") {
		lineNo := n + 1
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("vmdk: descriptor line %d: %s", lineNo, fmt.Sprintf(format, args...))
		}
		if access, ok := extentAccess(line); ok {
			if len(d.Extents) == maxExtents {
				return nil, bad("more than %d extents", maxExtents)
			}
			e, err := parseExtent(access, line)
			if err != nil {
				return nil, bad("%v", err)
			}
			if e.Sectors > maxSectors-total {
				return nil, bad("extents add up to more than %d sectors", int64(maxSectors))
			}
			total += e.Sectors
			d.Extents = append(d.Extents, e)
			recognised = true
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			d.Warnings = append(d.Warnings, fmt.Sprintf("descriptor line %d: skipped %q", lineNo, clip(line)))
			continue
		}
		key = strings.TrimSpace(key)
		value = unquote(strings.TrimSpace(value))
		lower := strings.ToLower(key)
		if strings.HasPrefix(lower, "ddb.") {
			if d.DDB == nil {
				d.DDB = make(map[string]string)
			}
			if _, dup := d.DDB[key]; !dup {
				d.DDB[key] = value
			}
			continue
		}
		// The first of a repeated key counts, as it does for qemu.
		if seen[lower] {
			continue
		}
		seen[lower] = true
		var err error
		switch lower {
		case "version":
			d.Version, err = strconv.Atoi(value)
			if err != nil || d.Version < 0 {
				return nil, bad("version %q is not a number", clip(value))
			}
			recognised = true
		case "encoding":
			d.Encoding = value
		case "cid":
			d.CID, err = parseCID(value)
			if err != nil {
				return nil, bad("CID %q is not 8 hex digits", clip(value))
			}
		case "parentcid":
			d.ParentCID, err = parseCID(value)
			if err != nil {
				return nil, bad("parentCID %q is not 8 hex digits", clip(value))
			}
		case "createtype":
			d.CreateType = value
			recognised = true
		case "parentfilenamehint":
			d.ParentFileNameHint = value
		}
	}
	if !recognised {
		return nil, errors.New("vmdk: not a descriptor: no version, createType or extent line")
	}
	return d, nil
}

// extentAccess reports whether line is an extent line, and its access mode.
func extentAccess(line string) (string, bool) {
	f, _, _ := strings.Cut(line, " ")
	f, _, _ = strings.Cut(f, "\t")
	for _, a := range []string{"RW", "RDONLY", "NOACCESS"} {
		if strings.EqualFold(f, a) {
			return a, true
		}
	}
	return "", false
}

// parseExtent parses an extent line whose first word is an access mode.
func parseExtent(access, line string) (Extent, error) {
	e := Extent{Access: access}
	rest := strings.TrimSpace(line[len(access):])
	word := func() string {
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			w := rest
			rest = ""
			return w
		}
		w := rest[:i]
		rest = strings.TrimSpace(rest[i:])
		return w
	}
	size := word()
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n <= 0 {
		return e, fmt.Errorf("extent size %q is not a positive number of sectors", clip(size))
	}
	if n > maxSectors {
		return e, fmt.Errorf("extent of %d sectors is larger than %d", n, int64(maxSectors))
	}
	e.Sectors = n
	e.Type = strings.ToUpper(word())
	if e.Type == "" {
		return e, errors.New("extent line has no type")
	}
	if e.Type == "ZERO" {
		if rest != "" {
			return e, fmt.Errorf("ZERO extent followed by %q", clip(rest))
		}
		return e, nil
	}
	if rest == "" {
		return e, fmt.Errorf("%s extent has no file name", e.Type)
	}
	if rest[0] == '"' {
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return e, errors.New("extent file name has no closing quote")
		}
		e.File = rest[1 : 1+end]
		rest = strings.TrimSpace(rest[2+end:])
	} else {
		e.File = word()
	}
	if e.File == "" {
		return e, errors.New("extent file name is empty")
	}
	switch e.Type {
	case "FLAT", "VMFS":
		// The offset is optional; 0 when absent. Raw device extents may
		// carry more words (a partition UUID, a device name): ignored.
		if rest != "" {
			w := word()
			off, err := strconv.ParseInt(w, 10, 64)
			if err != nil || off < 0 || off > maxSectors {
				return e, fmt.Errorf("extent offset %q is not a sector number", clip(w))
			}
			e.Offset = off
		}
	default:
		if rest != "" && e.Type != "VMFSRDM" && e.Type != "VMFSRAW" {
			return e, fmt.Errorf("%s extent followed by %q", e.Type, clip(rest))
		}
	}
	return e, nil
}

// unquote removes one pair of surrounding double quotes. VMware does not
// escape anything inside them.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func parseCID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Detect reports whether head, the first bytes of a file (512 are enough),
// looks like a VMDK: a sparse extent ("KDMV" or "COWD") or a text
// descriptor, which starts with "# Disk DescriptorFile" or, after comments
// and blank lines, with a "version=" line.
func Detect(head []byte) bool {
	if len(head) >= 4 {
		switch string(head[:4]) {
		case magicHosted, magicCOWD:
			return true
		}
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(head, []byte("# Disk DescriptorFile")) {
		return true
	}
	for len(head) > 0 {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("version")) {
			return false
		}
		v = bytes.TrimSpace(v)
		return len(v) == 1 && '1' <= v[0] && v[0] <= '3'
	}
	return false
}
