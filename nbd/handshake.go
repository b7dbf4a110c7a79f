package nbd

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// handshaker runs the negotiation phase on one connection.
type handshaker struct {
	nc        net.Conn // the socket, or the TLS connection over it once started
	u         URI
	tlsConfig *tls.Config // nil unless the URI asks for TLS
	noZeroes  bool        // NBD_FLAG_C_NO_ZEROES was sent
	info      Info
}

// errGoUnsupported is the server answering NBD_OPT_GO with
// NBD_REP_ERR_UNSUP: the client falls back to NBD_OPT_EXPORT_NAME.
var errGoUnsupported = errors.New("NBD_OPT_GO not supported")

// run negotiates the export and leaves the connection in the transmission
// phase. It fills h.info.
func (h *handshaker) run(ctx context.Context) error {
	var hdr [16]byte
	if err := h.read(hdr[:], "the server's greeting"); err != nil {
		return err
	}
	if m := binary.BigEndian.Uint64(hdr[0:]); m != magicNBD {
		return protocolError("not an NBD server: greeting starts %s, want \"NBDMAGIC\"", quoteBytes(hdr[:8]))
	}
	switch m := binary.BigEndian.Uint64(hdr[8:]); m {
	case magicOldstyle:
		return h.oldstyle()
	case magicOpt:
	default:
		return protocolError("greeting magic %#x is neither newstyle (\"IHAVEOPT\") nor oldstyle", m)
	}

	var b [2]byte
	if err := h.read(b[:], "handshake flags"); err != nil {
		return err
	}
	hflags := binary.BigEndian.Uint16(b[:])
	var cflags uint32
	fixed := hflags&flagFixedNewstyle != 0
	if fixed {
		cflags |= clientFixedNewstyle
	}
	if hflags&flagNoZeroes != 0 {
		cflags |= clientNoZeroes
		h.noZeroes = true
	}
	if err := h.write(binary.BigEndian.AppendUint32(nil, cflags), "client flags"); err != nil {
		return err
	}
	if !fixed {
		// The first newstyle handshake knows one option and no errors.
		h.info.Handshake = "newstyle"
		if h.u.TLS {
			return errors.New("the server speaks only the original newstyle handshake, not fixed newstyle, so it cannot do TLS")
		}
		return h.exportName()
	}
	h.info.Handshake = "fixed newstyle"
	err := h.options(ctx)
	if err != nil && !errors.Is(err, ErrDisconnected) {
		// A soft disconnect, as the protocol asks; the answer does not matter.
		h.nc.SetDeadline(time.Now().Add(time.Second))
		h.write(optionRequest(optAbort, nil), "NBD_OPT_ABORT")
	}
	return err
}

// options runs fixed newstyle option haggling.
func (h *handshaker) options(ctx context.Context) error {
	if h.u.TLS {
		if err := h.startTLS(ctx); err != nil {
			return err
		}
	}

	typ, data, err := h.option(optStructuredReply, nil)
	if err != nil {
		if h.info.TLS && errors.Is(err, ErrDisconnected) && ctx.Err() == nil {
			// With TLS 1.3 the server checks the client's certificate
			// after the client considers the handshake done.
			return disconnected(err, "the server hung up after the TLS handshake (it may want a client certificate, or not accept the one given)")
		}
		return err
	}
	switch {
	case typ == repAck:
		h.info.StructuredReplies = true
	case typ == repErrTLSReqd:
		return h.refused(optStructuredReply, typ, data)
	case typ == repErrShutdown:
		return h.refused(optStructuredReply, typ, data)
	case typ&repErrBit != 0:
		// Unsupported or refused: simple replies it is.
	default:
		return protocolError("%s in reply to NBD_OPT_STRUCTURED_REPLY", repName(typ))
	}

	err = h.goOption()
	if errors.Is(err, errGoUnsupported) {
		return h.exportName()
	}
	return err
}

// startTLS upgrades the connection with NBD_OPT_STARTTLS.
func (h *handshaker) startTLS(ctx context.Context) error {
	typ, data, err := h.option(optStartTLS, nil)
	if err != nil {
		return err
	}
	if typ != repAck {
		if typ&repErrBit == 0 {
			return protocolError("%s in reply to NBD_OPT_STARTTLS", repName(typ))
		}
		msg := "the server does not offer TLS"
		if typ != repErrUnsup {
			msg = "the server refused TLS"
		}
		return fmt.Errorf("%s (%s%s), and %s:// requires it", msg, repName(typ), serverMsg(data), h.u.Scheme())
	}
	tc := tls.Client(h.nc, h.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return disconnected(err, "TLS handshake")
		}
		return fmt.Errorf("TLS handshake: %w", err)
	}
	h.nc = tc
	h.info.TLS = true
	h.info.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
	return nil
}

// goOption sends NBD_OPT_GO asking for the export's size and flags and its
// block size constraints, and reads the information that comes back.
func (h *handshaker) goOption() error {
	name := h.u.Export
	data := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	data = append(data, name...)
	data = binary.BigEndian.AppendUint16(data, 2)
	data = binary.BigEndian.AppendUint16(data, infoExport)
	data = binary.BigEndian.AppendUint16(data, infoBlockSize)
	if err := h.write(optionRequest(optGo, data), "NBD_OPT_GO"); err != nil {
		return err
	}
	gotExport := false
	for {
		typ, data, err := h.reply(optGo)
		if err != nil {
			return err
		}
		switch {
		case typ == repInfo:
			if len(data) < 2 {
				return protocolError("NBD_REP_INFO of %d bytes", len(data))
			}
			if err := h.infoReply(binary.BigEndian.Uint16(data), data[2:]); err != nil {
				return err
			}
			if binary.BigEndian.Uint16(data) == infoExport {
				gotExport = true
			}
		case typ == repAck:
			if !gotExport {
				return protocolError("NBD_OPT_GO succeeded without NBD_INFO_EXPORT")
			}
			return nil
		case typ == repErrUnsup:
			return errGoUnsupported
		case typ&repErrBit != 0:
			return h.refused(optGo, typ, data)
		default:
			return protocolError("%s in reply to NBD_OPT_GO", repName(typ))
		}
	}
}

// infoReply records one NBD_REP_INFO item; unknown ones are ignored.
func (h *handshaker) infoReply(it uint16, b []byte) error {
	switch it {
	case infoExport:
		if len(b) != 10 {
			return protocolError("NBD_INFO_EXPORT of %d bytes, want 12", len(b)+2)
		}
		return h.setExport(binary.BigEndian.Uint64(b), binary.BigEndian.Uint16(b[8:]))
	case infoBlockSize:
		if len(b) != 12 {
			return protocolError("NBD_INFO_BLOCK_SIZE of %d bytes, want 14", len(b)+2)
		}
		minb, pref, maxb := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
		if minb == 0 || minb&(minb-1) != 0 || minb > maxMinBlock {
			return protocolError("minimum block size %d is not a power of two up to 64 KiB", minb)
		}
		if maxb < minb || maxb%minb != 0 && maxb != math.MaxUint32 {
			return protocolError("maximum block size %d does not fit minimum block size %d", maxb, minb)
		}
		h.info.BlockSizes = true
		h.info.MinBlock, h.info.PreferredBlock, h.info.MaxBlock = minb, pref, maxb
	case infoName:
		h.info.ServerExport = cleanMsg(b)
	case infoDescription:
		h.info.Description = cleanMsg(b)
	}
	return nil
}

func (h *handshaker) setExport(size uint64, flags uint16) error {
	if size > math.MaxInt64 {
		return protocolError("export size %d is too large", size)
	}
	h.info.Size = int64(size)
	h.info.Flags = Flags(flags)
	return nil
}

// exportName ends negotiation the old way, with NBD_OPT_EXPORT_NAME, which
// a server answers with the export's size and flags, or by hanging up.
func (h *handshaker) exportName() error {
	if err := h.write(optionRequest(optExportName, []byte(h.u.Export)), "NBD_OPT_EXPORT_NAME"); err != nil {
		return err
	}
	n := 10
	if !h.noZeroes {
		n += 124
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(h.nc, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return disconnected(err, "the server hung up after NBD_OPT_EXPORT_NAME %q (no such export, or it requires TLS)", h.u.Export)
		}
		return disconnected(err, "reading the answer to NBD_OPT_EXPORT_NAME")
	}
	return h.setExport(binary.BigEndian.Uint64(b), binary.BigEndian.Uint16(b[8:]))
}

// oldstyle reads the rest of an oldstyle greeting: no options, no export
// names, no TLS.
func (h *handshaker) oldstyle() error {
	h.info.Handshake = "oldstyle"
	if h.u.TLS {
		return errors.New("the server uses the oldstyle handshake, which cannot do TLS")
	}
	if h.u.Export != "" {
		return fmt.Errorf("the server uses the oldstyle handshake, which has no export names (asked for %q)", h.u.Export)
	}
	b := make([]byte, 8+4+124)
	if err := h.read(b, "the oldstyle greeting"); err != nil {
		return err
	}
	return h.setExport(binary.BigEndian.Uint64(b), uint16(binary.BigEndian.Uint32(b[8:])))
}

// option sends opt and reads its single reply.
func (h *handshaker) option(opt uint32, data []byte) (uint32, []byte, error) {
	if err := h.write(optionRequest(opt, data), optName(opt)); err != nil {
		return 0, nil, err
	}
	return h.reply(opt)
}

// reply reads one option reply to opt.
func (h *handshaker) reply(opt uint32) (uint32, []byte, error) {
	var hdr [20]byte
	if err := h.read(hdr[:], "the reply to "+optName(opt)); err != nil {
		return 0, nil, err
	}
	if m := binary.BigEndian.Uint64(hdr[0:]); m != magicOptReply {
		return 0, nil, protocolError("option reply magic %#x, want %#x", m, magicOptReply)
	}
	if o := binary.BigEndian.Uint32(hdr[8:]); o != opt {
		return 0, nil, protocolError("reply to %s while waiting for one to %s", optName(o), optName(opt))
	}
	typ := binary.BigEndian.Uint32(hdr[12:])
	n := binary.BigEndian.Uint32(hdr[16:])
	if n > maxOptReply {
		return 0, nil, protocolError("%s of %d bytes to %s (limit %d)", repName(typ), n, optName(opt), maxOptReply)
	}
	data := make([]byte, n)
	if err := h.read(data, "the reply to "+optName(opt)); err != nil {
		return 0, nil, err
	}
	return typ, data, nil
}

// refused turns an error reply into an error saying what it means.
func (h *handshaker) refused(opt, typ uint32, data []byte) error {
	msg := serverMsg(data)
	switch typ {
	case repErrUnknown:
		return fmt.Errorf("the server has no export %q (%s%s)", h.u.Export, repName(typ), msg)
	case repErrTLSReqd:
		if h.info.TLS {
			return protocolError("%s after TLS was started", repName(typ))
		}
		return fmt.Errorf("the server requires TLS: use %s:// (%s%s)", URI{TLS: true, Unix: h.u.Unix}.Scheme(), repName(typ), msg)
	case repErrShutdown:
		return disconnected(nil, "the server is shutting down (%s%s)", repName(typ), msg)
	case repErrPolicy:
		return fmt.Errorf("the server's policy refuses %s for export %q (%s%s)", optName(opt), h.u.Export, repName(typ), msg)
	}
	return fmt.Errorf("the server refused %s (%s%s)", optName(opt), repName(typ), msg)
}

func (h *handshaker) read(p []byte, what string) error {
	if _, err := io.ReadFull(h.nc, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return disconnected(err, "handshake: reading %s", what)
	}
	return nil
}

func (h *handshaker) write(p []byte, what string) error {
	if _, err := h.nc.Write(p); err != nil {
		return disconnected(err, "handshake: sending %s", what)
	}
	return nil
}

// optionRequest encodes an option request.
func optionRequest(opt uint32, data []byte) []byte {
	b := make([]byte, 0, 16+len(data))
	b = binary.BigEndian.AppendUint64(b, magicOpt)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// serverMsg formats an error reply's message for an error: ": message", or
// "" if there is none.
func serverMsg(b []byte) string {
	if s := cleanMsg(b); s != "" {
		return ": " + s
	}
	return ""
}

// cleanMsg makes a string the server sent safe to print: control
// characters and invalid UTF-8 become U+FFFD, and it is cut to 512 bytes.
func cleanMsg(b []byte) string {
	const limit = 512
	var s strings.Builder
	for len(b) > 0 && s.Len() < limit {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			r = utf8.RuneError
		}
		s.WriteRune(r)
	}
	if len(b) > 0 {
		s.WriteString("...")
	}
	return strings.TrimSpace(s.String())
}

// quoteBytes shows bytes that should have been text.
func quoteBytes(b []byte) string {
	return fmt.Sprintf("%q", b)
}
