package apilogin

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// ErrUnavailable means the endpoint could not be asked or gave no usable
// answer; nothing about the credentials was learnt.
var ErrUnavailable = errors.New("apilogin: could not check the credentials")

// Header names of the signed request.
const (
	HeaderTimestamp = "X-Gatehouse-Timestamp"
	// HeaderSignature is "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body).
	HeaderSignature = "X-Gatehouse-Signature"
)

// Request is the JSON body sent to the endpoint.
type Request struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	ClientIP  string `json:"client_ip"`
	RequestID string `json:"request_id"`
}

// Answer is the endpoint's reply.
type Answer struct {
	Valid bool   `json:"valid"`
	Email string `json:"email"`
}

// Client asks one endpoint.
type Client struct {
	url    string
	secret []byte
	http   *http.Client
	now    func() time.Time
}

// NewClient builds the HTTP client a section describes: TLS 1.2 or
// newer, its own roots and client certificate when given, no redirects,
// bounded connect and total time.
func NewClient(s *Section) (*Client, error) {
	secret, err := s.readSecret()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", s.CAFile)
		}
	}
	if s.ClientCertFile != "" {
		cert, err := s.clientCertificate()
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DialContext:         (&net.Dialer{Timeout: s.Timeout / 2}).DialContext,
		TLSHandshakeTimeout: s.Timeout / 2,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     60 * time.Second,
		ForceAttemptHTTP2:   true,
		Proxy:               nil, // the password goes to the endpoint, not through a proxy the environment names
	}
	return &Client{url: s.URL, secret: secret, now: time.Now, http: &http.Client{
		Transport: tr,
		Timeout:   s.Timeout,
		// A redirect could send the password elsewhere: never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Sign returns the signature header value for body at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Trace is what a check saw, for `gatehouse provider test`; never the
// password.
type Trace struct {
	Status      int
	TLSVersion  string
	Cipher      string
	PeerSubject string
	Elapsed     time.Duration
}

// Check asks the endpoint. It returns the answer, or an error wrapping
// ErrUnavailable when there is no usable one.
func (c *Client) Check(ctx context.Context, username, password, clientIP string) (Answer, Trace, error) {
	var tr Trace
	idb := make([]byte, 16)
	rand.Read(idb)
	body, err := json.Marshal(Request{Username: username, Password: password, ClientIP: clientIP, RequestID: hex.EncodeToString(idb)})
	if err != nil {
		return Answer{}, tr, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, tr, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(c.secret, ts, body))
	start := time.Now()
	resp, err := c.http.Do(req)
	tr.Elapsed = time.Since(start)
	if err != nil {
		// The error names the URL and the cause, never the body.
		return Answer{}, tr, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	tr.Status = resp.StatusCode
	if cs := resp.TLS; cs != nil {
		tr.TLSVersion, tr.Cipher = tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
		if len(cs.PeerCertificates) > 0 {
			tr.PeerSubject = cs.PeerCertificates[0].Subject.String()
		}
	}
	if resp.StatusCode != http.StatusOK {
		return Answer{}, tr, fmt.Errorf("%w: the endpoint answered %d", ErrUnavailable, resp.StatusCode)
	}
	var a Answer
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<10))
	if err := dec.Decode(&a); err != nil {
		return Answer{}, tr, fmt.Errorf("%w: the endpoint's answer is not the expected JSON: %v", ErrUnavailable, err)
	}
	if a.Valid && a.Email == "" {
		return Answer{}, tr, fmt.Errorf("%w: the endpoint said valid but named no email", ErrUnavailable)
	}
	return a, tr, nil
}
