package nbd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throwaway certificate authority with a server and a client
// certificate, written as PEM files in dir under the names nbdkit's
// --tls-certificates expects (ca-cert.pem, server-cert.pem,
// server-key.pem), plus client-cert.pem and client-key.pem.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	p := &pki{dir: filepath.Join(t.TempDir(), name)}
	if err := os.Mkdir(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.serial = 1
	writePEM(t, filepath.Join(p.dir, "ca-cert.pem"), "CERTIFICATE", der)
	p.issue(t, "server", x509.ExtKeyUsageServerAuth)
	p.issue(t, "client", x509.ExtKeyUsageClientAuth)
	return p
}

// issue writes NAME-cert.pem and NAME-key.pem: a certificate for
// localhost and 127.0.0.1 signed by the CA.
func (p *pki) issue(t *testing.T, name string, usage x509.ExtKeyUsage) {
	t.Helper()
	key := newKey(t)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, name+"-cert.pem"), "CERTIFICATE", der)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, name+"-key.pem"), "PRIVATE KEY", kb)
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func dialErr(t *testing.T, uri string, opts Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, uri, opts)
	if err == nil {
		c.Close()
		t.Fatalf("Dial(%s) succeeded", uri)
	}
	t.Log(err)
	return err
}

func TestTLS(t *testing.T) {
	want := pattern(1<<20+5, 11)
	file := writeFile(t, "disk.img", want)
	p := newPKI(t, "good")
	other := newPKI(t, "other")

	for _, unix := range []bool{true, false} {
		t.Run(map[bool]string{true: "unix", false: "tcp"}[unix], func(t *testing.T) {
			s := startNbdkit(t, unix, []string{"-r", "--tls=require", "--tls-certificates=" + p.dir}, "file", file)
			c := dial(t, s.exportURI("", true), Options{TLSCA: p.path("ca-cert.pem")})
			info := c.Info()
			if !info.TLS || !strings.HasPrefix(info.TLSVersion, "TLS 1.") || !info.StructuredReplies {
				t.Fatalf("Info() = %+v", info)
			}
			checkReads(t, c, want)

			// A CA that did not sign the server's certificate.
			err := dialErr(t, s.exportURI("", true), Options{TLSCA: other.path("ca-cert.pem")})
			if !strings.Contains(err.Error(), "certificate") || errors.Is(err, ErrDisconnected) {
				t.Fatalf("Dial with the wrong CA: %v", err)
			}
			// ... unless told not to check.
			c2 := dial(t, s.exportURI("", true), Options{TLSCA: other.path("ca-cert.pem"), TLSInsecure: true})
			checkReads(t, c2, want)
			// A name the certificate does not carry.
			err = dialErr(t, s.exportURI("", true), Options{TLSCA: p.path("ca-cert.pem"), ServerName: "elsewhere.example"})
			if !strings.Contains(err.Error(), "elsewhere.example") {
				t.Fatalf("Dial with the wrong server name: %v", err)
			}
			// Without TLS the server refuses, and says so.
			err = dialErr(t, s.exportURI("", false), Options{})
			if !strings.Contains(err.Error(), "requires TLS: use nbds") {
				t.Fatalf("Dial without TLS: %v", err)
			}
		})
	}

	t.Run("mutual", func(t *testing.T) {
		s := startNbdkit(t, true, []string{"-r", "--tls=require", "--tls-verify-peer", "--tls-certificates=" + p.dir}, "file", file)
		uri := s.exportURI("", true)
		c := dial(t, uri, Options{TLSCA: p.path("ca-cert.pem"), TLSCert: p.path("client-cert.pem"), TLSKey: p.path("client-key.pem")})
		checkReads(t, c, want)
		for _, opts := range []Options{
			{TLSCA: p.path("ca-cert.pem")},
			{TLSCA: p.path("ca-cert.pem"), TLSCert: other.path("client-cert.pem"), TLSKey: other.path("client-key.pem")},
		} {
			if err := dialErr(t, uri, opts); !strings.Contains(err.Error(), "client certificate") {
				t.Fatalf("Dial(%+v): %v", opts, err)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		s := startNbdkit(t, true, []string{"-r"}, "file", file)
		err := dialErr(t, s.exportURI("", true), Options{TLSCA: p.path("ca-cert.pem")})
		if !strings.Contains(err.Error(), "nbds+unix:// requires it") {
			t.Fatalf("Dial with TLS to a server without: %v", err)
		}
	})

	t.Run("options", func(t *testing.T) {
		for _, tt := range []struct {
			opts Options
			want string
		}{
			{Options{TLSCA: p.path("missing.pem")}, "no such file"},
			{Options{TLSCA: p.path("client-key.pem")}, "holds no PEM certificate"},
			{Options{TLSCert: p.path("client-cert.pem")}, "without its key"},
			{Options{TLSKey: p.path("client-key.pem")}, "without its certificate"},
			{Options{TLSCert: p.path("client-cert.pem"), TLSKey: p.path("server-key.pem")}, "private key does not match"},
		} {
			err := dialErr(t, "nbds://127.0.0.1:1/x", tt.opts)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial(%+v): %v; want %q", tt.opts, err, tt.want)
			}
		}
	})
}
