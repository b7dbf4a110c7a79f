package fsread

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Names in casefold and encrypted directories.
//
// A directory with the casefold flag (on a filesystem with the casefold
// feature) matches names case-insensitively. The kernel folds names with
// the Unicode 12.1 tables named by s_encoding: canonical decomposition
// (NFD) followed by full case folding. This package compares with Go's
// simple Unicode case folding (strings.EqualFold) and no normalization:
// ASCII and the common letters of other scripts match as the kernel
// matches them, but a precomposed name does not match its decomposed form,
// and full foldings that change the length ("ß" and "ss") do not match.
// A name that is not valid UTF-8 matches only itself, as in the kernel.
// An exact match is always tried first.
//
// In an encrypted directory (the encrypt feature and the encrypt flag on
// the directory), names are stored encrypted. Without the key they are
// shown as the unpadded URL-safe base64 encoding of the stored bytes (not
// the kernel's no-key name form, which also carries the name's hash), so
// that every listed name can be opened again. The contents of encrypted
// files and symbolic links cannot be read: Open reports an error wrapping
// errors.ErrUnsupported that names the file.

// lookup finds name in directory dir, whose entries are l.
func (f *FS) lookup(dir *inode, l *dirList, name string) (uint64, bool) {
	if ino, ok := l.lookup(name); ok {
		return ino, true
	}
	if dir.flags&flagCasefold == 0 || f.sb.incompat&incompatCasefold == 0 || !utf8.ValidString(name) {
		return 0, false
	}
	for _, e := range l.ents {
		if utf8.ValidString(e.name) && strings.EqualFold(e.name, name) {
			return e.ino, true
		}
	}
	return 0, false
}

// entryName returns the name under which a directory entry of dir with
// the stored name b is listed.
func (f *FS) entryName(dir *inode, b []byte) string {
	if dir.flags&flagEncrypt != 0 && f.sb.incompat&incompatEncrypt != 0 && string(b) != "." && string(b) != ".." {
		return base64.RawURLEncoding.EncodeToString(b) // "." and ".." are stored in clear
	}
	return string(b)
}
