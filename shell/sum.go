package shell

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"io"
	"strings"
)

// sumHashes are the checksum commands and their hashes.
var sumHashes = map[string]func() hash.Hash{
	"md5sum":    md5.New,
	"sha1sum":   sha1.New,
	"sha256sum": sha256.New,
	"sha512sum": sha512.New,
}

// runSum prints a checksum line for each file in coreutils' format:
// "HASH  name". As coreutils does, a name holding a backslash or a newline
// is escaped and its line starts with a backslash.
func runSum(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing file operand")
	}
	newHash := sumHashes[x.cmd().Name]
	buf := make([]byte, bufSize)
	for _, p := range x.expand(ops) {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		f, _, err := x.openRegular(p)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		h := newHash()
		_, err = io.CopyBuffer(onlyWriter{h}, ctxReader{x.Ctx, f}, buf)
		f.Close()
		if err != nil {
			if x.Ctx.Err() != nil {
				return x.Ctx.Err()
			}
			x.Fail(p, err)
			continue
		}
		name, prefix := p, ""
		if strings.ContainsAny(p, "\\\n") {
			name = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(p)
			prefix = `\`
		}
		io.WriteString(x.Out, prefix+hex.EncodeToString(h.Sum(nil))+"  "+name+"\n")
	}
	return nil
}

const sumHelp = `%s prints the %s checksum of each file and its name, in the format
coreutils prints and "%s -c" checks: the hash in hex, two spaces, the name.
A name holding a backslash or a newline is escaped and its line starts with
a backslash, as coreutils does.`
