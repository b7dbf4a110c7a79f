// Package fsread reads ext2, ext3 and ext4 filesystems from an
// [io.ReaderAt] and presents them as an [io/fs.FS].
//
// [Open] parses the superblock and returns an [*FS] that implements
// [fs.FS], [fs.ReadDirFS], [fs.StatFS] and [fs.ReadLinkFS]. Nothing is ever
// written: the package only issues ReadAt calls. [Probe] reads the
// superblock alone and reports what kind of filesystem it is.
//
// Supported: block sizes from 1 KiB to 64 KiB; 32- and 64-bit group
// descriptors, flex_bg, sparse_super and meta_bg; inodes of 128 bytes and
// larger with extra fields (nanosecond timestamps with the extra epoch bits,
// creation time, 32-bit owners, i_size_high, huge_file block counts);
// extent trees of any depth and direct, indirect, double- and
// triple-indirect block maps; sparse files and uninitialized extents (read
// as zeros); linear and hashed (htree) directories; regular files,
// directories, fast and slow symbolic links, character and block devices
// (old and new device number encodings), FIFOs and sockets.
//
// Journal replay: when needs_recovery is set, [Open] replays the jbd2
// journal (in an inode, mapped by extents or block pointers) in memory, as
// the kernel's recovery does: committed transactions from the log's start,
// round the end of the circular log, with revoke records honoured,
// escaped blocks restored, 32- and 64-bit block numbers, and journal
// checksums v1, v2 and v3 verified (a transaction whose commit block fails
// its checksum ends the replay). The replayed blocks overlay the image for
// every later read, the superblock included; the image is never written,
// and the overlay holds at most one copy of each replayed block.
// [FS.Info] says how many transactions and blocks were applied;
// [Options.NoReplay] shows the on-disk state instead. Not applied, and
// named in [FS.Warnings]: fast commits (the fast_commit area), an external
// journal device, and the orphan inodes the kernel would truncate or
// delete when mounting.
//
// Not supported: inline_data
// files and directories, encrypted files, compressed files and bigalloc
// filesystems, which give errors wrapping [errors.ErrUnsupported];
// case-insensitive lookups in casefold directories (names are matched
// exactly); checksum verification. A filesystem with
// incompatible feature bits this package does not know is refused by Open.
//
// [FS.Xattrs] reads extended attributes from the inode, from the
// attribute block and from ea_inodes, as the kernel lists them; POSIX
// ACLs come in the form getxattr returns, which [DecodeACL] decodes.
//
// Names are arbitrary bytes, as on disk; paths given to the FS methods
// need not be valid UTF-8. Directory entries whose names contain '/' or
// NUL cannot be named by a path and are left out of listings.
// Directories are read in full and kept in a bounded cache, so a lookup
// does not use the htree index; a directory whose entries would take more
// than 128 MiB of memory is reported as an error.
//
// Character and block devices, FIFOs and sockets open as empty files: the
// image holds no data for them. An open file serves small sequential Read
// calls, and small ReadAt calls that continue the previous one, from
// buffers filled with large reads of the image; ReadAt is safe for
// concurrent use.
//
// # Security
//
// Filesystem images are treated as untrusted input. Every count, length
// and offset read from the image is checked before it sizes an allocation,
// a loop or a recursion; extent trees are depth-limited, symbolic links
// are followed at most 40 times, and caches are bounded. Corruption is
// reported as an error naming the inode or block involved, never as a
// panic. The package does not log or print.
package fsread
