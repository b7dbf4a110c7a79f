package ipc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusSpec returns a spec for the image name whose backend reports a
// format, a connection id, reconnects, a state and a last error at the
// time at; its reads of the first 4 KiB fail with EIO.
func statusSpec(name string, at time.Time) string {
	return fmt.Sprintf("%s#status=%d", name, at.UnixNano())
}

// statusBackend has every optional status method of a Backend.
type statusBackend struct {
	faultyBackend
	at time.Time
}

func (statusBackend) Format() string  { return "qcow2" }
func (statusBackend) ConnID() int     { return 7 }
func (statusBackend) Reconnects() int { return 3 }
func (statusBackend) State() string   { return "reconnecting" }

func (b statusBackend) LastError() (error, time.Time) {
	return errors.New("nbd: connection reset by peer"), b.at
}

func openStatus(name, at string) (Backend, bool, error) {
	ns, _ := strconv.ParseInt(at, 10, 64)
	f, err := fileOpener(name)
	return statusBackend{faultyBackend{Backend: f, to: 4096}, time.Unix(0, ns)}, true, err
}

// Status carries what the backend says of itself, and the newer of its
// last error and the worker's.
func TestStatusFields(t *testing.T) {
	name, _ := tempImage(t, 1<<20)
	c := startClient(t, Config{CacheSize: -1})
	long := time.Date(2001, 2, 3, 4, 5, 6, 7, time.Local)
	later := time.Now().Add(time.Hour).Round(0)
	var disks []*Disk
	for _, spec := range []string{name, statusSpec(name, long), statusSpec(name, later), statusSpec(name, long)} {
		d := openDisk(t, c, spec)
		disks = append(disks, d)
	}
	before := time.Now()
	for _, d := range disks[1:3] {
		if _, err := d.ReadAt(make([]byte, 100), 0); !errors.Is(err, syscall.EIO) {
			t.Fatalf("read: %v, want EIO", err)
		}
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 4 {
		t.Fatalf("%d disks", len(st))
	}
	if s := st[0]; s.Format != "" || s.ConnID != s.ID || s.Reconnects != 0 || s.State != "ready" || s.LastErr != "" || !s.LastErrAt.IsZero() {
		t.Errorf("plain file: %+v", s)
	}
	for _, s := range st[1:] {
		if s.Format != "qcow2" || s.ConnID != 7 || s.Reconnects != 3 || s.State != "reconnecting" || !strings.HasPrefix(s.Name, "disk.img#status=") {
			t.Errorf("status backend: %+v", s)
		}
	}
	// The worker's read error is newer than the backend's.
	if s := st[1]; !strings.Contains(s.LastErr, "input/output error") || s.LastErrAt.Before(before) || s.Errors != 1 {
		t.Errorf("worker's error newer: %q at %v", s.LastErr, s.LastErrAt)
	}
	// The backend's error is newer than the worker's.
	if s := st[2]; s.LastErr != "nbd: connection reset by peer" || !s.LastErrAt.Equal(later) || s.Errors != 1 {
		t.Errorf("backend's error newer: %q at %v", s.LastErr, s.LastErrAt)
	}
	// Only the backend had an error.
	if s := st[3]; s.LastErr != "nbd: connection reset by peer" || !s.LastErrAt.Equal(long) || s.Errors != 0 {
		t.Errorf("backend's error alone: %q at %v", s.LastErr, s.LastErrAt)
	}
}
