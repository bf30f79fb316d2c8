package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/apilogin"
)

// testCA issues certificates for the API provider tests, generated at
// test time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf for 127.0.0.1 (server) or a client, as a
// tls.Certificate and PEM files.
func (ca *testCA) issue(t *testing.T, cn string, client bool) (tls.Certificate, string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, writeFile(t, cn+".crt", string(certPEM)), writeFile(t, cn+".key", string(keyPEM))
}

// passwordEndpoint is a customer's password-checking endpoint over real
// HTTPS: it verifies the gateway's signature and answers from its users.
type passwordEndpoint struct {
	*httptest.Server
	secret  string
	mode    atomic.Value // "ok", "down", "redirect", "other_email"
	calls   atomic.Int64
	mu      sync.Mutex
	lastReq apilogin.Request
}

var endpointUsers = map[string]struct{ pw, email string }{
	"carol": {"carol-endpoint-pw", "carol@corp.example"},
	"bob":   {"bob-endpoint-pw", "bob@corp.example"},
}

func startPasswordEndpoint(t *testing.T, ca *testCA, clientCA *testCA, redirectTo string) *passwordEndpoint {
	t.Helper()
	e := &passwordEndpoint{secret: "endpoint-secret-" + strings.Repeat("s", 32)}
	e.mode.Store("ok")
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get(apilogin.HeaderTimestamp)
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if r.Header.Get(apilogin.HeaderSignature) != apilogin.Sign([]byte(e.secret), ts, body) || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var req apilogin.Request
		json.Unmarshal(body, &req)
		e.mu.Lock()
		e.lastReq = req
		e.mu.Unlock()
		switch e.mode.Load() {
		case "down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		case "redirect":
			http.Redirect(w, r, redirectTo, http.StatusTemporaryRedirect)
			return
		}
		u, ok := endpointUsers[req.Username]
		ans := apilogin.Answer{Valid: ok && u.pw == req.Password, Email: u.email}
		if e.mode.Load() == "other_email" {
			ans.Email = "dave@corp.example"
		}
		if !ans.Valid {
			ans.Email = ""
		}
		json.NewEncoder(w).Encode(ans)
	}))
	pair, _, _ := ca.issue(t, "endpoint", false)
	e.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.cert)
		e.TLS.ClientCAs, e.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	e.StartTLS()
	t.Cleanup(e.Close)
	return e
}

func (e *passwordEndpoint) providerConfig(t *testing.T, ca *testCA, extra string) string {
	return fmt.Sprintf("providers:\n  - {id: corp-api, type: api, url: %q, secret_file: %s, ca_file: %s, timeout: 2s%s}\n",
		e.URL+"/check", writeFile(t, "api-secret", e.secret), writeFile(t, "ca.pem", string(ca.pem)), extra)
}

// TestAPIProviderLogin: the login form's password goes to the endpoint
// for a user without a local password; the identity is the directory
// user the answer names, and 2FA, sessions and headers follow as for a
// local password.
func TestAPIProviderLogin(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	e := startPasswordEndpoint(t, ca, nil, "")
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, e.providerConfig(t, ca, "")+"login: {account_attempts: 3}\n"), newClock())
	if code, out := runCLI(t, r, "user", "add", "--username", "carol", "--email", "carol@corp.example", "--role", "sales"); code != 0 {
		t.Fatal(out)
	}
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "dave", alicePW, "sales")

	b := newBrowser(t, r.URL)
	if resp := b.Login(t, "carol", "carol-endpoint-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login through the endpoint: %d", resp.StatusCode)
	}
	if resp, body := b.Get(t, "/"); resp.StatusCode != 200 || body != "crm:carol" || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "api" {
		t.Fatalf("after login: %d %q %q", resp.StatusCode, body, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
	e.mu.Lock()
	if e.lastReq.ClientIP != "127.0.0.1" || e.lastReq.RequestID == "" {
		t.Fatalf("endpoint saw %+v", e.lastReq)
	}
	e.mu.Unlock()
	// alice has a local password: it is checked locally, as before.
	if resp := newBrowser(t, r.URL).Login(t, "alice", alicePW); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("local password: %d", resp.StatusCode)
	}

	login := func(user, pw string) int {
		resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", map[string][]string{"username": {user}, "password": {pw}, "rd": {"/"}})
		return resp.StatusCode
	}
	t.Run("endpoint down: refused as unavailable, never counted, user unchanged", func(t *testing.T) {
		before, _ := r.a.dir.UserByUsername(t.Context(), "carol")
		e.mode.Store("down")
		for range 6 {
			if code := login("carol", "carol-endpoint-pw"); code != http.StatusServiceUnavailable {
				t.Fatalf("endpoint down: %d", code)
			}
		}
		e.mode.Store("ok")
		if code := login("carol", "carol-endpoint-pw"); code != http.StatusSeeOther {
			t.Fatalf("after the outage (3 attempts allowed, 6 outage tries made): %d", code)
		}
		after, _ := r.a.dir.UserByUsername(t.Context(), "carol")
		if after.Disabled || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("the outage changed the user: %+v", after)
		}
	})
	t.Run("another user's email is refused", func(t *testing.T) {
		e.mode.Store("other_email")
		defer e.mode.Store("ok")
		if code := login("carol", "carol-endpoint-pw"); code != http.StatusUnauthorized {
			t.Fatalf("answer naming dave: %d", code)
		}
	})
	t.Run("redirect is not followed", func(t *testing.T) {
		var hit atomic.Bool
		other := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
		defer other.Close()
		e2 := startPasswordEndpoint(t, ca, nil, other.URL+"/steal")
		e2.mode.Store("redirect")
		r2 := startReplica(t, sqliteConfig(t, up, e2.providerConfig(t, ca, "")), newClock())
		runCLI(t, r2, "user", "add", "--username", "carol", "--email", "carol@corp.example", "--role", "sales")
		resp, _ := newBrowser(t, r2.URL).Do(t, "POST", "/.gatehouse/login", map[string][]string{"username": {"carol"}, "password": {"carol-endpoint-pw"}, "rd": {"/"}})
		if resp.StatusCode != http.StatusServiceUnavailable || hit.Load() {
			t.Fatalf("redirect: %d, redirect target hit: %v", resp.StatusCode, hit.Load())
		}
	})
	t.Run("wrong password counts and locks", func(t *testing.T) {
		for i := range 3 {
			if code := login("carol", "wrong"); code != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d", i, code)
			}
		}
		if code := login("carol", "carol-endpoint-pw"); code != http.StatusTooManyRequests {
			t.Fatalf("after 3 failures: %d, want locked", code)
		}
	})
	if strings.Contains(r.stderr.String(), "carol-endpoint-pw") {
		t.Error("the password sent to the endpoint appears in the gateway's log")
	}
	events, _ := r.a.dir.ListAudit(t.Context(), 200)
	found := false
	for _, ev := range events {
		found = found || ev.Event == "login_failure" && ev.Detail["method"] == "api" && ev.Detail["reason"] == "email_mismatch"
	}
	if !found {
		t.Error("no login_failure event with method api and reason email_mismatch")
	}
}

// TestAPIProviderMutualTLSAndTest: an endpoint that demands a client
// certificate accepts the configured one; `provider test` reports TLS,
// status and the answer, never the password.
func TestAPIProviderMutualTLSAndTest(t *testing.T) {
	ca, clientCA := newTestCA(t, "Server CA"), newTestCA(t, "Client CA")
	e := startPasswordEndpoint(t, ca, clientCA, "")
	_, crt, key := clientCA.issue(t, "gatehouse-client", true)
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, e.providerConfig(t, ca, fmt.Sprintf(", client_cert_file: %s, client_key_file: %s", crt, key))+
		"policy: {methods: {password: false}}\n"), newClock())
	// With the local password off, everyone goes to the endpoint, even a
	// user who has a local password.
	r.addUser(t, "bob", alicePW, "sales")
	if resp := newBrowser(t, r.URL).Login(t, "bob", "bob-endpoint-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("mTLS login: %d", resp.StatusCode)
	}
	code, out := runCLIStdin(t, r, "carol-endpoint-pw\n", "provider", "test", "corp-api", "--username", "carol", "--password-stdin")
	if code != 0 || !strings.Contains(out, "result:   valid, email carol@corp.example") || !strings.Contains(out, "tls:      TLS 1.3") ||
		!strings.Contains(out, "status:   200") || strings.Contains(out, "carol-endpoint-pw") {
		t.Fatalf("provider test: %d\n%s", code, out)
	}

	// The same endpoint without the client certificate: could not check.
	r2 := startReplica(t, sqliteConfig(t, up, e.providerConfig(t, ca, "")+"policy: {methods: {password: false}}\n"), newClock())
	r2.addUser(t, "bob", alicePW, "sales")
	resp, _ := newBrowser(t, r2.URL).Do(t, "POST", "/.gatehouse/login", map[string][]string{"username": {"bob"}, "password": {"bob-endpoint-pw"}, "rd": {"/"}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("without the client certificate: %d", resp.StatusCode)
	}
	_ = os.Remove(filepath.Join(t.TempDir(), "x"))
}
