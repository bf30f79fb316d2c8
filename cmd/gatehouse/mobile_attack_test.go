package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/auth/token/client"
)

// rawProof builds a compact JWS from a header and claims, signed by sign
// (nil: no signature, as alg none has).
func rawProof(header, claims map[string]any, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func es256(k *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		r, s, _ := ecdsa.Sign(rand.Reader, k, d[:])
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

func jti() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestMobileProofAttacks tries each forged or misused DPoP proof against
// an API call and the token endpoint; every one is refused, and the
// device's own key still works afterwards.
func TestMobileProofAttacks(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	tokenURL := r.URL + "/.gatehouse/oauth/token"
	apiURL := r.URL + "/leads/1"
	ath := func(tok string) string {
		s := sha256.Sum256([]byte(tok))
		return base64.RawURLEncoding.EncodeToString(s[:])
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWK, _ := json.Marshal(jose.JSONWebKey{Key: attacker.Public()})
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: attacker})
	claims := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{"jti": jti(), "htm": "GET", "htu": apiURL, "iat": clk.Now().Unix(), "ath": ath(app.Access)}
		if edit != nil {
			edit(m)
		}
		return m
	}
	apiWith := func(authz, proof string) (int, string) {
		hdr := []string{"Authorization", authz}
		if proof != "" {
			hdr = append(hdr, "DPoP", proof)
		}
		resp, body := call(t, "GET", apiURL, hdr...)
		return resp.StatusCode, body
	}
	own := func(method, target, tok string) string {
		p, err := app.Proof(method, target, tok)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	early := mobileApp(t, r, clk)
	early.Now = func() time.Time { return clk.Now().Add(-5 * time.Minute) }
	late := mobileApp(t, r, clk)
	late.Now = func() time.Time { return clk.Now().Add(5 * time.Minute) }

	replayed := own("GET", apiURL, app.Access)
	if code, body := apiWith("DPoP "+app.Access, replayed); code != 200 {
		t.Fatalf("the device's own proof: %d %s", code, body)
	}
	for _, c := range []struct {
		name, authz, proof, want string
	}{
		{"stolen token as a bearer token", "Bearer " + app.Access, "", "DPoP-bound"},
		{"stolen token without any proof", "DPoP " + app.Access, "", "exactly one DPoP proof"},
		{"stolen token with the thief's own key", "DPoP " + app.Access,
			rawProof(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(attackerJWK)}, claims(nil), es256(attacker)), "not bound"},
		{"proof replayed", "DPoP " + app.Access, replayed, "replay"},
		{"proof for another URL", "DPoP " + app.Access, own("GET", r.URL+"/other", app.Access), "htu"},
		{"proof for another method", "DPoP " + app.Access, own("POST", apiURL, app.Access), "htm"},
		{"proof issued in the past (iat)", "DPoP " + app.Access, func() string { p, _ := early.Proof("GET", apiURL, app.Access); return p }(), "iat"},
		{"proof issued in the future (iat)", "DPoP " + app.Access, func() string { p, _ := late.Proof("GET", apiURL, app.Access); return p }(), "iat"},
		{"proof with alg none", "DPoP " + app.Access,
			rawProof(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": json.RawMessage(attackerJWK)}, claims(nil), nil), "alg"},
		{"proof signed with HS256", "DPoP " + app.Access,
			rawProof(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]string{"kty": "oct", "k": "c2VjcmV0"}}, claims(nil),
				func(in []byte) []byte { m := hmac.New(sha256.New, []byte("secret")); m.Write(in); return m.Sum(nil) }), "alg"},
		{"proof whose jwk carries the private key", "DPoP " + app.Access,
			rawProof(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(privJWK)}, claims(nil), es256(attacker)), "private"},
		{"proof for another access token (ath)", "DPoP " + app.Access,
			own("GET", apiURL, app.Access+"x"), "ath"},
		{"tampered access token", "DPoP " + app.Access[:len(app.Access)-4] + "AAAA", own("GET", apiURL, app.Access[:len(app.Access)-4]+"AAAA"), "not valid"},
		{"typ is not dpop+jwt", "DPoP " + app.Access,
			rawProof(map[string]any{"typ": "JWT", "alg": "ES256", "jwk": json.RawMessage(attackerJWK)}, claims(nil), es256(attacker)), "typ"},
	} {
		code, body := apiWith(c.authz, c.proof)
		if code != 401 || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %s, want 401 mentioning %q", c.name, code, body, c.want)
		}
	}

	// At the token endpoint, a refresh with any of those proofs is
	// refused and consumes nothing.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {app.Refresh}, "client_id": {"crm-mobile"}}
	tokClaims := func() map[string]any {
		return map[string]any{"jti": jti(), "htm": "POST", "htu": tokenURL, "iat": clk.Now().Unix()}
	}
	for _, c := range []struct{ name, proof, want string }{
		{"no proof", "", "invalid_dpop_proof"},
		{"alg none", rawProof(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": json.RawMessage(attackerJWK)}, tokClaims(), nil), "invalid_dpop_proof"},
		{"private jwk", rawProof(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(privJWK)}, tokClaims(), es256(attacker)), "invalid_dpop_proof"},
		// The thief holds the refresh token but not the device key.
		{"stolen refresh token, thief's key", rawProof(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(attackerJWK)}, tokClaims(), es256(attacker)), "invalid_grant"},
		{"proof for the API, not the token endpoint", own("GET", apiURL, ""), "invalid_dpop_proof"},
	} {
		resp, body := postForm(t, tokenURL, form, "DPoP", c.proof)
		if resp.StatusCode != 400 || errorCode(body) != c.want {
			t.Errorf("token endpoint, %s: got %d %s, want 400 %s", c.name, resp.StatusCode, body, c.want)
		}
	}
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatalf("the device's own refresh after the attacks: %v", err)
	}
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 200 {
		t.Fatalf("the device after the attacks: %d", resp.StatusCode)
	}
	// A device token opens no gateway page: the account page treats it
	// as nobody.
	resp, _ := appCall(t, app, r.URL, "GET", "/.gatehouse/account")
	if resp.Request.URL.Path != "/.gatehouse/login" {
		t.Fatalf("account page with a device token: ended at %s (%d), want the login page", resp.Request.URL, resp.StatusCode)
	}
}

// TestMobileRefreshReplay: RFC 9700 §4.14 rotation with reuse detection,
// and the grace window for a lost response.
func TestMobileRefreshReplay(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")

	t.Run("retry of the previous token inside the grace window", func(t *testing.T) {
		app := mobileLogin(t, r, clk, "alice", alicePW)
		t1 := app.Refresh
		if err := app.RefreshTokens(t.Context()); err != nil {
			t.Fatal(err)
		}
		a2, t2 := app.Access, app.Refresh
		// The response was lost; the app retries with t1.
		app.Refresh = t1
		if err := app.RefreshTokens(t.Context()); err != nil {
			t.Fatalf("retry inside the grace window: %v", err)
		}
		if app.Refresh != t2 || app.Access != a2 {
			t.Fatal("the retry did not get the same pair again")
		}
		if err := app.RefreshTokens(t.Context()); err != nil {
			t.Fatalf("the pair from the retry: %v", err)
		}
		// t1 is no longer the immediately previous token: a replay.
		thief := app.Clone()
		thief.Refresh = t1
		if err := thief.RefreshTokens(t.Context()); err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("token before the previous one: %v", err)
		}
		if resp, body := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 401 || !strings.Contains(errorDescription(body), "used twice") {
			t.Fatalf("the device after the replay: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("replay outside the grace window revokes the family", func(t *testing.T) {
		app := mobileLogin(t, r, clk, "alice", alicePW)
		t1 := app.Refresh
		if err := app.RefreshTokens(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(11 * time.Second) // refresh_grace is 10s
		r.refresh(t)
		thief := app.Clone()
		thief.Refresh = t1
		if err := thief.RefreshTokens(t.Context()); err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("replayed refresh token: %v", err)
		}
		// The legitimate holder is signed out too: whoever holds the
		// current token might be the thief.
		if err := app.RefreshTokens(t.Context()); err == nil {
			t.Fatal("the current refresh token still works after a replay")
		}
		if resp, body := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 401 || errorDescription(body) != "a refresh token was used twice; the device was signed out" {
			t.Fatalf("access token after a replay: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("grace 0s: every reuse revokes", func(t *testing.T) {
		r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig+"policy: {mobile: {refresh_grace: 0s}}\n"), clk)
		r.addUser(t, "alice", alicePW, "sales")
		app := mobileLogin(t, r, clk, "alice", alicePW)
		t1 := app.Refresh
		if err := app.RefreshTokens(t.Context()); err != nil {
			t.Fatal(err)
		}
		t2 := app.Refresh
		app.Refresh = t1
		if err := app.RefreshTokens(t.Context()); err == nil {
			t.Fatal("immediate retry with grace 0s was forgiven")
		}
		app.Refresh = t2
		if err := app.RefreshTokens(t.Context()); err == nil {
			t.Fatal("family survived a replay")
		}
	})
}

// TestMobileAuthorizeAttacks: PKCE, redirect URIs and codes.
func TestMobileAuthorizeAttacks(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileApp(t, r, clk)
	p := client.NewPKCE()
	good := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"crm-mobile"}, "redirect_uri": {appRedirect},
			"state": {p.State}, "code_challenge": {p.Challenge}, "code_challenge_method": {"S256"}}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(q url.Values) *http.Response {
		resp, err := noRedirect.Get(r.URL + "/.gatehouse/oauth/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Look-alike redirect URIs are never redirected to: the user sees
	// the error.
	for _, uri := range []string{"com.example.crm:/oauth/callback/x", "com.example.crm:/oauth/callbac", "com.example.CRM:/oauth/callback",
		"com.example.crm:/oauth/callback/", "com.example.crm:/oauth/callback?x=1", "com.evil.crm:/oauth/callback", "https://app.example.com/cb/",
		"https://app.example.com/cb?next=https://evil.example", "https://APP.example.com/cb", "https://app.example.com.evil.example/cb", ""} {
		q := good()
		q.Set("redirect_uri", uri)
		if resp := authorize(q); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %q: %d %q, want 400 and no redirect", uri, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	q := good()
	q.Set("client_id", "unknown")
	if resp := authorize(q); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("unknown client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// PKCE missing or plain: an error sent to the (valid) app.
	for name, edit := range map[string]func(url.Values){
		"missing challenge": func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
		"plain":             func(q url.Values) { q.Set("code_challenge_method", "plain"); q.Set("code_challenge", p.Verifier) },
		"no method":         func(q url.Values) { q.Del("code_challenge_method") },
		"no state":          func(q url.Values) { q.Del("state") },
		"token flow":        func(q url.Values) { q.Set("response_type", "token") },
	} {
		q := good()
		edit(q)
		resp := authorize(q)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || !strings.HasPrefix(loc.String(), appRedirect+"?") || loc.Query().Get("error") == "" || loc.Query().Get("code") != "" {
			t.Errorf("%s: %d %s, want an error redirect to the app", name, resp.StatusCode, loc)
		}
	}

	// Codes: a wrong verifier burns the code; a code works once, for its
	// client only; a code bound to one key (dpop_jkt) refuses another.
	exchange := func(a *client.Client, code, verifier, clientID string) error {
		a.ClientID = clientID
		defer func() { a.ClientID = "crm-mobile" }()
		return a.Exchange(t.Context(), code, client.PKCE{Verifier: verifier})
	}
	code, p1 := authorizeCode(t, r, app, "alice", alicePW)
	if err := exchange(app, code, strings.Repeat("A", 43), "crm-mobile"); err == nil || !strings.Contains(err.Error(), "code_verifier does not match") {
		t.Fatalf("wrong verifier: %v", err)
	}
	if err := exchange(app, code, p1.Verifier, "crm-mobile"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("code after a wrong verifier: %v", err)
	}
	code, p1 = authorizeCode(t, r, app, "alice", alicePW)
	if err := exchange(app, code, "", "crm-mobile"); err == nil || !strings.Contains(err.Error(), "code_verifier is required") {
		t.Fatalf("missing verifier: %v", err)
	}
	code, p1 = authorizeCode(t, r, app, "alice", alicePW)
	if err := exchange(app, code, p1.Verifier, "other-app"); err == nil || !strings.Contains(err.Error(), "another client") {
		t.Fatalf("code used by another client: %v", err)
	}
	code, p1 = authorizeCode(t, r, app, "alice", alicePW)
	thief := mobileApp(t, r, clk)
	if err := exchange(thief, code, p1.Verifier, "crm-mobile"); err == nil || !strings.Contains(err.Error(), "dpop_jkt") {
		t.Fatalf("code bound to another key: %v", err)
	}
	code, p1 = authorizeCode(t, r, app, "alice", alicePW)
	if err := exchange(app, code, p1.Verifier, "crm-mobile"); err != nil {
		t.Fatal(err)
	}
	if err := exchange(app, code, p1.Verifier, "crm-mobile"); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("code reused: %v", err)
	}
	// A code expires after 60 s.
	code, p1 = authorizeCode(t, r, app, "alice", alicePW)
	clk.Advance(61 * time.Second)
	r.refresh(t)
	if err := exchange(app, code, p1.Verifier, "crm-mobile"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("expired code: %v", err)
	}

}

// TestMobileAuthorizeConsent: a browser already signed in does not hand
// a code to whatever app opened it (RFC 8252 §8.6: any app on the device
// may use the registered client's id and catch its redirect): the user
// confirms on a page first, by a same-origin POST; Cancel tells the app
// access_denied. A login the request itself sent the user through needs
// no second confirmation, and a sealed request fetched by an app and
// opened in the signed-in browser is no such login.
func TestMobileAuthorizeConsent(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileApp(t, r, clk)
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	clk.Advance(time.Second) // the session is from before the app's request

	p := client.NewPKCE()
	authorize := strings.TrimPrefix(app.AuthorizeURL(p, true), r.URL)
	consentPage := func(path string) string {
		t.Helper()
		resp, body := b.Get(t, path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="consent"`) || !strings.Contains(body, "“CRM”") || !strings.Contains(body, "alice") {
			t.Fatalf("authorize in a signed-in browser: %d to %q, want the consent page\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return regexp.MustCompile(`name="resume" value="([^"]+)"`).FindStringSubmatch(body)[1]
	}
	resume := consentPage(authorize)
	// A resume parameter added to a plain request is no sealed request.
	consentPage(authorize + "&resume=x")
	// The app fetched a sealed request itself (no cookies) and opened
	// it in the signed-in browser: still the consent page.
	anon := newBrowser(t, r.URL)
	resp, _ := anon.Get(t, authorize)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	consentPage(loc.Query().Get("rd"))

	answer := func(a string, hdr ...string) *http.Response {
		t.Helper()
		resp, _ := b.Do(t, "POST", "/.gatehouse/oauth/authorize", url.Values{"resume": {resume}, "answer": {a}}, hdr...)
		return resp
	}
	if resp := answer("continue", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site continue: %d, want 403", resp.StatusCode)
	}
	resp = answer("cancel")
	if to, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || to.Query().Get("error") != "access_denied" || !strings.HasPrefix(to.String(), "com.example.crm:/oauth/callback?") {
		t.Fatalf("cancel: %d to %q, want the app with access_denied", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = answer("continue")
	code, err := app.CodeFrom(resp.Header.Get("Location"), p)
	if err != nil {
		t.Fatalf("continue: %d: %v", resp.StatusCode, err)
	}
	if err := app.Exchange(t.Context(), code, p); err != nil {
		t.Fatalf("token exchange after consent: %v", err)
	}
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the app's call: %d", resp.StatusCode)
	}
}

// TestMobileRefreshTokenWithoutTheKey: a refresh token copied off a
// device, presented with the thief's own key (its public ".<jkt>" ending
// rewritten to match) neither works, nor uses the token up, nor gets the
// grace window's copy of the last answer, nor signs the device out as a
// replay would: without the device key a bound refresh token is inert.
func TestMobileRefreshTokenWithoutTheKey(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	thief := mobileApp(t, r, clk)
	as := func(tok string) string { return tok[:strings.LastIndexByte(tok, '.')+1] + thief.JKT() }
	steal := func(what, tok string) {
		t.Helper()
		thief.Refresh, thief.Access = as(tok), ""
		if err := thief.RefreshTokens(t.Context()); err == nil || thief.Access != "" {
			t.Fatalf("%s with the thief's key: %v, got an access token: %t", what, err, thief.Access != "")
		}
		if resp, body := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("the device after %s with the thief's key: %d %s", what, resp.StatusCode, body)
		}
	}

	steal("the live refresh token", app.Refresh)
	t1 := app.Refresh
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatalf("the device's own refresh after the theft: %v", err)
	}
	steal("the previous token inside the grace window", t1)
	clk.Advance(11 * time.Second) // refresh_grace is 10s
	r.refresh(t)
	steal("a used token outside the grace window", t1)
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatalf("the device's own refresh at the end: %v", err)
	}
	wantAudit(t, r, "token_refused", "")
}

// TestMobileRevokeByAnotherClient: a revocation naming another client is
// refused and leaves the refresh token usable (it used to be taken
// before the client was compared).
func TestMobileRevokeByAnotherClient(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	resp, err := http.PostForm(r.URL+"/.gatehouse/oauth/revoke", url.Values{"token": {app.Refresh}, "client_id": {"other-app"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revocation by another client: %d, want 401", resp.StatusCode)
	}
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatalf("the device's refresh after another client's revocation: %v", err)
	}
}

// TestMobileGraceRetryOfADisabledUser: once the user is disabled, a
// retry of the token just rotated gets nothing from the grace window.
// (Disabling also ends the device session, which refuses it first; the
// grace path's own rotation checks are a second line this does not
// isolate.)
func TestMobileGraceRetryOfADisabledUser(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	t1 := app.Refresh
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, r, "user", "disable", "alice"); code != 0 {
		t.Fatal(out)
	}
	r.refresh(t)
	app.Refresh, app.Access = t1, ""
	if err := app.RefreshTokens(t.Context()); err == nil || app.Access != "" {
		t.Fatalf("a grace-window retry after the user was disabled: %v, got an access token: %t", err, app.Access != "")
	}
}
