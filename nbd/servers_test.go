package nbd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

// A server is an NBD server process started by a test.
type server struct {
	cmd    *exec.Cmd
	out    *tooltest.Buffer
	uri    string // where to reach it, without export name or query
	socket string // unix socket path, or ""
	addr   string // host:port, or ""
	exited chan struct{}
}

// exportURI returns the URI of the named export on s, with tls saying
// whether to use the nbds schemes.
func (s *server) exportURI(export string, tls bool) string {
	scheme := "nbd"
	if tls {
		scheme = "nbds"
	}
	if s.socket != "" {
		return fmt.Sprintf("%s+unix:///%s?socket=%s", scheme, export, s.socket)
	}
	return fmt.Sprintf("%s://%s/%s", scheme, s.addr, export)
}

// kill stops the server at once and waits for it.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// freePort returns a TCP port on 127.0.0.1 that nobody listens on now.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// listenArgs returns where a server listens: a unix socket in a fresh
// directory, or a free TCP port on 127.0.0.1.
type listen struct {
	unix   bool
	socket string
	port   string
}

func newListen(t testing.TB, unix bool) listen {
	if unix {
		return listen{unix: true, socket: filepath.Join(t.TempDir(), "nbd.sock")}
	}
	return listen{port: freePort(t)}
}

// startNbdkit runs nbdkit in the foreground with flags, then the plugin
// and its arguments, and waits until it accepts connections. The server
// is killed when the test ends.
func startNbdkit(t testing.TB, unix bool, flags []string, plugin ...string) *server {
	t.Helper()
	tooltest.Need(t, "nbdkit")
	l := newListen(t, unix)
	args := []string{"-f", "--exit-with-parent"}
	if l.unix {
		args = append(args, "-U", l.socket)
	} else {
		args = append(args, "-i", "127.0.0.1", "-p", l.port)
	}
	args = append(args, flags...)
	args = append(args, plugin...)
	return startServer(t, l, "nbdkit", args...)
}

// startQemuNbd serves file (of the given format) read-only with qemu-nbd
// under the export name.
func startQemuNbd(t testing.TB, unix bool, export, format, file string) *server {
	t.Helper()
	tooltest.Need(t, "qemu-nbd")
	l := newListen(t, unix)
	args := []string{"-r", "-t", "-x", export, "-f", format, "-e", "8"}
	if l.unix {
		args = append(args, "-k", l.socket)
	} else {
		args = append(args, "-b", "127.0.0.1", "-p", l.port)
	}
	args = append(args, file)
	return startServer(t, l, "qemu-nbd", args...)
}

func startServer(t testing.TB, l listen, name string, args ...string) *server {
	t.Helper()
	s := &server{out: &tooltest.Buffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(name, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.kill)
	network, addr := "unix", l.socket
	if l.unix {
		s.socket = l.socket
	} else {
		addr = "127.0.0.1:" + l.port
		network = "tcp"
		s.addr = addr
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("%s %s exited: %s", name, strings.Join(args, " "), s.out.String())
		default:
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start listening: %v\n%s", name, err, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial connects to uri or fails the test; the connection is closed when
// the test ends.
func dial(t testing.TB, uri string, opts Options) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, uri, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", uri, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pattern returns n bytes that differ from block to block.
func pattern(n int, seed int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// writeFile writes data to a fresh file and returns its path.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitConns waits until c uses n connections.
func waitConns(t testing.TB, c *Conn, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.Info().Connections < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after 5 s, want %d", c.Info().Connections, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
