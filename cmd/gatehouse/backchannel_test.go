package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// postLogout is the provider's back-channel POST of a logout token.
func postLogout(t *testing.T, base, provider string, form url.Values) (int, string, http.Header) {
	t.Helper()
	resp, err := http.PostForm(base+"/.gatehouse/oidc/"+provider+"/backchannel-logout", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// idpSession makes the test provider put sid in the ID tokens it issues
// from now on, as a provider does for each of its sessions.
func idpSession(idp *oidctest.Provider, sid string) {
	idp.Set(func(k *oidctest.Knobs) { k.User.Extra = map[string]any{"sid": sid} })
}

// waitRefused waits (up to a second: the invalidation channel's bound)
// until b's session is refused.
func waitRefused(t *testing.T, b *browser, where string) {
	t.Helper()
	start := time.Now()
	for {
		resp, _ := b.Get(t, "/")
		if resp.StatusCode != http.StatusOK {
			wantLoginRedirect(t, resp, "")
			return
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%s still accepts the session 1s after the back-channel logout", where)
		}
	}
}

// TestBackchannelLogoutEndsSessionOnEveryReplica: two replicas on
// PostgreSQL and Redis; a logout token for one provider session (sid),
// posted to the replica the browser never used, ends that session on
// both, leaves the user's other provider session alone, and cannot be
// replayed; a token naming only the subject then ends every session of
// the user, through the revocation path, on both replicas.
func TestBackchannelLogoutEndsSessionOnEveryReplica(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	addr, prefix := storetest.RedisAddr(t), storetest.RedisPrefix(t)
	lnA := listenLocal(t)
	idp := oidctest.New(t, oidctest.WithRedirectURL("http://"+lnA.Addr().String()+"/.gatehouse/oidc/corp/callback"))
	cfg := productionConfig(t, dsn, addr, prefix, startUpstream(t)) +
		fmt.Sprintf("providers:\n  - {id: corp, type: oidc, label: Corp SSO, issuer: %q, client_id: %q, client_secret: %q, backchannel_logout: true}\n",
			idp.Issuer, idp.ClientID, idp.ClientSecret)
	clk := newClock()
	a := startReplicaOn(t, lnA, cfg, clk)
	b := startReplica(t, cfg, clk)
	a.addUser(t, "alice", alicePW, "sales")
	if !strings.Contains(a.stderr.String(), "/.gatehouse/oidc/corp/backchannel-logout") {
		t.Errorf("the start-up log does not give the URL to register:\n%s", a.stderr)
	}

	// Two logins of alice at the provider: sessions idp-1 and idp-2.
	login := func(sid string) (onA, onB *browser) {
		idpSession(idp, sid)
		onA = newBrowser(t, a.URL)
		if resp, body, _ := oidcLogin(t, onA, idp, "/"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("OIDC login: %d\n%s", resp.StatusCode, body)
		}
		onB = newBrowser(t, b.URL)
		onB.SetCookie("gatehouse", onA.Cookie("gatehouse").Value)
		for _, br := range []*browser{onA, onB} {
			if resp, _ := br.Get(t, "/"); resp.StatusCode != http.StatusOK {
				t.Fatalf("session %s refused before any logout: %d", sid, resp.StatusCode)
			}
		}
		return onA, onB
	}
	firstA, firstB := login("idp-1")
	secondA, secondB := login("idp-2")

	tok := idp.LogoutToken(t, oidctest.Logout{Subject: "user-1", SessionID: "idp-1"})
	code, body, h := postLogout(t, b.URL, "corp", url.Values{"logout_token": {tok}})
	if code != http.StatusOK || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("valid logout token: %d %q (Cache-Control %q), want 200 no-store", code, body, h.Get("Cache-Control"))
	}
	waitRefused(t, firstA, "replica A")
	waitRefused(t, firstB, "replica B")
	for _, br := range []*browser{secondA, secondB} {
		if resp, _ := br.Get(t, "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("the session of another provider session ended too: %d", resp.StatusCode)
		}
	}
	wantAudit(t, a, "session_revoked", "")

	// The same token again, on either replica: a replay.
	for _, r := range []*replica{a, b} {
		if code, body, h := postLogout(t, r.URL, "corp", url.Values{"logout_token": {tok}}); code != http.StatusBadRequest ||
			strings.TrimSpace(body) != `{"error":"invalid_request"}` || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("replayed token: %d %q", code, body)
		}
	}

	// Only the subject: every session of alice ends, on both replicas.
	tok = idp.LogoutToken(t, oidctest.Logout{Subject: "user-1"})
	if code, body, _ := postLogout(t, a.URL, "corp", url.Values{"logout_token": {tok}}); code != http.StatusOK {
		t.Fatalf("sub-only logout token: %d %q", code, body)
	}
	a.refresh(t)
	b.refresh(t)
	waitRefused(t, secondA, "replica A")
	waitRefused(t, secondB, "replica B")
}

// TestBackchannelLogoutSessionMatching: a token naming nobody known ends
// nothing and gets 200; one that names only the provider session finds
// its user and ends that session; one with sub and a sid ends the user's
// sessions of that provider that recorded no sid (the ID token had
// none).
func TestBackchannelLogoutSessionMatching(t *testing.T) {
	r, _, idp := oidcReplica(t, ", backchannel_logout: true")
	r.addUser(t, "alice", alicePW, "sales")
	idpSession(idp, "idp-7")
	withSID := newBrowser(t, r.URL)
	if resp, _, _ := oidcLogin(t, withSID, idp, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	idp.Set(func(k *oidctest.Knobs) { k.User.Extra = nil })
	withoutSID := newBrowser(t, r.URL)
	if resp, _, _ := oidcLogin(t, withoutSID, idp, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	post := func(l oidctest.Logout) {
		t.Helper()
		if code, body, _ := postLogout(t, r.URL, "corp", url.Values{"logout_token": {idp.LogoutToken(t, l)}}); code != http.StatusOK {
			t.Fatalf("token %+v: %d %q, want 200", l, code, body)
		}
	}
	alive := func(b *browser, what string) {
		t.Helper()
		if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s ended: %d", what, resp.StatusCode)
		}
	}
	post(oidctest.Logout{Subject: "someone-else"})
	post(oidctest.Logout{SessionID: "idp-unknown"})
	alive(withSID, "a session, by a token for nobody known,")
	alive(withoutSID, "a session, by a token for nobody known,")

	post(oidctest.Logout{SessionID: "idp-7"})
	waitRefused(t, withSID, "the replica")
	alive(withoutSID, "the session without a sid, by a sid-only token,")

	post(oidctest.Logout{Subject: "user-1", SessionID: "idp-8"})
	waitRefused(t, withoutSID, "the replica")
}

// TestBackchannelLogoutAttacks: every token Back-Channel Logout §2.6 says
// to refuse gets 400 {"error":"invalid_request"} with no-store and ends
// nothing; malformed requests too; a provider without
// backchannel_logout: true has no such endpoint.
func TestBackchannelLogoutAttacks(t *testing.T) {
	r, _, idp := oidcReplica(t, ", backchannel_logout: true")
	r.addUser(t, "alice", alicePW, "sales")
	idpSession(idp, "idp-1")
	br := newBrowser(t, r.URL)
	if resp, _, _ := oidcLogin(t, br, idp, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	now := time.Now()
	bad := map[string]oidctest.Logout{
		"wrong issuer":                {Subject: "user-1", Claims: map[string]any{"iss": "https://evil.example"}},
		"wrong audience":              {Subject: "user-1", Claims: map[string]any{"aud": "someone-else"}},
		"nonce present":               {Subject: "user-1", Claims: map[string]any{"nonce": "abc"}},
		"missing events":              {Subject: "user-1", Claims: map[string]any{"events": nil}},
		"expired iat":                 {Subject: "user-1", Claims: map[string]any{"iat": now.Add(-time.Hour).Unix()}},
		"expired exp":                 {Subject: "user-1", Claims: map[string]any{"exp": now.Add(-time.Minute).Unix()}},
		"unsigned (alg none)":         {Subject: "user-1", Alg: "none"},
		"signed with the secret":      {Subject: "user-1", Alg: "HS256"},
		"key not the provider's":      {Subject: "user-1", UnknownKey: true},
		"neither sub nor sid":         {},
		"access token typ":            {Subject: "user-1", Typ: "at+jwt"},
		"other provider session only": {SessionID: "idp-unknown", Claims: map[string]any{"iss": "https://evil.example"}},
	}
	for name, l := range bad {
		code, body, h := postLogout(t, r.URL, "corp", url.Values{"logout_token": {idp.LogoutToken(t, l)}})
		if code != http.StatusBadRequest || strings.TrimSpace(body) != `{"error":"invalid_request"}` || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %q (Cache-Control %q), want 400 invalid_request no-store", name, code, body, h.Get("Cache-Control"))
		}
	}
	good := idp.LogoutToken(t, oidctest.Logout{Subject: "user-1", SessionID: "idp-1"})
	for name, form := range map[string]url.Values{
		"no token":   {},
		"two tokens": {"logout_token": {good, good}},
		"empty":      {"logout_token": {""}},
	} {
		if code, body, _ := postLogout(t, r.URL, "corp", form); code != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", name, code, body)
		}
	}
	resp, err := http.Post(r.URL+"/.gatehouse/oidc/corp/backchannel-logout", "application/json", strings.NewReader(`{"logout_token":"`+good+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON body: %d, want 400", resp.StatusCode)
	}
	if resp, _ := br.Get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a refused token ended the session: %d", resp.StatusCode)
	}
	if code, _, _ := postLogout(t, r.URL, "other", url.Values{"logout_token": {good}}); code != http.StatusNotFound {
		t.Errorf("unknown provider: %d, want 404", code)
	}
	// The good token still works after all that: nothing consumed it.
	if code, body, _ := postLogout(t, r.URL, "corp", url.Values{"logout_token": {good}}); code != http.StatusOK {
		t.Fatalf("valid token: %d %q", code, body)
	}
	waitRefused(t, br, "the replica")

	off, _, idpOff := oidcReplica(t, "")
	tok := idpOff.LogoutToken(t, oidctest.Logout{Subject: "user-1"})
	if code, _, _ := postLogout(t, off.URL, "corp", url.Values{"logout_token": {tok}}); code != http.StatusNotFound {
		t.Errorf("provider without backchannel_logout: %d, want 404", code)
	}
}
