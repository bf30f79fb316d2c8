package login_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

const encryptionPolicy = "methods: {password: true, password_encryption: true}\n"

// hasChallenge reports whether a page offers the encrypted form.
func hasChallenge(page string) bool {
	_, ok := gatewaytest.PageChallenge(page)
	return ok
}

// TestEncryptedLoginPage: with the policy on, the login page carries a
// challenge, the public key and the encryption script (beside the form's
// own login.js), each allowed by its hash in the CSP and nowhere else;
// the password field has no name, is not a password input and is off for
// autocomplete; there is a noscript message; the page is not cached.
// Logging in with the encrypted form works. With the policy off, the
// page is the plain form with login.js alone.
func TestEncryptedLoginPage(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: encryptionPolicy})
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	resp, page := b.Get(t, "/.gatehouse/login")
	csp := resp.Header.Get("Content-Security-Policy")
	if want := "script-src '" + web.ScriptHash() + "' '" + web.LoginScriptHash() + "'"; !strings.HasSuffix(csp, want) || strings.Contains(csp, "unsafe") || strings.Count(csp, "script-src") != 1 {
		t.Errorf("CSP %q, want %q (pwcrypt.js and login.js) and nothing unsafe", csp, want)
	}
	if !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q lost default-src 'none'", csp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	for _, want := range []string{`<input id="password" type="text" class="masked" autocomplete="off"`, `<noscript>`,
		`integrity="` + web.ScriptHash() + `"`, `<form method="post" action="/.gatehouse/login" autocomplete="off" id="login-form"`} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if strings.Contains(page, `name="password"`) || strings.Contains(page, `type="password"`) {
		t.Errorf("login page has a password field a browser would submit or save:\n%s", page)
	}
	src := regexp.MustCompile(`<script src="([^"]+)"`).FindStringSubmatch(page)
	if src == nil {
		t.Fatal("no script tag")
	}
	sresp, script := b.Get(t, html.UnescapeString(src[1]))
	sum := sha256.Sum256([]byte(script))
	if sresp.StatusCode != 200 || "sha256-"+base64.StdEncoding.EncodeToString(sum[:]) != web.ScriptHash() ||
		!strings.HasPrefix(sresp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("script: %d %s, its hash is not the page's", sresp.StatusCode, sresp.Header.Get("Content-Type"))
	}

	resp, body := b.Do(t, "POST", "/.gatehouse/login", gatewaytest.EncryptedForm(t, page, "alice", alicePW))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("encrypted login: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := b.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("after login: %d %q", resp.StatusCode, body)
	}
	// The logout page, like every other page, allows no script.
	if resp, _ := b.Get(t, "/.gatehouse/logout"); strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("logout page CSP %q allows a script", resp.Header.Get("Content-Security-Policy"))
	}

	// With the policy off, the form's own script (show password, the
	// caps-lock hint, the remembered username) is the page's only one.
	g.SetPolicy(t, "methods: {password: true, password_encryption: false}\n")
	resp, page = gatewaytest.NewBrowser(g.URL).Get(t, "/.gatehouse/login")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; script-src '"+web.LoginScriptHash()+"'") ||
		strings.Contains(csp, web.ScriptHash()) || strings.Count(page, "<script") != 1 || strings.Contains(page, "pwcrypt") ||
		!strings.Contains(page, `name="password" type="password"`) {
		t.Errorf("policy off: CSP %q, page\n%s\nwant the plain form and login.js alone", csp, page)
	}
}

// TestPlaintextPasswordRefusedWithEncryption: with the policy on, a form
// posting the password in clear (no script, a replayed old form, a
// bot) is refused before any check: 400, no session, an audit event, and
// no lockout counter touched, so the user still logs in after more
// refusals than the lockout allows.
func TestPlaintextPasswordRefusedWithEncryption(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: encryptionPolicy})
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	for range 7 { // the account limit is 5
		resp, body := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {"/"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), "arrived unencrypted") || b.Cookie("gatehouse") != nil {
			t.Fatalf("plaintext password: %d, cookie %v\n%s", resp.StatusCode, b.Cookie("gatehouse"), body)
		}
		if !hasChallenge(body) {
			t.Fatal("the refusal page has no fresh challenge to try again with")
		}
	}
	// Both fields at once is still a password in clear.
	_, page := b.Get(t, "/.gatehouse/login")
	form := gatewaytest.EncryptedForm(t, page, "alice", alicePW)
	form.Set("password", "")
	if resp, _ := b.Do(t, "POST", "/.gatehouse/login", form); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("password_enc with an empty password field: %d, want 400", resp.StatusCode)
	}
	wantAuditReason(t, g, "plaintext_password", 8)
	if resp, body, _ := b.LoginEncrypted(t, "alice", alicePW); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("encrypted login after the refusals: %d\n%s", resp.StatusCode, body)
	}
}

// TestReplayedEncryptedLoginRefused: a captured login POST sent again, by
// another client with no cookies, is refused and gets no session; so is
// a ciphertext for an expired challenge.
func TestReplayedEncryptedLoginRefused(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: encryptionPolicy})
	g.AddUser(t, "alice", alicePW, "sales")
	resp, _, captured := gatewaytest.NewBrowser(g.URL).LoginEncrypted(t, "alice", alicePW)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	mallory := gatewaytest.NewBrowser(g.URL)
	resp, body := mallory.Do(t, "POST", "/.gatehouse/login", captured)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already sent once") || mallory.Cookie("gatehouse") != nil {
		t.Fatalf("replayed login: %d, cookie %v\n%s", resp.StatusCode, mallory.Cookie("gatehouse"), body)
	}
	wantAuditReason(t, g, "challenge_replayed", 1)

	b := gatewaytest.NewBrowser(g.URL)
	_, page := b.Get(t, "/.gatehouse/login")
	form := gatewaytest.EncryptedForm(t, page, "alice", alicePW)
	g.Clock.Advance(pwcrypt.ChallengeTTL)
	g.Refresh(t)
	resp, body = b.Do(t, "POST", "/.gatehouse/login", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "open too long") {
		t.Fatalf("expired challenge: %d\n%s", resp.StatusCode, body)
	}
	// The page that says so carries a fresh challenge that works.
	resp, body = b.Do(t, "POST", "/.gatehouse/login", gatewaytest.EncryptedForm(t, body, "alice", alicePW))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login from the refusal page: %d\n%s", resp.StatusCode, body)
	}
}

// TestEncryptedLoginRefusalsSpendNoAttempts: garbage, altered and
// mismatched ciphertexts are refused (400) without a password check, so
// they lock nobody out; wrong passwords that were decrypted and checked
// count as usual.
func TestEncryptedLoginRefusalsSpendNoAttempts(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: encryptionPolicy})
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	_, page := b.Get(t, "/.gatehouse/login")
	other := gatewaytest.EncryptedForm(t, page, "alice", alicePW)
	for i, mutate := range []func(url.Values){
		func(v url.Values) { v.Set("password_enc", "garbage") },
		func(v url.Values) {
			v.Set("password_enc", v.Get("password_enc")[:200]+"AAAA"+v.Get("password_enc")[204:])
		},
		func(v url.Values) { v.Set("challenge", "AQ") },
		func(v url.Values) { v.Del("challenge") },
		func(v url.Values) { v.Del("password_enc") },
		func(v url.Values) { v.Set("password_enc", other.Get("password_enc")) }, // made for another challenge
	} {
		_, page := b.Get(t, "/.gatehouse/login")
		form := gatewaytest.EncryptedForm(t, page, "alice", alicePW)
		mutate(form)
		resp, body := b.Do(t, "POST", "/.gatehouse/login", form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "could not be read") {
			t.Fatalf("case %d: %d, want 400\n%s", i, resp.StatusCode, body)
		}
	}
	if resp, body, _ := b.LoginEncrypted(t, "alice", alicePW); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after six refusals: %d\n%s", resp.StatusCode, body)
	}
	b = gatewaytest.NewBrowser(g.URL)
	for i := range 5 {
		if resp, body, _ := b.LoginEncrypted(t, "alice", "wrong password"); resp.StatusCode != http.StatusUnauthorized || !hasChallenge(body) {
			t.Fatalf("wrong password %d: %d, want 401 and a fresh form", i, resp.StatusCode)
		}
	}
	if resp, _, _ := b.LoginEncrypted(t, "alice", alicePW); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after five checked wrong passwords: %d, want 429 (locked out)", resp.StatusCode)
	}
}

// failingNonces is the memory store with PutOnce down, as Redis is in an
// outage; everything else works.
type failingNonces struct {
	session.Backend
	down atomic.Bool
}

func (s *failingNonces) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if s.down.Load() {
		return false, errors.Join(session.ErrUnavailable, io.ErrUnexpectedEOF)
	}
	return s.Backend.PutOnce(ctx, key, value, ttl)
}

// TestEncryptedLoginStoreOutageFailsClosed: when the challenge cannot be
// spent in the shared store, the login is refused with 503, never let
// through unchecked for replay; the same ciphertext works once the store
// is back.
func TestEncryptedLoginStoreOutageFailsClosed(t *testing.T) {
	st := &failingNonces{Backend: memory.New(nil)}
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: encryptionPolicy, Store: st})
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	_, page := b.Get(t, "/.gatehouse/login")
	form := gatewaytest.EncryptedForm(t, page, "alice", alicePW)
	st.down.Store(true)
	resp, body := b.Do(t, "POST", "/.gatehouse/login", form)
	if resp.StatusCode != http.StatusServiceUnavailable || b.Cookie("gatehouse") != nil {
		t.Fatalf("store down: %d\n%s", resp.StatusCode, body)
	}
	st.down.Store(false)
	if resp, body = b.Do(t, "POST", "/.gatehouse/login", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("store back: %d\n%s", resp.StatusCode, body)
	}
}

// wantAuditReason checks the directory's audit log holds n login
// failures with reason.
func wantAuditReason(t *testing.T, g *gatewaytest.Gateway, reason string, n int) {
	t.Helper()
	events, err := g.Dir.QueryAudit(t.Context(), directory.AuditQuery{Event: audit.LoginFailure, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range events {
		if e.Detail["reason"] == reason && e.Detail["method"] == "password" {
			got++
		}
	}
	if got != n {
		t.Fatalf("audit: %d login failures with reason %s, want %d", got, reason, n)
	}
}
