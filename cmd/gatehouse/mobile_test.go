package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/token/client"
)

// mobileConfig registers the app (and a second one, for the attacks that
// need another client).
const mobileConfig = `
mobile:
  clients:
    - {id: crm-mobile, name: CRM, redirect_uris: ["com.example.crm:/oauth/callback", "https://app.example.com/cb"]}
    - {id: other-app, name: Other, redirect_uris: ["com.example.other:/cb"]}
`

const appRedirect = "com.example.crm:/oauth/callback"

// mobileApp is a fresh app installation (its own device key) against r,
// signing proofs with clk.
func mobileApp(t testing.TB, r *replica, clk *clock) *client.Client {
	t.Helper()
	u, _ := url.Parse(r.URL)
	c, err := client.New(u, "crm-mobile", appRedirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		c.Now = clk.Now
	}
	return c
}

// authorizeCode runs the browser part of the login for app and returns the
// code and the PKCE values.
func authorizeCode(t testing.TB, r *replica, app *client.Client, username, pw string) (string, client.PKCE) {
	t.Helper()
	p := client.NewPKCE()
	jar, _ := cookiejar.New(nil)
	final, err := client.BrowserLogin(t.Context(), &http.Client{Jar: jar, Timeout: 10 * time.Second}, app.AuthorizeURL(p, true), username, pw)
	if err != nil {
		t.Fatalf("browser login: %v", err)
	}
	code, err := app.CodeFrom(final, p)
	if err != nil {
		t.Fatalf("redirect to the app: %v", err)
	}
	return code, p
}

// mobileLogin logs username in on a new device of r.
func mobileLogin(t testing.TB, r *replica, clk *clock, username, pw string) *client.Client {
	t.Helper()
	app := mobileApp(t, r, clk)
	code, p := authorizeCode(t, r, app, username, pw)
	if err := app.Exchange(t.Context(), code, p); err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	return app
}

// appCall makes an API call as app on base.
func appCall(t testing.TB, app *client.Client, base, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := app.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errorDescription(body string) string {
	var m map[string]string
	json.Unmarshal([]byte(body), &m)
	return m["error_description"]
}

// deviceIDs lists the user's device ids in the directory, newest first.
func deviceIDs(t testing.TB, r *replica, userID string) []string {
	t.Helper()
	devs, err := r.a.dir.UserDevices(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	return ids
}

// TestMobileLogin: the whole flow as the app sees it — the browser login,
// the DPoP-bound pair, calls through the proxy, rotation, the CLI's view
// and sign-out — and what the upstream sees.
func TestMobileLogin(t *testing.T) {
	up := startUpstream(t)
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, up, mobileConfig), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	if app.Type != "DPoP" || !strings.HasPrefix(app.Access, "gat1.") || !strings.HasPrefix(app.Refresh, "gr1.") {
		t.Fatalf("tokens: type %q access %.10q refresh %.10q", app.Type, app.Access, app.Refresh)
	}
	ids := deviceIDs(t, r, alice.ID)
	if len(ids) != 1 {
		t.Fatalf("devices: %v", ids)
	}
	resp, body := appCall(t, app, r.URL, "GET", "/leads/7")
	if resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("call: %d %q", resp.StatusCode, body)
	}
	h := up.Last(t).Header
	if h.Get("X-Gatehouse-Auth-Method") != "password+dpop" || h.Get("X-Gatehouse-Device") != ids[0] || h.Get("X-Gatehouse-Session") != "" ||
		h.Get("Authorization") != "" || h.Get("Dpop") != "" || h.Get("X-Gatehouse-User") != "alice" {
		t.Fatalf("upstream saw %v", h)
	}
	claims := verifyAssertion(t, r, h.Get("X-Gatehouse-Assertion"), clk.Now())
	if claims.Username != "alice" || strings.Join(claims.Methods, ",") != "password,dpop" {
		t.Fatalf("assertion: %+v", claims)
	}
	if raw, _ := json.Marshal(claims); strings.Contains(string(raw), "cnf") || strings.Contains(string(raw), app.JKT()) {
		t.Fatalf("the assertion carries the device key: %s", raw)
	}

	// Rotation: a new pair, and the new access token works.
	oldAccess, oldRefresh := app.Access, app.Refresh
	clk.Advance(time.Minute)
	r.refresh(t)
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	if app.Refresh == oldRefresh || app.Access == oldAccess {
		t.Fatal("refresh did not rotate the pair")
	}
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 200 {
		t.Fatalf("call with the rotated token: %d", resp.StatusCode)
	}
	// The CLI sees the device, with its last use.
	code, out := runCLI(t, r, "device", "list", "alice")
	if code != 0 || !strings.Contains(out, ids[0]) || !strings.Contains(out, "crm-mobile") || !strings.Contains(out, "127.0.0.1") || !strings.Contains(out, "signed in") {
		t.Fatalf("device list: %d\n%s", code, out)
	}
	// Signed out from the CLI: the next call is refused, and told why.
	if code, out := runCLI(t, r, "device", "revoke", "alice", ids[0]); code != 0 || !strings.Contains(out, ids[0]) {
		t.Fatalf("device revoke: %d %s", code, out)
	}
	r.refresh(t)
	resp, body = appCall(t, app, r.URL, "GET", "/")
	if resp.StatusCode != 401 || errorCode(body) != "invalid_token" || errorDescription(body) != "the device was signed out" {
		t.Fatalf("revoked device: %d %s", resp.StatusCode, body)
	}
	if err := app.RefreshTokens(t.Context()); err == nil {
		t.Fatal("a revoked device refreshed")
	}
	if code, out := runCLI(t, r, "device", "list", "alice"); code != 0 || !strings.Contains(out, "signed out") {
		t.Fatalf("device list after revoke: %s", out)
	}

	// An access token lives access_token_ttl (5m); the refresh token
	// then gets a new one.
	app = mobileLogin(t, r, clk, "alice", alicePW)
	clk.Advance(5*time.Minute + time.Second)
	r.refresh(t)
	if resp, body := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 401 || !strings.Contains(errorDescription(body), "expired") {
		t.Fatalf("expired access token: %d %s", resp.StatusCode, body)
	}
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 200 {
		t.Fatalf("after refreshing an expired access token: %d", resp.StatusCode)
	}
}

// TestMobileMetadata: RFC 8414 metadata names the endpoints and what the
// server supports.
func TestMobileMetadata(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), nil)
	resp, body := call(t, "GET", r.URL+"/.well-known/oauth-authorization-server")
	var m map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	if m["issuer"] != r.URL || m["token_endpoint"] != r.URL+"/.gatehouse/oauth/token" || m["authorization_endpoint"] != r.URL+"/.gatehouse/oauth/authorize" ||
		m["revocation_endpoint"] != r.URL+"/.gatehouse/oauth/revoke" || !strings.Contains(body, `"code_challenge_methods_supported":["S256"]`) ||
		!strings.Contains(body, `"dpop_signing_alg_values_supported":["ES256"`) {
		t.Fatalf("metadata: %s", body)
	}
}

// TestMobileSingleDevice: under mobile.single_device a second device's
// login signs the first out, which is told why.
func TestMobileSingleDevice(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig+"policy: {mobile: {single_device: true}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	first := mobileLogin(t, r, clk, "alice", alicePW)
	if resp, _ := appCall(t, first, r.URL, "GET", "/"); resp.StatusCode != 200 {
		t.Fatalf("first device: %d", resp.StatusCode)
	}
	second := mobileLogin(t, r, clk, "alice", alicePW)
	resp, body := appCall(t, first, r.URL, "GET", "/")
	if resp.StatusCode != 401 || errorCode(body) != "invalid_token" || errorDescription(body) != "signed in on another device" {
		t.Fatalf("first device after the second logged in: %d %s", resp.StatusCode, body)
	}
	if err := first.RefreshTokens(t.Context()); err == nil || !strings.Contains(err.Error(), "signed in on another device") {
		t.Fatalf("first device's refresh: %v", err)
	}
	if resp, _ := appCall(t, second, r.URL, "GET", "/"); resp.StatusCode != 200 {
		t.Fatalf("second device: %d", resp.StatusCode)
	}
	// A browser session is not a device: it stays.
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	third := mobileLogin(t, r, clk, "alice", alicePW)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("browser session after a device login: %d", resp.StatusCode)
	}
	if resp, _ := appCall(t, second, r.URL, "GET", "/"); resp.StatusCode != 401 {
		t.Fatalf("second device after the third: %d", resp.StatusCode)
	}
	if resp, _ := appCall(t, third, r.URL, "GET", "/"); resp.StatusCode != 200 {
		t.Fatalf("third device: %d", resp.StatusCode)
	}
}

// TestMobileRefreshOnlyAndNonce: mobile.dpop: refresh_only issues bearer
// access tokens and still binds refresh tokens; dpop_nonce makes proofs
// carry the gateway's nonce (the client retries on use_dpop_nonce).
func TestMobileRefreshOnlyAndNonce(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, mobileConfig+"policy: {mobile: {dpop: refresh_only, dpop_nonce: true}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	if app.Type != "Bearer" {
		t.Fatalf("token_type %q, want Bearer", app.Type)
	}
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 200 || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+mobile" {
		t.Fatalf("bearer call: %d %v", resp.StatusCode, up.Last(t).Header)
	}
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatalf("refresh with nonce: %v", err)
	}
	// A refresh without the nonce is told to use one.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {app.Refresh}, "client_id": {"crm-mobile"}}
	stranger := mobileApp(t, r, clk)
	proof, _ := stranger.Proof("POST", r.URL+"/.gatehouse/oauth/token", "")
	resp, body := postForm(t, r.URL+"/.gatehouse/oauth/token", form, "DPoP", proof)
	if resp.StatusCode != 400 || errorCode(body) != "use_dpop_nonce" || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("proof without nonce: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}

// postForm posts a form with headers.
func postForm(t testing.TB, target string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// via is an HTTP client that reaches the gateway named by any URL through
// r's listener: what a load balancer in front of two replicas does.
func via(r *replica) *http.Client {
	addr := strings.TrimPrefix(r.URL, "http://")
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
}

// sharedPublic is the one public URL both replicas serve under.
const sharedPublic = "http://gw.test"

// TestMobileTwoReplicas: replicas sharing Redis and PostgreSQL behind one
// public URL share the device: tokens from one work on the other, a proof
// replayed on the other is refused (the jti cache is shared), and a
// device revoked on one is refused on the other within a second — from
// the revocation endpoint, the CLI, "log out everywhere" and disabling
// the user.
func TestMobileTwoReplicas(t *testing.T) {
	a, b := twoReplicas(t, mobileConfig+"public_url: "+sharedPublic+"\n")
	alice := a.addUser(t, "alice", alicePW, "sales")
	viaA, viaB := via(a), via(b)
	pub, _ := url.Parse(sharedPublic)
	login := func() *client.Client {
		t.Helper()
		app, err := client.New(pub, "crm-mobile", appRedirect, viaA)
		if err != nil {
			t.Fatal(err)
		}
		p := client.NewPKCE()
		// The system browser: its own cookies, apart from the app's calls.
		browser := via(a)
		browser.Jar, _ = cookiejar.New(nil)
		final, err := client.BrowserLogin(t.Context(), browser, app.AuthorizeURL(p, true), "alice", alicePW)
		if err != nil {
			t.Fatal(err)
		}
		code, err := app.CodeFrom(final, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Exchange(t.Context(), code, p); err != nil {
			t.Fatal(err)
		}
		return app
	}
	on := func(app *client.Client, hc *http.Client) int {
		t.Helper()
		app.HTTP = hc
		resp, _ := appCall(t, app, sharedPublic, "GET", "/")
		return resp.StatusCode
	}
	app := login()
	if code := on(app, viaB); code != 200 {
		t.Fatalf("A's token on B: %d", code)
	}
	// One proof, sent to A and then to B: B has seen its jti.
	proof, _ := app.Proof("GET", sharedPublic+"/x", app.Access)
	send := func(hc *http.Client) (int, string) {
		req, _ := http.NewRequest("GET", sharedPublic+"/x", nil)
		req.Header.Set("Authorization", "DPoP "+app.Access)
		req.Header.Set("DPoP", proof)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := send(viaA); code != 200 {
		t.Fatalf("proof on A: %d %s", code, body)
	}
	if code, body := send(viaB); code != 401 || !strings.Contains(body, "replay") {
		t.Fatalf("proof replayed on B: %d %s", code, body)
	}
	// Refresh on B, call on A.
	app.HTTP = viaB
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := on(app, viaA); code != 200 {
		t.Fatalf("after refresh on B, on A: %d", code)
	}

	refusedOnB := func(app *client.Client, start time.Time) time.Duration {
		t.Helper()
		for {
			if on(app, viaB) == 401 {
				return time.Since(start)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("replica B still accepts the device %s after the revocation", time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The app signs out on A (RFC 7009): B refuses.
	app.HTTP = viaA
	start := time.Now()
	if err := app.Revoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("revocation endpoint on A → refused on B after %s", refusedOnB(app, start).Round(time.Millisecond))

	// The CLI, through the directory: B refuses.
	app2 := login()
	ids := deviceIDs(t, a, alice.ID)
	start = time.Now()
	if code, out := runCLI(t, a, "device", "revoke", "alice", ids[0]); code != 0 {
		t.Fatal(out)
	}
	t.Logf("device revoke (CLI) → refused on B after %s", refusedOnB(app2, start).Round(time.Millisecond))

	// "Log out everywhere" ends devices as it ends browsers.
	app3 := login()
	start = time.Now()
	if code, out := runCLI(t, a, "user", "logout", "alice"); code != 0 {
		t.Fatal(out)
	}
	t.Logf("user logout → device refused on B after %s", refusedOnB(app3, start).Round(time.Millisecond))

	// Disabling the user ends the device too.
	app4 := login()
	start = time.Now()
	if code, out := runCLI(t, a, "user", "disable", "alice"); code != 0 {
		t.Fatal(out)
	}
	t.Logf("user disable → device refused on B after %s", refusedOnB(app4, start).Round(time.Millisecond))
	app4.HTTP = viaA
	if err := app4.RefreshTokens(t.Context()); err == nil {
		t.Fatal("a disabled user's device refreshed")
	}
}

// TestMobileReferenceClient runs the README's mobile walkthrough: the
// reference client against a gateway on configs/mobile-demo.yaml.
func TestMobileReferenceClient(t *testing.T) {
	demo, err := os.ReadFile("../../configs/mobile-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, string(demo)), nil)
	r.addUser(t, "alice", alicePW, "sales")
	u, _ := url.Parse(r.URL)
	var out strings.Builder
	w := client.Walkthrough{Gateway: u, ClientID: "crm-mobile", RedirectURI: "com.example.crm:/oauth/callback",
		Username: "alice", Password: alicePW, Path: "/leads/1", Out: &out}
	if err := w.Run(t.Context()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, step := range []string{"1. device key made", "4. code + PKCE verifier + DPoP proof exchanged for a DPoP access token",
		`5. GET /leads/1 with a fresh proof → 200 "crm:alice"`, "6. refreshed", "7. GET /leads/1", "8. signed out", "now gets 401"} {
		if !strings.Contains(out.String(), step) {
			t.Fatalf("walkthrough lacks %q:\n%s", step, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
