package nbd

import (
	"fmt"
	"strings"
)

// Wire constants from the NBD protocol document (doc/proto.md of the
// NetworkBlockDevice project). Everything on the wire is big-endian.
const (
	magicNBD      uint64 = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt      uint64 = 0x49484156454F5054 // "IHAVEOPT", newstyle
	magicOldstyle uint64 = 0x00420281861253   // cliserv_magic, oldstyle
	magicOptReply uint64 = 0x3e889045565a9

	magicRequest    uint32 = 0x25609513
	magicSimple     uint32 = 0x67446698
	magicStructured uint32 = 0x668e33ef
)

// Handshake flags (server) and client flags.
const (
	flagFixedNewstyle uint16 = 1 << 0
	flagNoZeroes      uint16 = 1 << 1

	clientFixedNewstyle uint32 = 1 << 0
	clientNoZeroes      uint32 = 1 << 1
)

// Options sent during the handshake.
const (
	optExportName      uint32 = 1
	optAbort           uint32 = 2
	optStartTLS        uint32 = 5
	optGo              uint32 = 7
	optStructuredReply uint32 = 8
)

// Option reply types. Errors have bit 31 set.
const (
	repAck  uint32 = 1
	repInfo uint32 = 3

	repErrBit           uint32 = 1 << 31
	repErrUnsup         uint32 = repErrBit + 1
	repErrPolicy        uint32 = repErrBit + 2
	repErrInvalid       uint32 = repErrBit + 3
	repErrPlatform      uint32 = repErrBit + 4
	repErrTLSReqd       uint32 = repErrBit + 5
	repErrUnknown       uint32 = repErrBit + 6
	repErrShutdown      uint32 = repErrBit + 7
	repErrBlockSizeReqd uint32 = repErrBit + 8
	repErrTooBig        uint32 = repErrBit + 9
)

// Information types of NBD_REP_INFO.
const (
	infoExport      uint16 = 0
	infoName        uint16 = 1
	infoDescription uint16 = 2
	infoBlockSize   uint16 = 3
)

// Commands. Only READ and DISC are ever sent: the client is read-only.
const (
	cmdRead uint16 = 0
	cmdDisc uint16 = 2
)

// Structured reply chunk types and flags.
const (
	replyFlagDone uint16 = 1 << 0

	chunkNone        uint16 = 0
	chunkOffsetData  uint16 = 1
	chunkOffsetHole  uint16 = 2
	chunkBlockStatus uint16 = 5
	chunkErrBit      uint16 = 1 << 15
	chunkError       uint16 = chunkErrBit + 1
	chunkErrorOffset uint16 = chunkErrBit + 2
)

// Sizes of fixed messages.
const (
	requestHeaderSize    = 28
	simpleReplySize      = 16
	structuredHeaderSize = 20
)

// Limits.
const (
	// maxString is the protocol's limit on export names and messages.
	maxString = 4096
	// maxOptReply bounds an option reply's payload during the handshake.
	maxOptReply = 64 << 10
	// maxErrorChunk bounds an error chunk's payload: error, message
	// length, a message of at most maxString bytes, an offset, and some
	// room for fields a later protocol revision may add.
	maxErrorChunk = 6 + maxString + 8 + 1024
	// maxMinBlock is the largest minimum block size the protocol allows.
	maxMinBlock = 64 << 10
	// maxRequestSize caps every read request, whatever the server
	// advertises (the protocol has servers accept up to 32 MiB): longer
	// reads are split into requests of this size, several in flight,
	// which keeps the server and the socket busier than a few huge ones.
	// A server reads each request into a buffer and sends it from there,
	// and at 1 MiB that buffer is still in the CPU's cache when it is
	// sent: nbdkit's file plugin spends about 1.6 times the CPU per byte
	// on 4 MiB requests (nbdcopy --request-size shows it too).
	maxRequestSize = 1 << 20
)

// Flags is an export's transmission flags as the server sent them.
type Flags uint16

// Transmission flags.
const (
	FlagHasFlags        Flags = 1 << 0
	FlagReadOnly        Flags = 1 << 1
	FlagSendFlush       Flags = 1 << 2
	FlagSendFUA         Flags = 1 << 3
	FlagRotational      Flags = 1 << 4
	FlagSendTrim        Flags = 1 << 5
	FlagSendWriteZeroes Flags = 1 << 6
	FlagSendDF          Flags = 1 << 7
	FlagCanMultiConn    Flags = 1 << 8
	FlagSendResize      Flags = 1 << 9
	FlagSendCache       Flags = 1 << 10
	FlagSendFastZero    Flags = 1 << 11
)

var flagNames = []string{
	"has-flags", "read-only", "flush", "fua", "rotational", "trim",
	"write-zeroes", "df", "multi-conn", "resize", "cache", "fast-zero",
}

// String lists the flags set, by short name, separated by commas; unknown
// bits are shown as hex.
func (f Flags) String() string {
	var names []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint16(rest)))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

func optName(opt uint32) string {
	switch opt {
	case optExportName:
		return "NBD_OPT_EXPORT_NAME"
	case optAbort:
		return "NBD_OPT_ABORT"
	case optStartTLS:
		return "NBD_OPT_STARTTLS"
	case optGo:
		return "NBD_OPT_GO"
	case optStructuredReply:
		return "NBD_OPT_STRUCTURED_REPLY"
	}
	return fmt.Sprintf("option %d", opt)
}

func repName(rep uint32) string {
	switch rep {
	case repAck:
		return "NBD_REP_ACK"
	case repInfo:
		return "NBD_REP_INFO"
	case repErrUnsup:
		return "NBD_REP_ERR_UNSUP"
	case repErrPolicy:
		return "NBD_REP_ERR_POLICY"
	case repErrInvalid:
		return "NBD_REP_ERR_INVALID"
	case repErrPlatform:
		return "NBD_REP_ERR_PLATFORM"
	case repErrTLSReqd:
		return "NBD_REP_ERR_TLS_REQD"
	case repErrUnknown:
		return "NBD_REP_ERR_UNKNOWN"
	case repErrShutdown:
		return "NBD_REP_ERR_SHUTDOWN"
	case repErrBlockSizeReqd:
		return "NBD_REP_ERR_BLOCK_SIZE_REQD"
	case repErrTooBig:
		return "NBD_REP_ERR_TOO_BIG"
	}
	if rep&repErrBit != 0 {
		return fmt.Sprintf("error reply %#x", rep)
	}
	return fmt.Sprintf("reply type %d", rep)
}

func chunkName(typ uint16) string {
	switch typ {
	case chunkNone:
		return "NBD_REPLY_TYPE_NONE"
	case chunkOffsetData:
		return "NBD_REPLY_TYPE_OFFSET_DATA"
	case chunkOffsetHole:
		return "NBD_REPLY_TYPE_OFFSET_HOLE"
	case chunkBlockStatus:
		return "NBD_REPLY_TYPE_BLOCK_STATUS"
	case chunkError:
		return "NBD_REPLY_TYPE_ERROR"
	case chunkErrorOffset:
		return "NBD_REPLY_TYPE_ERROR_OFFSET"
	}
	return fmt.Sprintf("chunk type %#x", typ)
}
