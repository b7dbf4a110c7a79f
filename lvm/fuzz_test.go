package lvm

import (
	"bytes"
	"testing"
)

func FuzzLabel(f *testing.F) {
	img := seedImage(f)
	f.Add(img[:8192])
	f.Add(img[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		pv, err := ReadLabel(bytes.NewReader(b), int64(len(b)))
		if err == nil && pv.Metadata != nil {
			ParseVG(pv.Metadata)
		}
	})
}

func FuzzMetadata(f *testing.F) {
	img := seedImage(f)
	pv, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pv.Metadata)
	f.Add([]byte(vgTemplate))
	f.Add([]byte(`a = [[], ["x\"\\", -1, 2.5]] # c`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseVG(b)
	})
}
