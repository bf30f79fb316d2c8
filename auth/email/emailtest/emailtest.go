// Package emailtest runs a real SMTP server for tests
// (github.com/emersion/go-smtp) on 127.0.0.1: STARTTLS with a certificate
// from a CA made at start, AUTH PLAIN with a password made at start, and
// every accepted message kept for the test to read. Nothing is stubbed:
// the gateway's sender speaks the protocol to it as to a real relay.
package emailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one accepted message.
type Received struct {
	From string
	To   []string
	Data []byte
}

// Body is the message's text as a mail client shows it: the body after
// the headers, its quoted-printable or base64 transfer encoding undone.
func (r Received) Body() string {
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return string(r.Data)
	}
	var body io.Reader = m.Body
	switch strings.ToLower(m.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, _ := io.ReadAll(body)
	return string(b)
}

// Header is one header of the message.
func (r Received) Header(name string) string {
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return ""
	}
	return m.Header.Get(name)
}

// Server is a running SMTP server.
type Server struct {
	Host string // 127.0.0.1
	Port int
	// CAFile is the PEM of the CA that signed the server's certificate
	// (for email.smtp.ca_file).
	CAFile string
	// Username and PasswordFile (mode 0600) are the login it accepts.
	Username, Password, PasswordFile string

	srv      *smtp.Server
	mu       sync.Mutex
	received []Received
	arrived  chan struct{}
	// Fail, when set, makes DATA refuse every message.
	fail bool
}

// Options change the server.
type Options struct {
	// NoTLS: no STARTTLS offered (to show the sender refuses to go on).
	NoTLS bool
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Username: "gatehouse", Password: rand.Text(), arrived: make(chan struct{}, 100)}
	s.PasswordFile = filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(s.PasswordFile, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	if !o.NoTLS {
		cert, caPEM := certificate(t)
		s.CAFile = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(s.CAFile, caPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		// Only so that a sender which wrongly goes on without TLS gets as
		// far as logging in, and the test sees that it did not.
		srv.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.srv = srv
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Config is the gateway's email section for this server, in YAML flow
// form under the key email.
func (s *Server) Config(from string) string {
	tlsMode, ca := "starttls", ""
	if s.CAFile == "" {
		tlsMode = "none"
	} else {
		ca = fmt.Sprintf(", ca_file: %q", s.CAFile)
	}
	return fmt.Sprintf("email:\n  smtp: {host: %s, port: %d, tls: %s, username: %s, password_file: %q, from: %q%s}\n",
		s.Host, s.Port, tlsMode, s.Username, s.PasswordFile, from, ca)
}

// Messages returns what was accepted so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Wait returns the n-th accepted message (from 1), waiting up to 10 s.
func (s *Server) Wait(t testing.TB, n int) Received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := s.Messages(); len(m) >= n {
			return m[n-1]
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("no message %d within 10s (%d arrived)", n, len(s.Messages()))
		}
	}
}

// SetFailing makes the server refuse (true) or accept (false) messages.
func (s *Server) SetFailing(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.Username || password != x.s.Password {
			return errors.New("invalid credentials")
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if !x.authed {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.fail {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	x.s.received = append(x.s.received, Received{From: x.from, To: x.to, Data: data})
	select {
	case x.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// certificate makes a CA and a server certificate for 127.0.0.1 and
// localhost; it returns the pair and the CA's PEM.
func certificate(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "emailtest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
