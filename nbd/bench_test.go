package nbd

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"vmsh/internal/tooltest"
)

// benchSize is the size of the export the benchmarks read.
const benchSize = 1 << 30

// benchFile writes a file of benchSize bytes with no holes and returns its
// path.
func benchFile(b *testing.B) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.img")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	block := pattern(1<<20, 9)
	for i := 0; i < benchSize; i += len(block) {
		block[0] = byte(i >> 20)
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkRead reads a 1 GiB export served by nbdkit's file plugin over a
// unix socket, the file in the page cache, and reads it with nbdcopy to
// compare (sub-benchmark nbdcopy, same server, same run):
//
//	go test -run '^$' -bench Read -benchtime 5x ./nbd
//
// The client uses four connections, as nbdcopy does (nbdkit allows
// multi-conn). whole: one ReadAt of the whole export (split into 1 MiB
// requests, 16 in flight); seq-4M: ReadAt of 4 MiB at a time, 8
// goroutines taking the next offset in turn, as a copying reader would;
// seq-1M: the same with 1 MiB reads, the size of the worker's
// shared-memory slots.
func BenchmarkRead(b *testing.B) {
	tooltest.Need(b, "nbdkit")
	file := benchFile(b)
	s := startNbdkit(b, true, []string{"-r"}, "file", file)
	uri := s.exportURI("", false)

	b.Run("whole", func(b *testing.B) {
		c := dial(b, uri, Options{})
		waitConns(b, c, defaultConnections)
		buf := make([]byte, benchSize)
		b.SetBytes(benchSize)
		for b.Loop() {
			if n, err := c.ReadAt(buf, 0); n != benchSize || err != nil {
				b.Fatal(n, err)
			}
		}
	})
	for _, size := range []int{4 << 20, 1 << 20} {
		name := map[int]string{4 << 20: "seq-4M", 1 << 20: "seq-1M"}[size]
		b.Run(name, func(b *testing.B) {
			c := dial(b, uri, Options{})
			waitConns(b, c, defaultConnections)
			b.SetBytes(benchSize)
			for b.Loop() {
				readParallel(b, c, size, 8)
			}
		})
	}
	b.Run("nbdcopy", func(b *testing.B) {
		tooltest.Need(b, "nbdcopy")
		b.SetBytes(benchSize)
		for b.Loop() {
			cmd := exec.Command("nbdcopy", uri, "null:")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("nbdcopy: %v\n%s", err, out)
			}
		}
	})
}

// readParallel reads the whole of c in size-byte reads from workers
// goroutines, each taking the next offset.
func readParallel(b *testing.B, c *Conn, size, workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for {
				off := next.Add(int64(size)) - int64(size)
				if off >= c.Size() {
					return
				}
				if _, err := c.ReadAtContext(context.Background(), buf, off); err != nil && err != io.EOF {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
