package fsread

import (
	"os"
	"testing"
	"time"
)

// bigJournalImage builds a 1 GiB ext4 image (sparse) whose 128 MiB journal
// is full of committed transactions: 200 blocks each, with 64-bit tags and
// v3 checksums, wrapping round the log, every logged block going to a
// distinct free block of group 6. It returns the image and the number of
// transactions.
func bigJournalImage(tb testing.TB) (string, int) {
	tb.Helper()
	needTools(tb, "mke2fs", "debugfs")
	img := mkfs(tb, "", "1G", "-t", "ext4", "-b", "4096", "-O", "64bit,^metadata_csum", "-J", "size=128",
		"-E", "lazy_itable_init=1")
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	f, err := OpenOptions(fh, st.Size(), Options{NoReplay: true})
	if err != nil {
		tb.Fatal(err)
	}
	in, err := f.inode(8)
	if err != nil {
		tb.Fatal(err)
	}
	total := int(in.size / f.bs)
	const bs = 4096
	b := newJBuilder(bs, total, 0, jIncompatRevoke|jIncompat64Bit|jIncompatCsumV3)
	start := uint32(total / 3)
	b.pos = start
	const perTx = 200
	target := uint64(6*32768 + 1000)
	seq := uint32(1000)
	txs := 0
	data := make([]byte, bs)
	for used := 0; used+perTx+2 < total-1; used += perTx + 2 {
		var ws []twrite
		for i := 0; i < perTx; i++ {
			for k := range data[:64] {
				data[k] = byte(int(seq) + i + k)
			}
			ws = append(ws, twrite{target, append([]byte(nil), data...)})
			target++
		}
		b.tx(seq, ws, nil, uint64(seq), false)
		seq++
		txs++
	}
	b.super(start, 1000)
	src := &fsLog{f: f, in: in, total: uint32(total)}
	for i := 0; i < total; {
		r, err := src.phys(uint32(i))
		if err != nil {
			tb.Fatal(err)
		}
		for k := 0; k < int(r.n) && i < total; k++ {
			if _, err := fh.WriteAt(b.blocks[i], int64(r.pblk+uint64(k))*bs); err != nil {
				tb.Fatal(err)
			}
			i++
		}
	}
	if err := fh.Close(); err != nil {
		tb.Fatal(err)
	}
	runTool(tb, "debugfs", "-w", "-R", "feature needs_recovery", img)
	return img, txs
}

// BenchmarkJournalReplay opens a filesystem whose 128 MiB journal is full
// of committed transactions, replaying all of them.
func BenchmarkJournalReplay(b *testing.B) {
	img, txs := bigJournalImage(b)
	fh, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	b.SetBytes(128 << 20)
	b.ResetTimer()
	for b.Loop() {
		f, err := Open(fh, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		if i := f.Info(); !i.Replayed || i.ReplayTransactions != txs {
			b.Fatalf("replayed %v, %d transactions, want %d; warnings %q", i.Replayed, i.ReplayTransactions, txs, f.Warnings())
		}
	}
}

// TestJournalReplayLarge replays a full 128 MiB journal once and checks
// the result; how long it takes is BenchmarkJournalReplay's business.
func TestJournalReplayLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1 GiB sparse image")
	}
	img, txs := bigJournalImage(t)
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	Open(fh, st.Size()) // warm the page cache, as the benchmark does
	start := time.Now()
	f, err := Open(fh, st.Size())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	i := f.Info()
	if !i.Replayed || i.ReplayTransactions != txs || i.ReplayBlocks != txs*200 {
		t.Fatalf("replayed %v, %d transactions, %d blocks; want %d, %d; warnings %q", i.Replayed, i.ReplayTransactions, i.ReplayBlocks, txs, txs*200, f.Warnings())
	}
	p := make([]byte, 4096)
	blk := int64(6*32768 + 1000 + 5)
	if _, err := f.r.ReadAt(p, blk*4096); err != nil || p[0] != (1000+5)%256 {
		t.Errorf("replayed block %d starts with %d (%v)", blk, p[0], err)
	}
	t.Logf("replayed %d transactions, %d blocks (128 MiB journal) in %v", txs, i.ReplayBlocks, took)
}
