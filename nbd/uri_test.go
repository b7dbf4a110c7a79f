package nbd

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in       string
		want     URI
		redacted string
		network  string
		addr     string
	}{
		{"nbd://example.com", URI{Host: "example.com"}, "nbd://example.com", "tcp", "example.com:10809"},
		{"nbd://example.com/", URI{Host: "example.com"}, "nbd://example.com", "tcp", "example.com:10809"},
		{"nbd://example.com:10810/disk", URI{Host: "example.com", Port: "10810", Export: "disk"}, "nbd://example.com:10810/disk", "tcp", "example.com:10810"},
		{"nbd://example.com//disk", URI{Host: "example.com", Export: "/disk"}, "nbd://example.com//disk", "tcp", "example.com:10809"},
		{"nbd://example.com/hello%20world", URI{Host: "example.com", Export: "hello world"}, "nbd://example.com/hello%20world", "tcp", "example.com:10809"},
		{"NBD://Example.com/x", URI{Host: "Example.com", Export: "x"}, "nbd://Example.com/x", "tcp", "Example.com:10809"},
		{"nbd://[::1]:777/e", URI{Host: "::1", Port: "777", Export: "e"}, "nbd://[::1]:777/e", "tcp", "[::1]:777"},
		{"nbd:///e", URI{Export: "e"}, "nbd:///e", "tcp", "localhost:10809"},
		{"nbds://host/e?tls-hostname=srv.example&tls-type=x509&tls-verify-peer=1",
			URI{TLS: true, Host: "host", Export: "e", TLSHostname: "srv.example"},
			"nbds://host/e?tls-hostname=srv.example", "tcp", "host:10809"},
		{"nbds://alice:secret@host:1/e", URI{TLS: true, Host: "host", Port: "1", Export: "e", User: "alice"}, "nbds://host:1/e", "tcp", "host:1"},
		{"nbd+unix:///disk?socket=/run/nbd.sock", URI{Unix: true, Export: "disk", Socket: "/run/nbd.sock"}, "nbd+unix:///disk?socket=/run/nbd.sock", "unix", "/run/nbd.sock"},
		{"nbd+unix://?socket=s", URI{Unix: true, Socket: "s"}, "nbd+unix:///?socket=s", "unix", "s"},
		{"nbd+unix:///?socket=a%20b%2Bc+d", URI{Unix: true, Socket: "a b+c+d"}, "nbd+unix:///?socket=a%20b%2Bc%2Bd", "unix", "a b+c+d"},
		{"nbds+unix:///x?socket=%00abstract", URI{TLS: true, Unix: true, Export: "x", Socket: "@abstract"}, "nbds+unix:///x?socket=%00abstract", "unix", "@abstract"},
		{"nbd://h/a%3Fb%23c", URI{Host: "h", Export: "a?b#c"}, "nbd://h/a%3Fb%23c", "tcp", "h:10809"},
	}
	for _, tt := range tests {
		u, err := ParseURI(tt.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tt.in, err)
			continue
		}
		if u != tt.want {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, u, tt.want)
		}
		if got := u.Redacted(); got != tt.redacted {
			t.Errorf("ParseURI(%q).Redacted() = %q, want %q", tt.in, got, tt.redacted)
		}
		if got := u.String(); got != tt.redacted {
			t.Errorf("ParseURI(%q).String() = %q, want %q", tt.in, got, tt.redacted)
		}
		if n, a := u.Address(); n != tt.network || a != tt.addr {
			t.Errorf("ParseURI(%q).Address() = %s %s, want %s %s", tt.in, n, a, tt.network, tt.addr)
		}
		// The redacted form parses back to the same URI, less the user.
		again, err := ParseURI(tt.redacted)
		want := tt.want
		want.User = ""
		if err != nil || again != want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", tt.redacted, again, err, want)
		}
	}
}

func TestParseURIErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "no scheme"},
		{"/dev/sda", "no scheme"},
		{"http://host/x", `scheme "http" is not NBD`},
		{"nbd:host", "want nbd://"},
		{"nbd://host/x#frag", "fragment"},
		{"nbd://host:0/x", "bad port"},
		{"nbd://host:99999/x", "bad port"},
		{"nbd://host:/x", "empty port"},
		{"nbd://host/x?socket=/s", "socket= is for nbd+unix"},
		{"nbd+unix:///x", "needs ?socket=PATH"},
		{"nbd+unix://host/x?socket=/s", "names a socket, not a host"},
		{"nbd://host/x?foo=bar", `unknown query parameter "foo"`},
		{"nbd://host/x?tls-hostname=a&tls-hostname=b", "given twice"},
		{"nbds://host/x?tls-certificates=/etc/pki", "given as options"},
		{"nbds://host/x?tls-psk-file=/k", "given as options"},
		{"nbds://host/x?tls-verify-peer=0", "option of its own"},
		{"nbds://host/x?tls-type=psk", "only x509"},
		{"nbd://host/a%00b", "NUL"},
		{"nbd://host/%ff", "UTF-8"},
		{"nbd://host/" + strings.Repeat("x", 4097), "4097 bytes"},
		{"nbd://host/%zz", "invalid URL escape"},
		{"nbd+vsock:///x", "not supported"},
	}
	for _, tt := range tests {
		_, err := ParseURI(tt.in)
		if err == nil {
			t.Errorf("ParseURI(%q) succeeded", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "nbd: ") {
			t.Errorf("ParseURI(%q): %v; want an error containing %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParseURI("nbd+vsock:///x"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("vsock: %v does not wrap errors.ErrUnsupported", err)
	}
}

// TestParseURISecret checks that no error or display form repeats a
// password.
func TestParseURISecret(t *testing.T) {
	for _, in := range []string{
		"nbds://alice:s3cr3t@host:bad/x",
		"nbds://alice:s3cr3t@host/x?foo=1",
		"nbds://alice:s3cr3t@host/%zz",
		"nbds://alice:s3cr3t@host/x",
	} {
		u, err := ParseURI(in)
		s := u.Redacted()
		if err != nil {
			s = err.Error()
		}
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "alice") {
			t.Errorf("ParseURI(%q): %q shows the user information", in, s)
		}
	}
}

func TestFlagsString(t *testing.T) {
	for f, want := range map[Flags]string{
		0:                                   "none",
		FlagHasFlags | FlagReadOnly:         "has-flags,read-only",
		FlagCanMultiConn | FlagSendFastZero: "multi-conn,fast-zero",
		FlagHasFlags | 0x8000:               "has-flags,0x8000",
	} {
		if got := f.String(); got != want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint16(f), got, want)
		}
	}
}
