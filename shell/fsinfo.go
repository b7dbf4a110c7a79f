package shell

import (
	"fmt"
	"slices"
	"strings"

	"vmsh/fsread"
)

const fsinfoHelp = "fsinfo describes the filesystem holding each path (the current directory by default):\n" +
	"its volume and mount point, type, label, UUID, block size, size, block and inode counts,\n" +
	"features, and what happened to its journal: \"replayed N transactions, M blocks\" when\n" +
	"vmsh applied a journal that needed recovery (in memory; the image is not written),\n" +
	"\"not replayed (--no-replay)\", \"clean\" when nothing needed replaying, or \"none\"."

func runFsinfo(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	paths := []string{"."}
	if len(ops) > 0 {
		paths = x.expand(ops)
	}
	s := x.Shell
	for i, p := range paths {
		r, err := s.ns.resolve("fsinfo", s.name(p), true)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		mt, _ := s.ns.lookup(r)
		if mt == nil {
			x.Fail(p, errNoFS)
			continue
		}
		fsys, ok := mt.fsys.(*fsread.FS)
		if !ok && mt.vol != nil {
			fsys = mt.vol.fsys
		}
		if fsys == nil {
			x.Fail(p, fmt.Errorf("not an ext2/ext3/ext4 filesystem"))
			continue
		}
		if i > 0 {
			fmt.Fprintln(x.Out)
		}
		where := "/"
		if mt.dir != "." {
			where = "/" + mt.dir
		}
		if mt.vol != nil {
			fmt.Fprintf(x.Out, "Volume:     /dev/%s, mounted at %s\n", mt.vol.Name, s.show(where))
		} else {
			fmt.Fprintf(x.Out, "Mounted at: %s\n", s.show(where))
		}
		info := fsys.Info()
		fmt.Fprintf(x.Out, "Type:       %s\n", info.Type)
		fmt.Fprintf(x.Out, "Label:      %s\n", s.show(info.Label))
		fmt.Fprintf(x.Out, "UUID:       %s\n", info.UUID)
		fmt.Fprintf(x.Out, "Block size: %d\n", info.BlockSize)
		fmt.Fprintf(x.Out, "Size:       %d bytes (%s)\n", info.Size, humanBytes(info.Size))
		fmt.Fprintf(x.Out, "Blocks:     %d, %d free\n", info.Blocks, info.FreeBlocks)
		fmt.Fprintf(x.Out, "Inodes:     %d, %d free\n", info.Inodes, info.FreeInodes)
		fmt.Fprintf(x.Out, "Features:   %s\n", strings.Join(info.Features, " "))
		fmt.Fprintf(x.Out, "Journal:    %s\n", journalState(info, s.FSOptions.NoReplay))
	}
	return nil
}

// journalState says in a few words what vmsh did with the journal.
func journalState(info fsread.Info, noReplay bool) string {
	switch {
	case info.Replayed && info.ReplayFastCommits > 0:
		return fmt.Sprintf("replayed %d transactions, %d blocks, %d fast commits", info.ReplayTransactions, info.ReplayBlocks, info.ReplayFastCommits)
	case info.Replayed:
		return fmt.Sprintf("replayed %d transactions, %d blocks", info.ReplayTransactions, info.ReplayBlocks)
	case slices.Contains(info.Features, "needs_recovery") && noReplay:
		return "not replayed (--no-replay)"
	case slices.Contains(info.Features, "needs_recovery"):
		return "needs recovery, not replayed (see the warnings)"
	case slices.Contains(info.Features, "has_journal"):
		return "clean"
	}
	return "none"
}

// humanBytes formats n with a binary unit, as ls -h does.
func humanBytes(n int64) string {
	if n < 0 {
		return "unknown"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
