package ipc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReadAt reads a page-cached 256 MiB file front to back with
// 1 MiB and 8 MiB ReadAt calls: straight from the file, through the worker
// with shared memory (several slot shapes), and through the socket.
func BenchmarkReadAt(b *testing.B) {
	const size = 256 << 20
	name := filepath.Join(b.TempDir(), "disk.img")
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for range size / len(buf) {
		f.Write(buf)
	}
	f.Close()
	// Pull the file into the page cache.
	f, _ = os.Open(name)
	io.Copy(io.Discard, f)
	defer f.Close()

	readAll := func(b *testing.B, r io.ReaderAt, bs int) {
		p := make([]byte, bs)
		b.SetBytes(size)
		for b.Loop() {
			for off := int64(0); off < size; off += int64(bs) {
				if _, err := r.ReadAt(p, off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
		}
	}
	targets := []struct {
		name string
		cfg  *Config
	}{
		{"file", nil},
		{"shm-8x1M", &Config{}},
		{"shm-16x512K", &Config{Slots: 16, SlotSize: 512 << 10}},
		{"shm-4x4M", &Config{Slots: 4, SlotSize: 4 << 20}},
		{"shm-2x1M", &Config{Slots: 2, SlotSize: 1 << 20}},
		{"shm-8x2M", &Config{Slots: 8, SlotSize: 2 << 20}},
		{"shm-8x4M", &Config{Slots: 8, SlotSize: 4 << 20}},
		{"socket", &Config{NoSharedMemory: true}},
	}
	for _, tg := range targets {
		for _, bs := range []int{1 << 20, 8 << 20} {
			b.Run(fmt.Sprintf("%s/%dMiB", tg.name, bs>>20), func(b *testing.B) {
				if tg.cfg == nil {
					readAll(b, f, bs)
					return
				}
				c := startClient(b, *tg.cfg)
				d := openDisk(b, c, name)
				readAll(b, d, bs)
			})
		}
	}
}
