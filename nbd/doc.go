// Package nbd is a read-only client for the Network Block Device protocol,
// as spoken by qemu-nbd, nbdkit, nbd-server and the many backup appliances
// that export disks over NBD.
//
// Dial takes an NBD URI (nbd://host[:port][/export], nbds://...,
// nbd+unix:///export?socket=PATH, nbds+unix://...) and returns a *Conn, an
// io.ReaderAt over the export:
//
//	c, err := nbd.Dial(ctx, "nbd+unix:///disk?socket=/run/nbd.sock", nbd.Options{})
//	...
//	defer c.Close()
//	n, err := c.ReadAtContext(ctx, buf, off)
//
// # Protocol
//
// The handshake is fixed newstyle: NBD_OPT_STARTTLS first for nbds URIs
// (crypto/tls, with the CA, client certificate and server name from
// Options), then NBD_OPT_STRUCTURED_REPLY, then NBD_OPT_GO asking for
// NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE; a server that does not know
// NBD_OPT_GO gets NBD_OPT_EXPORT_NAME. Servers that speak only the original
// newstyle handshake, or oldstyle, are read too (without TLS or, for
// oldstyle, export names). NBD_FLAG_C_NO_ZEROES is sent when the server
// offers it.
//
// In the transmission phase the client sends NBD_CMD_READ and, on Close,
// NBD_CMD_DISC; nothing else, so nothing is ever written. Many reads are in
// flight at once; on each connection one goroutine reads the replies and
// matches them to their requests by cookie, receiving the data straight
// into the callers' buffers. When the server says several connections
// see the same data (NBD_FLAG_CAN_MULTI_CONN), the Conn opens more in the
// background (four in all, by default) and spreads requests over them, as
// nbdcopy does; a failure of any of them fails the Conn. Reads honour the server's block size
// constraints: split at the maximum block size (and at 1 MiB whatever the
// server says, up to 16 such requests of one read in flight), widened to the minimum block size through a bounce buffer
// when unaligned. Structured replies may carry data, holes (read as
// zeroes) and errors in any order.
//
// # Errors
//
// A server's error for a read is an *Error with the NBD error name (EIO,
// EINVAL, ENOSPC, ...) and the offset; the connection stays usable. An
// error wrapping ErrDisconnected means the connection is gone: the server
// hung up, the network failed, or the server broke the protocol (then the
// error wraps ErrProtocol too). A caller that wants to carry on dials
// again.
//
// # Security
//
// Everything the server sends is untrusted. Every length is checked before
// it sizes an allocation or a read: an option reply is at most 64 KiB, an
// error chunk a few KiB, and data goes only into the buffer of the request
// it answers and only within the range asked for; chunks that fall outside
// it, overlap, answer no request in flight, or leave a successful reply
// short end the connection with an error saying what was wrong. Strings
// from the server are cleaned of control characters before they appear in
// an error. For nbds URIs the server's certificate is verified unless
// Options.TLSInsecure says otherwise, and a server that refuses TLS is
// refused in turn.
package nbd
