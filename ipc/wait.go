package ipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// defaultTimeout is how long a request waits for the worker's answer when
// Config.Timeout is zero.
const defaultTimeout = 30 * time.Second

// ErrTimeout is wrapped by the error of a request the worker did not answer
// within Config.Timeout. Such an error also matches os.ErrDeadlineExceeded.
// The worker and the connection stay up; the late answer is dropped when it
// comes.
var ErrTimeout = errors.New("ipc: no answer from the worker in time")

// ErrInterrupted is wrapped by the error of a call that Client.Interrupt
// stopped. Such an error also matches context.Canceled.
var ErrInterrupted = errors.New("ipc: interrupted")

// timeoutError says what did not happen within the timeout. It matches
// ErrTimeout and os.ErrDeadlineExceeded.
type timeoutError struct {
	what  string // "no answer from the worker"
	after time.Duration
}

func (e *timeoutError) Error() string { return fmt.Sprintf("%s in %v", e.what, e.after) }
func (e *timeoutError) Timeout() bool { return true }

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == os.ErrDeadlineExceeded
}

// interruptedError matches ErrInterrupted and context.Canceled.
type interruptedError struct{}

func (interruptedError) Error() string { return "interrupted" }

func (interruptedError) Is(target error) bool {
	return target == ErrInterrupted || target == context.Canceled
}

// isStop reports whether err says that a caller stopped waiting (timeout,
// Interrupt, or its context), rather than what the worker answered.
func isStop(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// waiter is what a caller waits on besides the event it wants: its context,
// the Interrupt generation current when it began, and the per-request
// timeout. A waiter is read-only once made, so the goroutines of one call
// share it.
type waiter struct {
	ctx     context.Context
	intr    <-chan struct{} // closed by Interrupt; nil: not interruptible
	timeout time.Duration   // <= 0: no bound
}

// detached is a waiter that only the timeout stops: for work done on
// behalf of several callers (a cache fill), or after all callers left.
func detached(timeout time.Duration) *waiter {
	return &waiter{ctx: context.Background(), timeout: timeout}
}

// deadline returns when a request started now times out, or the zero time.
func (w *waiter) deadline() time.Time {
	if w.timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(w.timeout)
}

// check reports, without blocking, whether the caller was interrupted or
// its context is done.
func (w *waiter) check() error {
	select {
	case <-w.intr:
		return interruptedError{}
	case <-w.ctx.Done():
		return w.ctx.Err()
	default:
		return nil
	}
}

// stopper is the part of a select that ends a wait: a timer firing at a
// deadline, Interrupt, and the context.
type stopper struct {
	w     *waiter
	t     *time.Timer
	timer <-chan time.Time // nil without a deadline
}

func (w *waiter) stopper(dl time.Time) stopper {
	s := stopper{w: w}
	if !dl.IsZero() {
		s.t = time.NewTimer(time.Until(dl))
		s.timer = s.t.C
	}
	return s
}

func (s stopper) stop() {
	if s.t != nil {
		s.t.Stop()
	}
}

func (s stopper) timedOut(what string) error { return &timeoutError{what, s.w.timeout} }

// await waits until ready is closed and returns nil, or returns why it
// stopped waiting first: a timeout at dl (the zero time: none) saying
// "no answer from the worker", Interrupt, or the context.
func (w *waiter) await(ready <-chan struct{}, dl time.Time) error {
	select {
	case <-ready:
		return nil
	default:
	}
	s := w.stopper(dl)
	defer s.stop()
	select {
	case <-ready:
		return nil
	case <-s.timer:
		return s.timedOut("no answer from the worker")
	case <-w.intr:
		return interruptedError{}
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// sizeString formats a byte count the way error messages show it.
func sizeString(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n == 1:
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}

// readError gives a stopped read its context: "ipc: read of disk.qcow2 at
// offset 0x1000 (64 KiB): no answer from the worker in 30s".
func readError(name string, off int64, n int, err error) error {
	return fmt.Errorf("ipc: read of %s at offset %#x (%s): %w", name, off, sizeString(n), err)
}
