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
// [Options.NoReplay] shows the on-disk state instead. A journal on an
// external journal device (mke2fs -O journal_dev) is replayed from that
// device when [Options.ExternalJournal] gives it; [ProbeJournalDev]
// recognises such a device and [Info.JournalUUID] names the one a
// filesystem needs.
//
// Fast commits (the fast_commit area after the log) are scanned as the
// kernel scans them, tags and checksums checked, and the valid ones are
// applied over the replayed blocks as the kernel's fast-commit replay does:
// INODE (the logged inode over the on-disk one, keeping the on-disk i_block
// of an extent-mapped inode and taking a logged inline one; i_blocks
// recomputed from the extent tree, of any depth; checksum recomputed),
// ADD_RANGE and DEL_RANGE (in an extent tree held in the inode: the mapping
// is the kernel's, new extents joining contiguous neighbours), CREAT_DENTRY
// and LINK (the name added in the first block of a linear directory with
// room, splitting an entry's slack; link counts set as the kernel sets
// them) and UNLINK (the entry's record joined to the previous one),
// directory block checksums included. [Info.ReplayFastCommits] counts them.
// They are applied all or none: when a tag needs what is not done here
// exactly (a range in an extent tree deeper than the inode, a new tree or
// directory block, an htree, inline, encrypted or casefolded directory, a
// directory created, an inode in an uninitialized group), none is, and a
// warning names the tag and the reason. Unlike the kernel, which sets the
// times of a directory linked into or unlinked from, and the change time of
// an inode linked or unlinked, to the time of its replay (unless a later
// INODE tag logs them), vmsh, which cannot know that time, keeps them as
// they were; block and inode bitmaps and free counts, which vmsh does not
// read, are not updated. Not applied, and named in [FS.Warnings]: an
// external journal device not given, and the orphan inodes the kernel would
// truncate or delete when mounting.
//
// Features: inline_data (files, symbolic links and directories kept in
// i_block and the system.data attribute); bigalloc (clusters of blocks;
// extents still count blocks); casefold directories, looked up
// case-insensitively with simple Unicode case folding and no
// normalization (unlike the kernel, a precomposed letter does not match
// its decomposed form, nor "ß" "ss"); encrypted directories, whose names are listed as unpadded
// URL-safe base64 of the stored bytes, while the contents of encrypted
// files and symbolic links give an error wrapping [errors.ErrUnsupported]
// that names the file; large_dir (3-level htree), meta_bg, huge_file,
// extra_isize, dir_nlink, sparse_super2, orphan_file, verity (contents
// read as usual; [Info.Features] says verity), mmp (not checked: the
// filesystem is only read; a warning says so), filesystems made by the
// Hurd (no file types in directory entries, no i_file_acl_high).
// Compressed files are refused with [errors.ErrUnsupported]. A filesystem
// with incompatible feature bits this package does not know is refused by
// Open.
//
// Checksums: with metadata_csum (seeded by the UUID, or by s_checksum_seed
// with metadata_csum_seed), the superblock, group descriptors, inodes,
// extent tree blocks, directory leaf blocks, htree index nodes and
// extended attribute blocks are verified as they are read; with uninit_bg, the crc16 of the group
// descriptors. Bitmaps are not read, so not verified. A mismatch is a
// warning in [FS.Warnings] naming the structure and its block or inode
// (each once; at most 100 are kept) and the data is still used; with
// [Options.Strict] it is a [*ChecksumError] wrapping [ErrChecksum].
//
// Directory cycles: the FS methods take finite paths, so a directory
// hard-linked into its own subtree makes no method loop; a path through
// the cycle names the ancestor again. Code that walks the tree (fs.WalkDir
// would not stop) must keep the inode numbers ([Stat].Ino) of the
// directories on its path, as vmsh's ls -R and get do. An extent
// tree that points back to itself fails the depth check, and a file larger
// than its block map can address (2^32 blocks with extents) cannot be
// opened.
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
// concurrent use. A regular file is a [RegionFile]: its Region method
// tells where its data and its holes lie (unmapped blocks and unwritten
// extents), as lseek's SEEK_DATA and SEEK_HOLE do, so a copy can skip
// the holes without reading them.
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
