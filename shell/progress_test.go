package shell

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestProgressLine(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name                 string
		bytes, files         int64
		total                bool
		totalBytes, totalFil int64
		width                int
		want                 string
	}{
		{"unknown totals", 3 << 20, 5, false, 0, 0, 80, "get 3.0 MiB, 5 files, 1.5 MiB/s"},
		{"known totals", 3 << 20, 5, true, 6 << 20, 10, 80,
			"get 3.0 MiB / 6.0 MiB, 5/10 files, 1.5 MiB/s, ETA 0:02 [########---------]  50%"},
		{"zero totals", 0, 0, true, 0, 0, 80, "get 0 B / 0 B, 0/0 files, 0 B/s [########################################] 100%"},
		{"only files", 0, 1, true, 0, 4, 80, "get 0 B / 0 B, 1/4 files, 0 B/s, ETA 0:06 [#######-----------------------]  25%"},
		// The bytes are nearly done, the files not: the bar and the ETA
		// follow the files.
		{"files behind", 9 << 20, 10, true, 10 << 20, 100, 100,
			"get 9.0 MiB / 10.0 MiB, 10/100 files, 4.5 MiB/s, ETA 0:18 [###-------------------------------]  10%"},
		{"narrow", 3 << 20, 5, true, 6 << 20, 10, 20, "get 3.0 MiB / 6.0 M"},
		{"one column", 3 << 20, 5, false, 0, 0, 1, "g"},
	}
	for _, tt := range tests {
		p := &progress{name: "get", start: start}
		p.bytes.Store(tt.bytes)
		p.files.Store(tt.files)
		if tt.total {
			p.setTotal(tt.totalBytes, int(tt.totalFil))
		}
		got := p.line(start.Add(2*time.Second), tt.width)
		if got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
		if len(got) > max(tt.width-1, 1) {
			t.Errorf("%s: %d columns for a width of %d", tt.name, len(got), tt.width)
		}
	}
}

// The rate follows the last few seconds, not the whole copy.
func TestProgressRate(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{name: "get", start: start}
	// 100 MiB in the first ten seconds, then nothing for ten more.
	for i := 1; i <= 200; i++ {
		n := int64(min(i, 100)) << 20
		p.rate(start.Add(time.Duration(i)*progressTick), n, int64(i))
	}
	if r, _ := p.rate(start.Add(201*progressTick), 100<<20, 200); r != 0 {
		t.Errorf("rate after a stall = %v, want 0", r)
	}
	if len(p.samples) > int(rateWindow/progressTick)+2 {
		t.Errorf("%d samples kept", len(p.samples))
	}
}

func TestProgressSummary(t *testing.T) {
	p := &progress{name: "get", start: time.Now()}
	p.add(3 << 30)
	for range 1234 {
		p.fileDone()
	}
	p.elapsed = 2 * time.Second
	if got, want := p.summary(), "1,234 files, 3.0 GiB in 2.0 s (1.5 GiB/s)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	p = &progress{name: "get", start: time.Now()}
	p.fileDone()
	p.elapsed = 250 * time.Millisecond
	if got, want := p.summary(), "1 file, 0 B in 0.25 s"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	var nilp *progress
	nilp.add(1)
	nilp.fileDone()
	nilp.setTotal(1, 1)
	nilp.stop()
	if nilp.summary() != "" {
		t.Error("nil progress has a summary")
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 12: "12", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 59 * time.Second: "0:59", 61 * time.Second: "1:01",
		3723 * time.Second: "1:02:03", -time.Second: "--:--", 1000 * time.Hour: "--:--"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}

// Not on a terminal, the progress of a command writes nothing.
func TestProgressNotTerminal(t *testing.T) {
	ui := &fakeUI{}
	s := New(ui)
	x := &Call{Shell: s, Name: "get"}
	p := x.startProgress("get")
	p.setTotal(10, 1)
	p.add(10)
	p.fileDone()
	time.Sleep(2 * progressDelay)
	p.stop()
	p.stop()
	if ui.err.Len() != 0 {
		t.Errorf("stderr %q", ui.err.String())
	}
	if s.bar.Load() != nil {
		t.Error("a bar is registered")
	}
}

// ptyUI is a UI whose standard error is the slave side of a pseudo-terminal.
type ptyUI struct {
	fakeUI
	tty *os.File
}

func (u *ptyUI) Stderr() io.Writer { return u.tty }

// openPTY returns the two sides of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// readUntil reads from the terminal until what it has read contains want.
func readUntil(t *testing.T, r *os.File, got *bytes.Buffer, want string) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), want) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("waiting for %q: %v; read %q", want, err, got.String())
		}
	}
}

// On a terminal the bar is drawn, warnings are printed on lines of their
// own above it, and stop erases it.
func TestProgressTerminal(t *testing.T) {
	master, slave := openPTY(t)
	ui := &ptyUI{tty: slave}
	ui.width = 100
	s := New(ui)
	x := &Call{Shell: s, Name: "get"}
	p := x.startProgress("get")
	p.setTotal(4<<20, 2)
	p.add(1 << 20)
	p.fileDone()

	var got bytes.Buffer
	readUntil(t, master, &got, "get 1.0 MiB / 4.0 MiB, 1/2 files")
	readUntil(t, master, &got, "\x1b[K")
	line := got.String()
	line = line[strings.LastIndex(line, "\r")+1 : len(line)-len("\x1b[K")]
	if len(line) > 99 || !strings.HasSuffix(line, "%") {
		t.Errorf("bar %q: %d columns, want at most 99 ending in a percentage", line, len(line))
	}

	x.Warn("skipping %s", "/dev/null")
	got.Reset()
	readUntil(t, master, &got, "vmsh: get: skipping /dev/null\r\n")
	if !strings.HasPrefix(got.String(), "\r\x1b[K") && !strings.Contains(got.String(), "\r\x1b[Kvmsh: get: skipping") {
		t.Errorf("warning not printed on a cleared line: %q", got.String())
	}

	// Once drawn again, stop takes it away.
	got.Reset()
	readUntil(t, master, &got, "1/2 files")
	readUntil(t, master, &got, "\x1b[K")
	p.stop()
	io.WriteString(slave, "END")
	got.Reset()
	readUntil(t, master, &got, "END")
	if !strings.HasSuffix(got.String(), "\r\x1b[KEND") {
		t.Errorf("bar not erased at stop: %q", got.String())
	}
	if s.bar.Load() != nil {
		t.Error("bar still registered after stop")
	}
	p.stop()
}
