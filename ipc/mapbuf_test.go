package ipc

import (
	"testing"
	"unsafe"
)

func TestMapBuffer(t *testing.T) {
	for _, n := range []int{1, 4096, hugePage, maxCopyLen + 1} {
		b, err := mapBuffer(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n {
			t.Errorf("mapBuffer(%d) gave %d bytes", n, len(b))
		}
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))); p%hugePage != 0 {
			t.Errorf("mapBuffer(%d) starts at %#x, not on a huge-page boundary", n, p)
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("mapBuffer(%d): byte %d is %d, not zero", n, i, b[i])
			}
			b[i] = byte(i)
		}
		if b[n-1] != byte(n-1) {
			t.Errorf("mapBuffer(%d): last byte not written", n)
		}
		unmapBuffer(b)
	}
	for _, n := range []int{0, -1} {
		if _, err := mapBuffer(n); err == nil {
			t.Errorf("mapBuffer(%d) succeeded", n)
		}
	}
}
