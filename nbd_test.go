package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmsh/internal/nbdtest"
	"vmsh/internal/tooltest"
)

// bigFileImage builds a qcow2 image of an ext4 filesystem holding /big,
// size bytes of random data, and returns the image and the data's sha256.
func bigFileImage(t *testing.T, size int) (string, [32]byte) {
	t.Helper()
	tooltest.Need(t, "mke2fs", "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "fs.raw")
	for _, c := range [][]string{
		{"mke2fs", "-q", "-F", "-t", "ext4", "-d", src, raw, "80M"},
		{"qemu-img", "convert", "-O", "qcow2", raw, filepath.Join(dir, "fs.qcow2")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c[0], err, out)
		}
	}
	return filepath.Join(dir, "fs.qcow2"), sha256.Sum256(data)
}

// A get over NBD while the server is killed and started again: the file
// written is the file in the image, and disks counts the reconnection.
func TestNBDGetSurvivesRestart(t *testing.T) {
	img, sum := bigFileImage(t, 48<<20)
	srv := nbdtest.Start(t, "--filter=delay", "file", img, "rdelay=40ms")
	out := t.TempDir()
	done := make(chan result)
	go func() { done <- vmsh(t, out, "", "--timeout", "20s", "-c", "get /big got; disks", srv.URI()) }()
	// Kill the server once get has begun writing.
	for i := 0; i < 1000; i++ {
		if ents, _ := os.ReadDir(out); len(ents) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Kill()
	time.Sleep(700 * time.Millisecond)
	srv.Restart()
	r := <-done
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "got"))
	if err != nil || sha256.Sum256(data) != sum {
		t.Fatalf("the file get wrote differs from /big (%d bytes, %v)", len(data), err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	// CONN FORMAT (nbd) SIZE STATE RECONNECTS READS ...
	conn := strings.Fields(lines[len(lines)-1])
	if len(conn) < 6 || conn[1] != "qcow2" || conn[4] != "connected" || conn[5] == "0" {
		t.Errorf("disks shows no reconnection:\n%s", r.stdout)
	}
}

// Ctrl-C during a read that waits on a server that is gone stops the
// command at once, not after the timeout.
func TestNBDInterrupt(t *testing.T) {
	img, _ := bigFileImage(t, 8<<20)
	srv := nbdtest.Start(t, "file", img)
	cmd := exec.Command(vmshBinary(t), "--timeout", "60s", srv.URI())
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var errb tooltest.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	br := bufio.NewReader(stdout)
	io.WriteString(stdin, "ls /\n")
	if l, err := br.ReadString('\n'); err != nil || !strings.Contains(l+"big lost+found", "big") {
		t.Fatalf("ls /: %q %v; stderr %s", l, err, errb.String())
	}
	srv.Kill()
	io.WriteString(stdin, "cat /big\n")
	time.Sleep(time.Second)
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	exited := make(chan error, 1)
	go func() { io.Copy(io.Discard, br); exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("vmsh still running 10s after Ctrl-C; stderr %s", errb.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Ctrl-C took %v to stop the command", took)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stderr does not say the command was interrupted: %s", errb.String())
	}
}

// When vmsh exits while reads wait at the server, the worker says goodbye
// (NBD_CMD_DISC), lets the server answer what it holds and hangs up: the
// server sees no reset and no broken pipe. nbdkit's pause filter holds the
// reads; its log filter shows them waiting and every connection ending.
func TestNBDExitDisconnects(t *testing.T) {
	img, _ := bigFileImage(t, 8<<20)
	dir := t.TempDir()
	ctl, logf := filepath.Join(dir, "ctl"), filepath.Join(dir, "log")
	srv := nbdtest.Start(t, "--filter=log", "--filter=pause", "file", img, "pause-control="+ctl, "logfile="+logf)
	control := func(c string) {
		t.Helper()
		conn, err := net.Dial("unix", ctl)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		b := []byte(c)
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, b); err != nil || string(b) != strings.ToUpper(c) {
			t.Fatalf("pause filter: sent %q, got %q, %v", c, b, err)
		}
	}
	// logged counts the log's lines of each kind.
	logged := func() (calls, returns, connects, disconnects int) {
		data, _ := os.ReadFile(logf)
		for l := range strings.Lines(string(data)) {
			switch {
			case strings.Contains(l, " Read id="):
				calls++
			case strings.Contains(l, " ...Read id="):
				returns++
			case strings.Contains(l, " Connect export="):
				connects++
			case strings.Contains(l, " Disconnect "):
				disconnects++
			}
		}
		return
	}
	waitLog := func(what string, ok func(calls, returns, connects, disconnects int) bool) {
		t.Helper()
		for i := 0; !ok(logged()); i++ {
			if i == 1000 {
				data, _ := os.ReadFile(logf)
				t.Fatalf("%s: not seen in 10s; nbdkit's log:\n%s", what, data)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	cmd := exec.Command(vmshBinary(t), "--timeout", "60s", srv.URI())
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	// A file, not a pipe: the worker inherits vmsh's stderr, and Wait
	// would wait for the worker to close a pipe.
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd.Stderr = errf
	stderr := func() string { b, _ := os.ReadFile(errf.Name()); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	br := bufio.NewReader(stdout)
	io.WriteString(stdin, "ls /\n")
	if l, err := br.ReadString('\n'); err != nil || !strings.Contains(l, "big") {
		t.Fatalf("ls /: %q %v; stderr %s", l, err, stderr())
	}
	control("p")
	io.WriteString(stdin, "cat /big\n")
	waitLog("reads held by the pause filter", func(calls, returns, _, _ int) bool { return calls > returns })
	cmd.Process.Signal(os.Interrupt)
	stdin.Close()
	exited := make(chan error, 1)
	go func() { io.Copy(io.Discard, br); exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("vmsh still running 10s after Ctrl-C and the end of its input; stderr %s", stderr())
	}
	control("r")
	waitLog("every connection ended", func(calls, returns, connects, disconnects int) bool {
		return connects > 0 && disconnects == connects && returns == calls
	})
	if out := srv.Stderr(); out != "" {
		t.Errorf("nbdkit saw the connection break:\n%s", out)
	}
}

// cat of a big file hands the output file to the worker, which writes the
// bytes itself: to a pipe (vmsh's standard output here), to a file by >,
// to a local command by |, and to one that stops reading (head), which
// ends the command quietly as a write of the shell's own would.
func TestCatStreams(t *testing.T) {
	img, sum := bigFileImage(t, 24<<20+5)
	dir := t.TempDir()
	r := vmsh(t, dir, "", "-c", "cat /big", img)
	if r.status != 0 || sha256.Sum256([]byte(r.stdout)) != sum {
		t.Fatalf("cat to a pipe: status %d, %d bytes: %s", r.status, len(r.stdout), r.stderr)
	}
	r = vmsh(t, dir, "", "-c", "cat /big > out; cat /big /big | cat > out2; cat /big | head -c 100 > h", img)
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out"))
	out2, _ := os.ReadFile(filepath.Join(dir, "out2"))
	h, _ := os.ReadFile(filepath.Join(dir, "h"))
	if sha256.Sum256(out) != sum {
		t.Errorf("cat > out: %d bytes, not the file", len(out))
	}
	if len(out2) != 2*len(out) || sha256.Sum256(out2[:len(out)]) != sum || sha256.Sum256(out2[len(out):]) != sum {
		t.Errorf("cat /big /big | cat > out2: %d bytes, not the file twice", len(out2))
	}
	if len(out) < 100 || !bytes.Equal(h, out[:100]) {
		t.Errorf("cat | head -c 100: %d bytes", len(h))
	}
	if strings.Contains(r.stderr, "write") || strings.Contains(r.stderr, "pipe") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
