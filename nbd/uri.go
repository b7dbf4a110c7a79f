package nbd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultPort is the NBD port assigned by IANA, used when a URI names none.
const DefaultPort = "10809"

// URI is a parsed NBD URI, in the forms libnbd and qemu accept (NBD's
// doc/uri.md):
//
//	nbd://host[:port][/export]          TCP
//	nbds://host[:port][/export]         TCP with TLS, required
//	nbd+unix:///[export]?socket=PATH    Unix domain socket
//	nbds+unix:///[export]?socket=PATH   Unix domain socket with TLS
//
// The export name is the path without its leading slash, percent-decoded
// ("nbd://h//x" names "/x"). The query may also hold tls-hostname (the name
// the server's certificate must carry), tls-type=x509 and
// tls-verify-peer=1; certificates and keys come from Options, never from
// the URI, so any other parameter is an error.
type URI struct {
	TLS    bool   // nbds or nbds+unix: TLS is required
	Unix   bool   // a Unix domain socket rather than TCP
	Host   string // TCP: host name or IP address, without brackets
	Port   string // TCP: port as written, "" for the default
	Socket string // Unix: the socket's path; "@name" is Linux's abstract namespace
	Export string // export name; "" is the server's default export

	// User is the URI's user name, which some servers use for TLS
	// pre-shared keys; this client does not, and Redacted omits it. A
	// password in the URI is dropped.
	User string

	// TLSHostname is the tls-hostname parameter: the name the server's
	// certificate is checked against instead of Host.
	TLSHostname string
}

// ParseURI parses an NBD URI. Errors never repeat the URI's user
// information.
func ParseURI(s string) (URI, error) {
	var u URI
	pu, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URI, password included
		}
		return u, fmt.Errorf("nbd: bad URI: %w", err)
	}
	switch pu.Scheme {
	case "nbd":
	case "nbds":
		u.TLS = true
	case "nbd+unix":
		u.Unix = true
	case "nbds+unix":
		u.TLS, u.Unix = true, true
	case "nbd+vsock", "nbds+vsock":
		return u, fmt.Errorf("nbd: %s URIs are not supported: %w", pu.Scheme, errors.ErrUnsupported)
	case "":
		return u, errors.New("nbd: bad URI: no scheme (want nbd://, nbds://, nbd+unix:// or nbds+unix://)")
	default:
		return u, fmt.Errorf("nbd: bad URI: scheme %q is not NBD (want nbd, nbds, nbd+unix or nbds+unix)", pu.Scheme)
	}
	if pu.Opaque != "" {
		return u, fmt.Errorf("nbd: bad URI: want %s://...", pu.Scheme)
	}
	if pu.Fragment != "" || strings.Contains(s, "#") {
		return u, errors.New("nbd: bad URI: a fragment (#...) means nothing in an NBD URI")
	}
	if pu.User != nil {
		u.User = pu.User.Username()
	}
	if p := pu.Path; p != "" {
		u.Export = strings.TrimPrefix(p, "/")
	}
	if err := checkString("export name", u.Export); err != nil {
		return u, fmt.Errorf("nbd: bad URI: %w", err)
	}

	params, err := parseQuery(pu.RawQuery)
	if err != nil {
		return u, fmt.Errorf("nbd: bad URI: %w", err)
	}
	for _, kv := range params {
		k, v := kv[0], kv[1]
		switch k {
		case "socket":
			if !u.Unix {
				return u, fmt.Errorf("nbd: bad URI: socket= is for nbd+unix:// and nbds+unix:// URIs, not %s://", pu.Scheme)
			}
			u.Socket = v
		case "tls-hostname":
			u.TLSHostname = v
		case "tls-type":
			if v != "x509" {
				return u, fmt.Errorf("nbd: tls-type=%s: only x509 certificates are supported: %w", v, errors.ErrUnsupported)
			}
		case "tls-verify-peer":
			switch v {
			case "1", "true", "yes", "on":
			default:
				return u, errors.New("nbd: bad URI: tls-verify-peer: skipping the server's certificate check is an option of its own, not part of the URI")
			}
		case "tls-certificates", "tls-psk-file", "tls-username", "tls-priority":
			return u, fmt.Errorf("nbd: bad URI: %s: TLS certificates and keys are given as options, not in the URI", k)
		default:
			return u, fmt.Errorf("nbd: bad URI: unknown query parameter %q", k)
		}
	}

	if u.Unix {
		if pu.Host != "" {
			return u, fmt.Errorf("nbd: bad URI: a %s URI names a socket, not a host (want %s:///export?socket=PATH)", pu.Scheme, pu.Scheme)
		}
		if u.Socket == "" {
			return u, fmt.Errorf("nbd: bad URI: a %s URI needs ?socket=PATH", pu.Scheme)
		}
		if strings.HasPrefix(u.Socket, "\x00") {
			u.Socket = "@" + u.Socket[1:]
		}
		if strings.ContainsRune(u.Socket[1:], 0) {
			return u, errors.New("nbd: bad URI: socket path holds a NUL byte")
		}
		return u, nil
	}
	u.Host = pu.Hostname()
	u.Port = pu.Port()
	if u.Port != "" {
		if n, err := strconv.Atoi(u.Port); err != nil || n < 1 || n > 65535 {
			return u, fmt.Errorf("nbd: bad URI: bad port %q", u.Port)
		}
	} else if strings.HasSuffix(pu.Host, ":") {
		return u, errors.New("nbd: bad URI: empty port")
	}
	return u, nil
}

// parseQuery splits a raw query into its parameters, in order. Unlike
// url.ParseQuery it keeps '+' as a plus sign (RFC 3986 gives it no special
// meaning), and it refuses a parameter given twice.
func parseQuery(raw string) ([][2]string, error) {
	var out [][2]string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.PathUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("query parameter name: %w", err)
		}
		v, err = url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("query parameter %s: %w", k, err)
		}
		if seen[k] {
			return nil, fmt.Errorf("query parameter %s given twice", k)
		}
		seen[k] = true
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// checkString checks a string the protocol carries: at most 4096 bytes of
// UTF-8 without NUL.
func checkString(what, s string) error {
	switch {
	case len(s) > maxString:
		return fmt.Errorf("%s of %d bytes (the protocol allows %d)", what, len(s), maxString)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%s holds a NUL byte", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	return nil
}

// Scheme returns the URI's scheme: nbd, nbds, nbd+unix or nbds+unix.
func (u URI) Scheme() string {
	s := "nbd"
	if u.TLS {
		s = "nbds"
	}
	if u.Unix {
		s += "+unix"
	}
	return s
}

// Address returns what to dial: ("unix", socket) or ("tcp", host:port),
// with "localhost" when no host was named and the IANA port when no port
// was.
func (u URI) Address() (network, address string) {
	if u.Unix {
		return "unix", u.Socket
	}
	host, port := u.Host, u.Port
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = DefaultPort
	}
	return "tcp", net.JoinHostPort(host, port)
}

// Redacted returns the URI for display: the same URI without its user
// information, so it may be shown and logged.
func (u URI) Redacted() string {
	var b strings.Builder
	b.WriteString(u.Scheme())
	b.WriteString("://")
	if !u.Unix {
		host := u.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		b.WriteString(host)
		if u.Port != "" {
			b.WriteString(":" + u.Port)
		}
	}
	if u.Export != "" || u.Unix {
		b.WriteString((&url.URL{Path: "/" + u.Export}).EscapedPath())
	}
	sep := "?"
	if u.Unix {
		sock := u.Socket
		if strings.HasPrefix(sock, "@") {
			sock = "\x00" + sock[1:]
		}
		b.WriteString(sep + "socket=" + escapeQuery(sock))
		sep = "&"
	}
	if u.TLSHostname != "" {
		b.WriteString(sep + "tls-hostname=" + escapeQuery(u.TLSHostname))
	}
	return b.String()
}

// String returns Redacted: a URI never prints its user information.
func (u URI) String() string { return u.Redacted() }

// escapeQuery percent-encodes s for a query value, leaving the characters
// a path usually holds ('/', ':', '@', ...) as they are.
func escapeQuery(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~/:@!$'()*,;", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
