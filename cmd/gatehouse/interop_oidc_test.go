package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// systemPython is Debian's interpreter, which has python3-authlib and
// python3-flask; a python3 earlier on PATH (pyenv) may lack them.
const systemPython = "/usr/bin/python3"

// authlibOP is an OpenID Provider built on Debian's python3-authlib,
// running testdata/interop/authlib_op.py as a subprocess.
type authlibOP struct {
	Issuer string
	log    *syncBuffer
}

// requireAuthlib skips the test when authlib or flask is missing, except
// under CI, where .ci/ensure-services.sh installs them and absence is a
// failure.
func requireAuthlib(t *testing.T) {
	t.Helper()
	out, err := exec.Command(systemPython, "-c", "import authlib, flask").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s cannot import authlib and flask (run .ci/ensure-services.sh): %v\n%s", systemPython, err, out)
	}
	t.Skipf("%s cannot import authlib and flask (apt-get install python3-authlib python3-flask): %v", systemPython, err)
}

// startAuthlibOP starts the provider for one client and one user and
// waits, bounded, for it to listen. authMethods is the comma-separated
// list of token endpoint auth methods it offers ("" for both secrets).
func startAuthlibOP(t *testing.T, clientID, secret, redirect, authMethods string, user map[string]any) *authlibOP {
	t.Helper()
	claims, err := json.Marshal(user)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join("testdata", "interop", "authlib_op.py"), "0", clientID, secret, redirect, string(claims)}
	if authMethods != "" {
		args = append(args, authMethods)
	}
	cmd := exec.Command(systemPython, args...)
	ready := &readyWriter{ch: make(chan string, 1)}
	op := &authlibOP{log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = ready, op.log
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	select {
	case line := <-ready.ch:
		var port int
		if _, err := fmt.Sscanf(line, "READY %d", &port); err != nil {
			t.Fatalf("authlib provider said %q, want READY <port>\n%s", line, op.log)
		}
		op.Issuer = fmt.Sprintf("http://127.0.0.1:%d", port)
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("authlib provider exited before it was ready: %v\n%s", err, op.log)
	case <-time.After(10 * time.Second):
		t.Fatalf("authlib provider not ready within 10s\n%s", op.log)
	}
	return op
}

// readyWriter is the provider's stdout: it hands over the first line.
type readyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
	ch   chan string
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if line, _, found := bytes.Cut(w.buf.Bytes(), []byte("\n")); found {
		w.once.Do(func() { w.ch <- string(line) })
	}
	return len(p), nil
}

// TestOIDCInteropAuthlib logs in through an OpenID Provider nobody on this
// project wrote: authlib's authorization code grant with PKCE (S256
// enforced) and OpenID Connect (nonce required, RS256 ID token with
// at_hash), for each way the gateway may authenticate to its token
// endpoint.
func TestOIDCInteropAuthlib(t *testing.T) {
	requireAuthlib(t)
	user := map[string]any{"sub": "authlib-alice-1", "email": "alice@corp.example", "email_verified": true, "name": "Alice Example"}
	for _, tc := range []struct {
		name, authMethods, secret string
	}{
		{"client_secret_basic", "", "s3cret-authlib-interop"},
		{"client_secret_post", "client_secret_post", "s3cret-authlib-interop"},
		// A base64-style secret survives form encoding in the body.
		{"client_secret_post_reserved_chars", "client_secret_post", "Zm9v+YmFy/YmF6=="},
		// Both advertised, such a secret: the gateway picks the body (authlib
		// 1.2 does not form-decode Basic credentials, RFC 6749 §2.3.1).
		{"client_secret_basic_reserved_chars", "", "Zm9v+YmFy/YmF6=="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
			defer cancel()
			ln := listenLocal(t)
			base := "http://" + ln.Addr().String()
			op := startAuthlibOP(t, "gatehouse-crm", tc.secret, base+"/.gatehouse/oidc/corp/callback", tc.authMethods, user)
			up := startUpstream(t)
			cfg := fmt.Sprintf("upstream: %s\ndirectory: {driver: sqlite, dsn: %s}\nproviders:\n  - {id: corp, type: oidc, label: Corp SSO, issuer: %q, client_id: %q, client_secret: %q}\n",
				up.URL, filepath.Join(t.TempDir(), "data", "d.db"), op.Issuer, "gatehouse-crm", tc.secret)
			r := startReplicaOn(t, ln, cfg, newClock())
			r.addUser(t, "alice", alicePW, "sales")
			b := newBrowser(t, r.URL)

			callback := authlibAuthorize(ctx, t, b, op)
			resp, body := b.Get(t, strings.TrimPrefix(callback, r.URL))
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
				t.Fatalf("callback: got %d %q, want 303 to /accounts/7\n%s\ngateway log:\n%s\nauthlib log:\n%s",
					resp.StatusCode, resp.Header.Get("Location"), body, r.stderr, op.log)
			}
			if resp, _ := b.Get(t, "/accounts/7"); resp.StatusCode != http.StatusOK {
				t.Fatalf("after login: got %d, want 200", resp.StatusCode)
			}
			in := up.Last(t)
			if got, method := in.Header.Get("X-Gatehouse-User"), in.Header.Get("X-Gatehouse-Auth-Method"); got != "alice" || method != "oidc" {
				t.Fatalf("upstream saw user %q via %q, want alice via oidc", got, method)
			}

			// The same browser cannot use the callback twice: the state
			// is burned, whatever authlib would say about the code.
			c := newBrowser(t, r.URL)
			c.Jar = b.Jar
			if resp, _ := c.Get(t, strings.TrimPrefix(callback, r.URL)); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("replayed callback: got %d, want 400", resp.StatusCode)
			}
		})
	}
}

// authlibAuthorize starts the login at the gateway, checks the request it
// builds for the provider, and returns the callback URL authlib's
// (auto-approving) authorize endpoint sends the browser back to.
func authlibAuthorize(ctx context.Context, t *testing.T, b *browser, op *authlibOP) string {
	t.Helper()
	resp, _ := b.Get(t, "/.gatehouse/login/corp?rd="+url.QueryEscape("/accounts/7"))
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(authz.String(), op.Issuer+"/authorize?") {
		t.Fatalf("start: got %d %q, want 302 to %s/authorize", resp.StatusCode, resp.Header.Get("Location"), op.Issuer)
	}
	q := authz.Query()
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(k) == "" {
			t.Fatalf("authorization request has no %s: %s", k, authz)
		}
	}
	if q.Get("code_challenge_method") != "S256" {
		t.Fatalf("code_challenge_method = %q, want S256", q.Get("code_challenge_method"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authz.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ar.Body.Close()
	callback := ar.Header.Get("Location")
	if ar.StatusCode != http.StatusFound || !strings.HasPrefix(callback, b.Base+"/.gatehouse/oidc/corp/callback?") {
		t.Fatalf("authlib authorize: got %d %q, want 302 to the gateway's callback\n%s", ar.StatusCode, callback, op.log)
	}
	return callback
}
