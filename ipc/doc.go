// Package ipc connects the shell to the worker process that holds the disk
// transports.
//
// The shell calls Start, which re-executes the running binary with the
// hidden argument WorkerArg and hands it one end of a socketpair as fd 3 (no
// socket file exists, so nobody else can connect). The worker's main calls
// ServeWorker with an Opener; this package holds no parser or transport
// code. Client.Open returns a *Disk, an io.ReaderAt that the parsers use
// as if it were a file.
//
// # Frames
//
// Both directions carry length-prefixed binary frames. The 24-byte header,
// little-endian:
//
//	uint32 magic "VMSH" | uint8 layout version (1) | uint8 type | uint16 flags (0)
//	uint64 request id   | uint32 body length       | uint32 reserved (0)
//
// A reply has the request's type with bit 0x80 set and echoes its id, so
// many requests are in flight at once and replies may come in any order.
// Every reply body starts with an error block (uint16 code, uint32 errno,
// uint16 message length, message); the code maps io.EOF,
// io.ErrUnexpectedEOF, syscall.Errno, fs.ErrNotExist and friends, so
// errors.Is works across the process boundary, and io.EOF comes back as
// io.EOF itself. Strings are a uint16 length and bytes.
//
// # Messages
//
//   - hello (both ways, first): protocol version, capability bits, the
//     shared-memory shape. A version mismatch is refused with ErrVersion.
//   - open: spec → disk id, size, display name (no credentials).
//   - list: → id, size, name of every open disk.
//   - read: disk id, slot, offset, length → count, then the data if no slot.
//   - status: → per disk: id, name, size, bytes and requests served, errors,
//     last error and its time, state, then (appended later) image format,
//     connection id and reconnect count. Each record is length-prefixed,
//     so later versions append fields and older readers skip them; a
//     record that ends early leaves the later fields at their defaults.
//   - close: disk id.
//   - stream open: no body, the shell's output file attached (SCM_RIGHTS)
//     → stream id. copy: disk id, stream id, sequence number, offset,
//     length → bytes written; the worker reads the range and writes it to
//     the stream's file in the order of the sequence numbers, and after
//     a failure writes nothing more to it. stream close: stream id; the
//     reply comes once no copy writes to the file. (See stream.go.)
//
// # Limits
//
// Every length is checked before it sizes an allocation: the worker
// accepts request frames up to 8 KiB, the shell reply frames up to
// MaxInline plus 4 KiB; a frame announcing more is refused and the
// connection closed. Specs are at most 4096 bytes, names 256, error
// messages 1024, open disks per worker 256, shared memory 64 slots of at
// most 8 MiB. The shell keeps at most 256 requests waiting for replies;
// the worker serves at most 512 requests of a connection at once, runs at
// most 16 reads of one disk at once, and holds at most 64 inline read
// buffers. A copy is at most 4 MiB; a worker holds at most 8 streams,
// a copy may run at most 8 ahead of its stream's next write, and the
// worker queues at most 8 received file descriptors.
//
// # The worker
//
// The worker serves every request in a goroutine of its own, and writes
// each reply frame whole under a lock, so replies of different requests
// never interleave. A read that hangs (a network disk reconnecting) holds
// up neither reads of other disks, nor up to 15 more of its own disk, nor
// open, list, status or close. A Backend may tell more about itself
// through optional methods, which status passes on (see Backend):
//
//	Name() string, Format() string, ConnID() int, State() string,
//	Reconnects() int, LastError() (error, time.Time)
//
// # Shared memory
//
// At hello the shell passes a sealed memfd (SCM_RIGHTS) divided into slots,
// 8 of 1 MiB by default. A read names a free slot; the worker reads straight
// into it and answers with the count; the shell copies the data into the
// caller's buffer and frees the slot. Without memfd (capability not agreed)
// the data travels in the reply frame and lands directly in the caller's
// buffer. A read that finds no free slot waits up to 100 ms for one, and
// then, or at once while some slot is held by an abandoned request (see
// below), goes through the socket instead: reads of a disk that hangs must
// not hold up the others. A large ReadAt is split into slot-sized requests kept in flight
// in parallel; reads under 256 KiB go through a block cache of aligned
// 64 KiB chunks (LRU, 64 MiB per client by default, concurrent misses on a
// chunk fetched once).
//
// Sequential big reads are read ahead: when a ReadAt of at least 256 KiB
// starts where the previous one of the disk ended (or up to 4 MiB after),
// the disk keeps slot-sized requests in flight ahead of the reader, the
// window growing to 8 MiB, and the next ReadAt copies out of their slots
// while the worker fills the following ones. Up to four such streams are
// tracked per client; prefetches leave at least a quarter of the slots
// (and at least one) to other reads, never read past the end of the disk,
// and are dropped when their stream is abandoned or the worker dies. A
// prefetch that fails is not reported: the read that needs its range reads
// it again and gets the disk's own answer. Over the socket there is no
// read-ahead.
//
// # Timeouts and interruption
//
// Each request waits for its reply at most Config.Timeout (30 s by
// default), counted from when it is made, a wait for a free slot
// included; then it fails with an error wrapping ErrTimeout and naming the
// read, for example
//
//	ipc: read of disk.qcow2 at offset 0x10000 (64 KiB): no answer from the worker in 30s
//
// Client.Interrupt fails every call waiting at that moment with
// ErrInterrupted (the shell calls it on Ctrl-C), and Disk.ReadAtContext
// stops when its context is done. None of these touches the worker or the
// connection: the worker finishes the request, which was abandoned. The
// reply of an abandoned request is read and dropped; inline data never
// lands in the caller's buffer after its call returned, and a slot goes
// back to the free list only when the worker's reply for it has come (or
// the worker has been reaped), since until then the worker may still write
// into it. A reply that is already being read when the wait ends is kept.
//
// A block cache fetch serves every reader of its chunk and is bounded by
// the timeout alone: a reader that is interrupted leaves it running, and
// the chunk is cached when it comes. A fetch that fails is not cached: its
// waiters get the error and the next read fetches again. A read-ahead
// stream whose reader is stopped is dropped, its prefetches with it.
//
// # Restarts
//
// If the worker dies, the Client reaps it, starts a fresh one, says hello,
// reopens every disk by its spec and retries the reads that were in flight,
// once; Disk values stay valid and OnRestart reports the death. If three
// fresh workers in a row fail, the Client gives up with an error.
//
// # Security
//
// The worker treats every frame as untrusted: lengths, counts, disk ids,
// slot numbers and offsets are validated before use, and a malformed frame
// ends the connection with an error rather than a panic or an unbounded
// allocation. The shell validates replies the same way; it seals the memfd
// so the worker cannot shrink it under the shell's mapping.
package ipc
