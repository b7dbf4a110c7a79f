package qcow2

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// compression is the header's compression_type.
type compression uint8

const (
	compressZlib compression = 0 // raw deflate, as qemu calls zlib
	compressZstd compression = 1
)

func (c compression) String() string {
	switch c {
	case compressZlib:
		return "zlib"
	case compressZstd:
		return "zstd"
	}
	return "unknown"
}

// Decoders are kept for reuse; each holds the reader it decodes from so
// that a decompression allocates nothing once the pools are warm.
type inflater struct {
	src bytes.Reader
	r   io.ReadCloser // flate reader, a flate.Resetter
}

type zstdDecoder struct {
	src bytes.Reader
	d   *zstd.Decoder
}

var (
	inflaters     sync.Pool // of *inflater
	zstdDecoders  sync.Pool // of *zstdDecoder
	compressedBuf sync.Pool // of *[]byte, compressed input
)

// zstdMaxWindow bounds the memory a zstd frame may make the decoder use;
// qemu's frames hold one cluster, at most 2 MiB.
const zstdMaxWindow = 8 << 20

// decompress decodes src, compressed with c, into dst, which must be
// filled exactly: a compressed cluster always holds a whole cluster. Bytes
// of src after the compressed stream are ignored (the descriptor counts
// whole sectors, and the next cluster's data may share the last one).
func decompress(c compression, dst, src []byte) error {
	switch c {
	case compressZlib:
		z, _ := inflaters.Get().(*inflater)
		if z == nil {
			z = &inflater{}
			z.src.Reset(src)
			z.r = flate.NewReader(&z.src)
		} else {
			z.src.Reset(src)
			if err := z.r.(flate.Resetter).Reset(&z.src, nil); err != nil {
				return err
			}
		}
		_, err := io.ReadFull(z.r, dst)
		z.src.Reset(nil)
		inflaters.Put(z)
		return err
	case compressZstd:
		z, _ := zstdDecoders.Get().(*zstdDecoder)
		if z == nil {
			d, err := zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(zstdMaxWindow),
				zstd.WithDecoderMaxMemory(zstdMaxWindow))
			if err != nil {
				return err
			}
			z = &zstdDecoder{d: d}
		}
		z.src.Reset(src)
		err := z.d.Reset(&z.src)
		if err == nil {
			_, err = io.ReadFull(z.d, dst)
		}
		z.d.Reset(nil)
		z.src.Reset(nil)
		zstdDecoders.Put(z)
		return err
	}
	return errors.New("unknown compression type")
}

// getBuf returns a buffer of n bytes from the pool of compressed input
// buffers; putBuf gives it back.
func getBuf(n int) *[]byte {
	if b, _ := compressedBuf.Get().(*[]byte); b != nil && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n)
	return &b
}

func putBuf(b *[]byte) { compressedBuf.Put(b) }
