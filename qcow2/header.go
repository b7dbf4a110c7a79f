package qcow2

import (
	"encoding/binary"
	"fmt"
	"strings"
)

var be = binary.BigEndian

const (
	headerV2Len = 72  // the whole version 2 header
	headerV3Len = 104 // the version 3 header up to header_length

	minClusterBits = 9  // 512-byte clusters
	maxClusterBits = 21 // 2 MiB clusters, qemu's limit
	minExtL2Bits   = 14 // extended L2 entries need clusters of 16 KiB or more
	subclusters    = 32 // per cluster with extended L2 entries

	maxL1Bytes      = 32 << 20 // qemu's limit on an L1 table
	maxBackingName  = 1023     // bytes
	maxSnapshots    = 65536    // qemu's limit
	maxSnapshotData = 1024     // extra data bytes per snapshot entry, qemu's limit
	maxSnapTable    = 64 << 20 // bytes of the snapshot table, qemu's limit
	maxRefcountOrd  = 6

	// Incompatible feature bits.
	incompatDirty       = 1 << 0
	incompatCorrupt     = 1 << 1
	incompatDataFile    = 1 << 2
	incompatCompression = 1 << 3
	incompatExtendedL2  = 1 << 4
	incompatKnown       = 1<<5 - 1

	// Autoclear feature bits.
	autoclearBitmaps = 1 << 0
	autoclearDataRaw = 1 << 1

	// Header extension types.
	extEnd        = 0x00000000
	extBackingFmt = 0xe2792aca
	extFeatures   = 0x6803f857
	extBitmaps    = 0x23852875
	extCrypto     = 0x0537be77
	extDataFile   = 0x44415441

	featureEntryLen = 48

	// Masks of table entries.
	offsetMask     = 0x00fffffffffffe00 // bits 9-55: a host offset in an L1 or L2 entry
	l2Compressed   = 1 << 62
	l2Copied       = 1 << 63 // refcount exactly one
	l2Zero         = 1 << 0  // standard cluster reads as zeros (version 3, standard L2)
	sectorSize     = 512
	compressedMask = 1<<62 - 1
)

// header is the fixed part of a qcow2 header.
type header struct {
	version          uint32
	backingOff       uint64
	backingLen       uint32
	clusterBits      uint32
	size             uint64
	cryptMethod      uint32
	l1Size           uint32
	l1Off            uint64
	refcountOff      uint64
	refcountClusters uint32
	nbSnapshots      uint32
	snapshotsOff     uint64
	incompat         uint64
	compat           uint64
	autoclear        uint64
	refcountOrder    uint32
	headerLen        uint32
	compressionType  uint8
}

// parseHeader decodes the fixed header from b, which holds the file's first
// bytes (up to its first cluster). It checks what can be checked without
// the header extensions.
func parseHeader(b []byte, path string) (*header, error) {
	bad := func(off int64, format string, args ...any) (*header, error) {
		return nil, &FormatError{Path: path, Off: off, Msg: "header: " + fmt.Sprintf(format, args...)}
	}
	if !Detect(b) {
		return nil, fmt.Errorf("qcow2: %s: %w", path, ErrNotQcow2)
	}
	if len(b) < 8 {
		return bad(0, "file of %d bytes is shorter than the header", len(b))
	}
	h := &header{version: be.Uint32(b[4:])}
	switch h.version {
	case 1:
		return nil, fmt.Errorf("qcow2: %s: %w", path, ErrVersion1)
	case 2, 3:
	default:
		return nil, fmt.Errorf("qcow2: %s: version %d: %w", path, h.version, unsupported("unknown qcow2 version"))
	}
	if len(b) < headerV2Len {
		return bad(0, "file of %d bytes is shorter than the %d-byte header", len(b), headerV2Len)
	}
	h.backingOff = be.Uint64(b[8:])
	h.backingLen = be.Uint32(b[16:])
	h.clusterBits = be.Uint32(b[20:])
	h.size = be.Uint64(b[24:])
	h.cryptMethod = be.Uint32(b[32:])
	h.l1Size = be.Uint32(b[36:])
	h.l1Off = be.Uint64(b[40:])
	h.refcountOff = be.Uint64(b[48:])
	h.refcountClusters = be.Uint32(b[56:])
	h.nbSnapshots = be.Uint32(b[60:])
	h.snapshotsOff = be.Uint64(b[64:])
	h.refcountOrder = 4
	h.headerLen = headerV2Len

	if h.clusterBits < minClusterBits || h.clusterBits > maxClusterBits {
		return bad(20, "cluster_bits %d outside %d..%d", h.clusterBits, minClusterBits, maxClusterBits)
	}
	cs := uint64(1) << h.clusterBits
	if h.cryptMethod != 0 {
		name := map[uint32]string{1: "AES", 2: "LUKS"}[h.cryptMethod]
		if name == "" {
			name = "unknown method"
		}
		return nil, fmt.Errorf("qcow2: %s: %w (crypt_method %d, %s)", path, ErrEncrypted, h.cryptMethod, name)
	}
	if h.version >= 3 {
		if len(b) < headerV3Len {
			return bad(0, "file of %d bytes is shorter than the %d-byte version 3 header", len(b), headerV3Len)
		}
		h.incompat = be.Uint64(b[72:])
		h.compat = be.Uint64(b[80:])
		h.autoclear = be.Uint64(b[88:])
		h.refcountOrder = be.Uint32(b[96:])
		h.headerLen = be.Uint32(b[100:])
		if h.headerLen < headerV3Len || h.headerLen%8 != 0 || uint64(h.headerLen) > cs {
			return bad(100, "header_length %d: want a multiple of 8 from %d to the cluster size %d", h.headerLen, headerV3Len, cs)
		}
		if int(h.headerLen) > len(b) {
			return bad(100, "header_length %d runs past the end of the file (%d bytes)", h.headerLen, len(b))
		}
		if h.headerLen > headerV3Len {
			h.compressionType = b[headerV3Len]
		}
	}
	if h.refcountOrder > maxRefcountOrd {
		return bad(96, "refcount_order %d above %d", h.refcountOrder, maxRefcountOrd)
	}
	if h.size > 1<<63-1 {
		return bad(24, "virtual size %#x does not fit in 63 bits", h.size)
	}
	if h.backingOff != 0 {
		if h.backingLen > maxBackingName {
			return bad(16, "backing file name of %d bytes is longer than %d", h.backingLen, maxBackingName)
		}
		if h.backingOff >= cs || h.backingOff+uint64(h.backingLen) > cs {
			return bad(8, "backing file name at %#x (%d bytes) is not inside the first cluster", h.backingOff, h.backingLen)
		}
		if h.backingOff < uint64(h.headerLen) {
			return bad(8, "backing file name at %#x overlaps the %d-byte header", h.backingOff, h.headerLen)
		}
	}
	return h, nil
}

// Feature bitmap kinds, as the feature name table numbers them.
const (
	featIncompatible = 0
	featCompatible   = 1
	featAutoclear    = 2
)

// knownFeatures are the names of the feature bits the specification defines.
var knownFeatures = map[[2]uint8]string{
	{featIncompatible, 0}: "dirty bit",
	{featIncompatible, 1}: "corrupt bit",
	{featIncompatible, 2}: "external data file",
	{featIncompatible, 3}: "compression type",
	{featIncompatible, 4}: "extended L2 entries",
	{featCompatible, 0}:   "lazy refcounts",
	{featAutoclear, 0}:    "bitmaps",
	{featAutoclear, 1}:    "raw external data",
}

// extensions holds what the header extensions and the backing file name
// field say.
type extensions struct {
	backingName   string
	backingFormat string
	dataFile      string
	hasDataName   bool
	crypto        bool
	features      map[[2]uint8]string // feature name table: {kind, bit} → name
}

// featureNames names the set bits of a feature bitmap of the given kind,
// as the image's feature name table names them, else as the specification
// does, else by number.
func (e *extensions) featureNames(kind uint8, bits uint64) []string {
	var names []string
	for bit := range uint8(64) {
		if bits&(1<<bit) == 0 {
			continue
		}
		names = append(names, e.featureName(kind, bit))
	}
	return names
}

func (e *extensions) featureName(kind, bit uint8) string {
	if n := e.features[[2]uint8{kind, bit}]; n != "" {
		return n
	}
	if n := knownFeatures[[2]uint8{kind, bit}]; n != "" {
		return n
	}
	return fmt.Sprintf("bit %d", bit)
}

// parseExtensions decodes the header extensions and the backing file name
// from b, the file's first cluster (or less if the file is shorter).
func parseExtensions(h *header, b []byte, path string) (*extensions, error) {
	e := &extensions{}
	bad := func(off int, format string, args ...any) (*extensions, error) {
		return nil, &FormatError{Path: path, Off: int64(off), Msg: "header extension: " + fmt.Sprintf(format, args...)}
	}
	end := len(b)
	if h.backingOff != 0 && h.backingOff < uint64(end) {
		end = int(h.backingOff)
	}
	seen := make(map[uint32]bool)
	for off := int(h.headerLen); off+8 <= end; {
		typ, n := be.Uint32(b[off:]), be.Uint32(b[off+4:])
		if typ == extEnd {
			break
		}
		start := off + 8
		if uint64(n) > uint64(end-start) {
			return bad(off, "type %#08x at %#x: %d bytes of data run past %#x", typ, off, n, end)
		}
		data := b[start : start+int(n)]
		if typ != extFeatures && seen[typ] {
			return bad(off, "type %#08x at %#x appears twice", typ, off)
		}
		seen[typ] = true
		switch typ {
		case extBackingFmt:
			e.backingFormat = string(data)
		case extDataFile:
			e.dataFile, e.hasDataName = string(data), true
		case extCrypto:
			e.crypto = true
		case extFeatures:
			if e.features == nil {
				e.features = make(map[[2]uint8]string)
			}
			for i := 0; i+featureEntryLen <= len(data); i += featureEntryLen {
				ent := data[i : i+featureEntryLen]
				name := string(ent[2:])
				if j := strings.IndexByte(name, 0); j >= 0 {
					name = name[:j]
				}
				if ent[0] <= featAutoclear && ent[1] < 64 && name != "" {
					e.features[[2]uint8{ent[0], ent[1]}] = name
				}
			}
		default:
			// Dirty bitmaps (extBitmaps) say which clusters changed, and
			// unknown extensions may be ignored: reading needs neither.
		}
		// Data is padded to a multiple of 8 bytes.
		off = start + int((uint64(n)+7)&^7)
	}
	if h.backingOff != 0 {
		if h.backingOff+uint64(h.backingLen) > uint64(len(b)) {
			return bad(int(h.backingOff), "backing file name at %#x runs past the end of the file", h.backingOff)
		}
		e.backingName = string(b[h.backingOff : h.backingOff+uint64(h.backingLen)])
		if e.backingName == "" {
			return bad(int(h.backingOff), "empty backing file name at %#x", h.backingOff)
		}
	}
	return e, nil
}

// checkFeatures refuses an image with incompatible features this package
// cannot read, and returns warnings for those it reads anyway.
func checkFeatures(h *header, e *extensions, path string) (warnings []string, err error) {
	if e.crypto {
		return nil, fmt.Errorf("qcow2: %s: %w (full disk encryption header present)", path, ErrEncrypted)
	}
	if u := h.incompat &^ incompatKnown; u != 0 {
		names := e.featureNames(featIncompatible, u)
		for i, n := range names {
			names[i] = fmt.Sprintf("%q", n)
		}
		return nil, fmt.Errorf("qcow2: %s: incompatible features %s (%#x): %w", path,
			strings.Join(names, ", "), u, unsupported("unknown incompatible qcow2 feature"))
	}
	if h.incompat&incompatCorrupt != 0 {
		warnings = append(warnings, fmt.Sprintf("qcow2: %s: the image is marked corrupt; its data may be damaged", path))
	}
	if h.incompat&incompatCompression != 0 {
		if h.compressionType == 0 {
			return nil, &FormatError{Path: path, Off: headerV3Len, Msg: "header: the compression type bit is set but compression_type is zlib"}
		}
	} else if h.compressionType != 0 {
		return nil, &FormatError{Path: path, Off: headerV3Len, Msg: fmt.Sprintf("header: compression_type %d without the compression type bit", h.compressionType)}
	}
	switch compression(h.compressionType) {
	case compressZlib, compressZstd:
	default:
		return nil, fmt.Errorf("qcow2: %s: compression type %d: %w", path, h.compressionType, unsupported("unknown compression type"))
	}
	if h.incompat&incompatExtendedL2 != 0 && h.clusterBits < minExtL2Bits {
		return nil, &FormatError{Path: path, Off: 20, Msg: fmt.Sprintf("header: extended L2 entries need clusters of at least %d bytes, not %d", 1<<minExtL2Bits, 1<<h.clusterBits)}
	}
	if h.incompat&incompatDataFile != 0 {
		if !e.hasDataName || e.dataFile == "" {
			return nil, &FormatError{Path: path, Off: int64(h.headerLen), Msg: "header: the image uses an external data file but does not name it"}
		}
	}
	return warnings, nil
}
