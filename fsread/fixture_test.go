package fsread_test

import (
	"testing"

	"vmsh/internal/fixturetest"
)

// TestFixtures reads every committed image in ../testdata (built by
// testdata/mkfixtures.sh) and compares each filesystem in it with the
// listing the Linux kernel made of it.
func TestFixtures(t *testing.T) {
	const dir = "../testdata"
	names, err := fixturetest.Images(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no images in %s", dir)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fixturetest.CheckImage(t, dir, name)
		})
	}
}
