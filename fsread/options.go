package fsread

import "io"

// Options change how [OpenOptions] reads a filesystem. The zero value is
// what [Open] uses.
type Options struct {
	// NoReplay shows the filesystem as it is on disk, without applying
	// the journal.
	NoReplay bool
	// Strict turns checksum mismatches, which are otherwise warnings
	// (see [FS.Warnings]), into errors wrapping [ErrChecksum].
	Strict bool
	// ExternalJournal, if not nil, is the external journal device
	// (mke2fs -O journal_dev) of a filesystem whose journal is not in an
	// inode; it holds ExternalJournalSize bytes. The journal is replayed
	// from it when its UUID is the one the filesystem names. Without it
	// such a journal is not replayed, and a warning names its UUID.
	ExternalJournal     io.ReaderAt
	ExternalJournalSize int64
}

// Open reads the superblock and prepares the filesystem in r, which holds
// size bytes, with the default options. It fails if r holds no ext2/3/4
// filesystem, if the filesystem uses incompatible features unknown to this
// package, or if the superblock is inconsistent.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenOptions(r, size, Options{})
}
