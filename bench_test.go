package main

import (
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"vmsh/fsread"
	"vmsh/ipc"
)

// BenchmarkCat reads a 256 MiB file out of an ext4 image the way the cat
// command does (1 MiB buffer, sequential Read calls), once with fsread
// straight over the image file and once over the worker process, so the
// cost of the process boundary shows as the ratio of the two.
func BenchmarkCat(b *testing.B) {
	if _, err := exec.LookPath("mke2fs"); err != nil {
		b.Skip("mke2fs is not installed; it builds the benchmark image")
	}
	const size = 256 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	img := filepath.Join(dir, "ext4.img")
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-d", src, img, "300M").CombinedOutput(); err != nil {
		b.Fatalf("mke2fs: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	io.Copy(io.Discard, f) // warm the page cache

	client, err := ipc.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	disk, err := client.Open(img)
	if err != nil {
		b.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		r    io.ReaderAt
	}{{"file", f}, {"worker", disk}} {
		b.Run(tc.name, func(b *testing.B) {
			fsys, err := fsread.Open(tc.r, fi.Size())
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			b.SetBytes(size)
			for b.Loop() {
				file, err := fsys.Open("big")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, file, buf)
				file.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}
