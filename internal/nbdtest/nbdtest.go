// Package nbdtest runs nbdkit for tests: in the foreground, on a Unix
// socket in the test's temporary directory, so a test can kill the server
// and start it again on the same socket, as a crash and a restart would.
package nbdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

// Server is an nbdkit process serving read-only on a Unix socket.
type Server struct {
	t    testing.TB
	sock string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  tooltest.Buffer // what every run of the server wrote on stderr
}

// Start starts nbdkit -f -r -U SOCKET ARGS... and waits until it listens.
// The test is skipped (or fails under VMSH_REQUIRE_TOOLS=1) without
// nbdkit; the server is killed when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	tooltest.Need(t, "nbdkit")
	s := &Server{t: t, sock: filepath.Join(t.TempDir(), "nbd.sock"), args: args}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URI names the export.
func (s *Server) URI() string { return "nbd+unix:///?socket=" + s.sock }

// Restart starts the server again on the same socket; it must not be
// running.
func (s *Server) Restart() {
	s.t.Helper()
	os.Remove(s.sock)
	// nbdkit writes its PID file once it listens; a test connection
	// would leave an error line in the server's output.
	pidfile := s.sock + ".pid"
	os.Remove(pidfile)
	cmd := exec.Command("nbdkit", append([]string{"-f", "-r", "-U", s.sock, "-P", pidfile}, s.args...)...)
	cmd.Stderr = &s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("nbdkit: %v", err)
	}
	for i := 0; ; i++ {
		if pid, err := os.ReadFile(pidfile); err == nil && len(pid) > 0 && pid[len(pid)-1] == '\n' {
			break
		}
		if i == 500 {
			cmd.Process.Kill()
			cmd.Wait()
			s.t.Fatalf("nbdkit did not listen on its socket in 5s: %s", s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
}

// Stderr returns what the server wrote on its standard error so far, in
// all its runs.
func (s *Server) Stderr() string { return s.out.String() }

// Kill stops the server at once with SIGKILL.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}
