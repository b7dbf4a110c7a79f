// Package tooltest serves the tests that check vmsh against real outside
// tools (mke2fs, sfdisk, losetup, the kernel's loop mount). Such a test skips
// with a clear message when its tool or privilege is missing, so that
// `go test ./...` passes on a machine that has only Go; with
// VMSH_REQUIRE_TOOLS=1 in the environment, as CI sets it, the same test fails
// instead, so CI always exercises the real thing. Gunzip reads the small
// compressed images those tests and their tool-free twins share; Run runs a
// tool, and QemuRawSHA256 and SHA256 give the two sides of the image
// formats' oracle check (what qemu-img reads, what a reader reads).
package tooltest

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Env is the environment variable that turns a skip into a failure.
const Env = "VMSH_REQUIRE_TOOLS"

// Required reports whether a missing tool must fail the test.
func Required() bool { return os.Getenv(Env) == "1" }

// SkipOrFail skips the test with the message, or fails it when Required.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf(format+" ("+Env+"=1)", args...)
	}
	t.Skipf(format+"; set "+Env+"=1 to fail instead", args...)
}

// Need skips or fails the test unless every named tool is on the PATH.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, "%s is not installed", tool)
		}
	}
}

// NeedRoot skips or fails the test unless it runs as root; why says what
// needs it.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "%s needs root", why)
	}
}

// Sfdisk is what `sfdisk --json` prints of a partition table.
type Sfdisk struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		Device     string `json:"device"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Attrs    string `json:"attrs"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// ParseSfdisk decodes the output of `sfdisk --json`.
func ParseSfdisk(b []byte) (*Sfdisk, error) {
	var s Sfdisk
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Gunzip returns the decompressed contents of the gzip file name, which
// must hold at most 64 MiB: test images are read whole into memory.
func Gunzip(t testing.TB, name string) []byte {
	t.Helper()
	const max = 64 << 20
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(b) > max {
		t.Fatalf("%s: more than %d bytes uncompressed", name, max)
	}
	return b
}
