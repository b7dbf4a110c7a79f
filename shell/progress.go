package shell

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress counts the bytes and files of a long copy (get, tar) and, when
// the shell's standard error is a terminal, keeps a one-line bar there:
// bytes, files, rate and, once the totals are known, percentage and ETA.
// The bar is redrawn at most ten times a second from a goroutine of its
// own, so the copy never waits for the terminal. Every method is safe to
// call from any goroutine, and on a nil *progress.
type progress struct {
	name  string
	start time.Time

	bytes, files           atomic.Int64
	totalBytes, totalFiles atomic.Int64
	totalKnown             atomic.Bool

	// Drawing: w is nil when standard error is not a terminal.
	s     *Shell
	w     io.Writer
	width func() int
	mu    sync.Mutex // guards shown, samples and writes to w
	shown bool       // the bar is on the screen
	// samples are recent counts, for rates that follow the copy rather
	// than its whole history.
	samples []sample

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
	elapsed  time.Duration // set by stop
}

type sample struct {
	t            time.Time
	bytes, files int64
}

const (
	progressTick  = 100 * time.Millisecond // at most ten redraws a second
	progressDelay = 300 * time.Millisecond // no bar for copies shorter than this
	rateWindow    = 3 * time.Second        // the rate shown is over this much time
)

// startProgress starts counting for the command name ("get", "tar"). It
// draws a bar on standard error only when that is a terminal.
func (x *Call) startProgress(name string) *progress {
	s := x.Shell
	w := s.ui.Stderr()
	p := &progress{name: name, start: time.Now(), s: s, quit: make(chan struct{}), done: make(chan struct{})}
	if !isTerminal(w) {
		close(p.done)
		return p
	}
	p.w = w
	p.width = func() int {
		if n := s.ui.Width(); n > 0 {
			return n
		}
		if f, ok := w.(*os.File); ok {
			if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
				return n
			}
		}
		return 80
	}
	s.bar.Store(p)
	go p.run()
	return p
}

// drawn reports whether a bar is drawn, so that totals are worth finding.
func (p *progress) drawn() bool { return p != nil && p.w != nil }

// stopped reports whether stop has been called.
func (p *progress) stopped() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.quit:
		return true
	default:
		return false
	}
}

// setTotal gives the number of bytes and files the copy will make, once
// known; until then the bar shows no percentage or ETA.
func (p *progress) setTotal(bytes int64, files int) {
	if p == nil {
		return
	}
	p.totalBytes.Store(bytes)
	p.totalFiles.Store(int64(files))
	p.totalKnown.Store(true)
}

// add counts n more bytes copied.
func (p *progress) add(n int64) {
	if p != nil {
		p.bytes.Add(n)
	}
}

// fileDone counts one more file copied.
func (p *progress) fileDone() {
	if p != nil {
		p.files.Add(1)
	}
}

// stop ends the bar and erases it. It may be called more than once.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.stopOnce.Do(func() {
		p.elapsed = time.Since(p.start)
		close(p.quit)
		<-p.done
		if p.w != nil {
			p.s.bar.CompareAndSwap(p, nil)
			p.mu.Lock()
			p.erase()
			p.mu.Unlock()
		}
	})
}

// summary is one line about the whole copy: "1,234 files, 5.6 GiB in
// 3.2 s (1.7 GiB/s)".
func (p *progress) summary() string {
	if p == nil {
		return ""
	}
	d := p.elapsed
	if d == 0 {
		d = time.Since(p.start)
	}
	n := p.bytes.Load()
	s := fmt.Sprintf("%s %s, %s in %s", commas(p.files.Load()), pluralWord(p.files.Load(), "file"),
		humanBytes(n), seconds(d))
	if d > 0 && n > 0 {
		s += " (" + humanBytes(int64(float64(n)/d.Seconds())) + "/s)"
	}
	return s
}

// above runs write, which prints whole lines on standard error, with the
// bar taken off the screen first, so the two never share a line; the next
// tick draws the bar again below.
func (p *progress) above(write func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	write()
}

func (p *progress) run() {
	defer close(p.done)
	t := time.NewTicker(progressTick)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case now := <-t.C:
			if now.Sub(p.start) < progressDelay {
				continue
			}
			p.mu.Lock()
			line := p.line(now, p.width())
			io.WriteString(p.w, "\r"+line+"\x1b[K")
			p.shown = true
			p.mu.Unlock()
		}
	}
}

// erase clears the bar's line. p.mu is held.
func (p *progress) erase() {
	if p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// rate returns bytes and files per second over the last rateWindow,
// recording the sample for now. p.mu is held.
func (p *progress) rate(now time.Time, bytes, files int64) (float64, float64) {
	p.samples = append(p.samples, sample{now, bytes, files})
	i := 0
	for i < len(p.samples)-1 && now.Sub(p.samples[i].t) > rateWindow {
		i++
	}
	p.samples = p.samples[i:]
	first := sample{t: p.start}
	if len(p.samples) > 1 && now.Sub(p.start) > rateWindow {
		first = p.samples[0]
	}
	d := now.Sub(first.t).Seconds()
	if d <= 0 {
		return 0, 0
	}
	return float64(bytes-first.bytes) / d, float64(files-first.files) / d
}

// line formats the bar for a terminal width columns wide; it is never
// longer than width-1, so the terminal does not wrap it. p.mu is held.
func (p *progress) line(now time.Time, width int) string {
	n, files := p.bytes.Load(), p.files.Load()
	r, rf := p.rate(now, n, files)
	known := p.totalKnown.Load()
	tb, tf := p.totalBytes.Load(), p.totalFiles.Load()

	var b strings.Builder
	b.WriteString(p.name + " " + humanBytes(n))
	if known {
		b.WriteString(" / " + humanBytes(tb))
	}
	b.WriteString(", " + commas(files))
	if known {
		b.WriteString("/" + commas(tf))
	}
	b.WriteString(" " + pluralWord(max(files, tf), "file"))
	b.WriteString(", " + humanBytes(int64(r)) + "/s")
	// Many small files take longer than their bytes say, and one big
	// file longer than its count: the bar shows the part behind, and
	// the ETA the longer of the two estimates.
	frac := -1.0
	if known {
		frac = 1
		if tb > 0 {
			frac = float64(n) / float64(tb)
		}
		if tf > 0 {
			frac = min(frac, float64(files)/float64(tf))
		}
		frac = min(max(frac, 0), 1)
		eta := -1.0
		if tb > n && r > 0 {
			eta = float64(tb-n) / r
		}
		if tf > files && rf > 0 {
			eta = max(eta, float64(tf-files)/rf)
		}
		if eta >= 0 {
			b.WriteString(", ETA " + clock(time.Duration(eta*float64(time.Second))))
		}
	}
	text := b.String()
	width = max(width-1, 1)
	if frac < 0 || len(text)+12 > width {
		if len(text) > width {
			text = text[:width]
		}
		return text
	}
	// A bar in the room that is left: " [#####     ] 42%".
	pct := fmt.Sprintf(" %3d%%", int(frac*100))
	room := width - len(text) - len(pct) - 3
	room = min(room, 40)
	fill := int(frac * float64(room))
	return text + " [" + strings.Repeat("#", fill) + strings.Repeat("-", room-fill) + "]" + pct
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 0 || s > 99*3600 {
		return "--:--"
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// seconds formats a duration for a summary: "0.42 s", "3.2 s", "75 s".
func seconds(d time.Duration) string {
	v := d.Seconds()
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	case v < 60:
		return strconv.FormatFloat(v, 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " s"
}

// commas formats n with a comma between groups of three digits.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pluralWord is what, with an s unless n is 1.
func pluralWord(n int64, what string) string {
	if n == 1 {
		return what
	}
	return what + "s"
}

// countingReader adds what it reads to the progress.
type countingReader struct {
	r io.Reader
	p *progress
}

func (r countingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}
