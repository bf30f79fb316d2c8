package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// The asking proxy's address (trusted) and a client's (not).
const (
	askingProxy = "10.9.9.9"
	stranger    = "203.0.113.9"
	appHost     = "app.example.com" // on forward_auth.allowed_hosts
)

// forwardAuthGateway is a test gateway with the forward-auth endpoint
// mounted, trusting askingProxy, and alice logged in in b.
func forwardAuthGateway(t *testing.T, o gatewaytest.Options) (*gatewaytest.Gateway, *gatewaytest.Browser) {
	t.Helper()
	o.TrustedProxies = askingProxy + "/32"
	g := gatewaytest.Start(t, o)
	g.Mount(proxy.ForwardAuth{AllowedHosts: []string{appHost}})
	g.AddUser(t, "alice", pw, "sales", "north", "south")
	b := gatewaytest.NewBrowser(g.URL)
	b.Login(t, "alice", pw)
	return g, b
}

// styles are the two header families the asking proxies send.
var styles = []struct {
	name           string
	method, uri    string
	host, protocol string
}{
	{"nginx", "X-Original-Method", "X-Original-URI", "X-Forwarded-Host", "X-Forwarded-Proto"},
	{"traefik/caddy", "X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Host", "X-Forwarded-Proto"},
}

// ask sends GET /.gatehouse/auth from peer about method and uri (nginx
// style), with more header pairs; the session cookie when cookie is set.
func ask(t *testing.T, g *gatewaytest.Gateway, peer, cookie, method, uri string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	pairs := append([]string{"X-Original-Method", method, "X-Original-URI", uri}, hdr...)
	return askRaw(t, g, peer, cookie, "", pairs...)
}

// askRaw is ask with exactly the given headers and a query on the
// endpoint's URL.
func askRaw(t *testing.T, g *gatewaytest.Gateway, peer, cookie, query string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, proxy.ForwardAuthPath+query, nil)
	req.RemoteAddr = peer + ":40000"
	if cookie != "" {
		req.Header.Set("Cookie", "gatehouse="+cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	return rec
}

func cookieOf(t *testing.T, b *gatewaytest.Browser) string {
	t.Helper()
	c := b.Cookie("gatehouse")
	if c == nil {
		t.Fatal("browser has no session cookie")
	}
	return c.Value
}

// vouched are the identity headers the proxy sends upstream for a session.
var vouched = []string{proxy.HeaderUser, proxy.HeaderEmail, proxy.HeaderRole, proxy.HeaderGroups, proxy.HeaderAuthMethod,
	proxy.HeaderSession, proxy.HeaderTemplate, proxy.HeaderPermissions, proxy.HeaderAssertion}

// TestForwardAuthSignedIn: a signed-in request is answered 200 with the
// very identity headers and assertion the proxy sends upstream, in both
// header families; no credential the request carried is echoed.
func TestForwardAuthSignedIn(t *testing.T) {
	g, b := forwardAuthGateway(t, gatewaytest.Options{})
	ck := cookieOf(t, b)
	if resp, _ := b.Get(t, "/leads/7"); resp.StatusCode != http.StatusOK {
		t.Fatalf("proxied: %d", resp.StatusCode)
	}
	up := g.Upstream.Last(t)
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			rec := askRaw(t, g, askingProxy, ck, "", s.method, "GET", s.uri, "/leads/7?tab=notes",
				s.host, appHost, s.protocol, "https", "Authorization", "Basic c2VjcmV0OnNlY3JldA==")
			if rec.Code != http.StatusOK {
				t.Fatalf("got %d, want 200\n%s", rec.Code, rec.Body)
			}
			for _, h := range vouched {
				got, inAnswer := rec.Header()[h]
				want, upstream := up.Header[h]
				if inAnswer != upstream || strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s = %q, want %q as sent upstream", h, got, want)
				}
			}
			if got := rec.Header().Get(proxy.HeaderGroups); got != "north,south" {
				t.Errorf("groups %q, want north,south", got)
			}
			if rec.Header().Get(proxy.HeaderAssertion) == "" || rec.Header().Get(proxy.HeaderSession) == "" {
				t.Error("no assertion or session id")
			}
			if got := rec.Header().Get(proxy.HeaderUser); got != "alice" {
				t.Errorf("user %q, want alice", got)
			}
			for k, vs := range rec.Header() {
				for _, v := range vs {
					if strings.Contains(v, ck) || strings.Contains(v, "c2VjcmV0") {
						t.Errorf("answer header %s carries a credential of the request: %q", k, v)
					}
				}
			}
			for _, h := range []string{"Set-Cookie", "X-Forwarded-For", "Authorization", "Location"} {
				if v := rec.Header().Get(h); v != "" {
					t.Errorf("answer has %s: %q", h, v)
				}
			}
		})
	}
	// HEAD is answered as GET.
	req := httptest.NewRequest(http.MethodHead, proxy.ForwardAuthPath, nil)
	req.RemoteAddr = askingProxy + ":1"
	req.Header.Set("Cookie", "gatehouse="+ck)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/")
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get(proxy.HeaderUser) != "alice" {
		t.Errorf("HEAD: %d user %q", rec.Code, rec.Header().Get(proxy.HeaderUser))
	}
}

// loginTarget returns the rd of a 401's Location, checking the Location
// is the login page and the JSON body names the same URL.
func loginTarget(t *testing.T, rec *httptest.ResponseRecorder) (rd, reason string) {
	t.Helper()
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(loc, "/.gatehouse/login?") {
		t.Fatalf("got %d Location %q, want 401 naming the login page\n%s", rec.Code, loc, rec.Body)
	}
	u, _ := url.Parse(loc)
	rd, reason = u.Query().Get("rd"), u.Query().Get("reason")
	// As in proxy mode: a session that ended says so.
	code := "unauthenticated"
	if reason != "" && reason != "logged_out" {
		code = "session_expired"
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["login_url"] != loc || body["error"] != code {
		t.Fatalf("body %s (%v), want JSON with error %q and login_url %q", rec.Body, err, code, loc)
	}
	return rd, reason
}

// TestForwardAuthNotSignedIn: without a session the answer is 401 naming
// the login page, whose rd is the original URL: absolute for a host the
// gateway answers for, relative for any other. With ?redirect=true a
// browser's navigation gets the same URL as a 302.
func TestForwardAuthNotSignedIn(t *testing.T) {
	g, _ := forwardAuthGateway(t, gatewaytest.Options{})
	public, _ := url.Parse(g.URL)
	tests := []struct{ host, proto, want string }{
		{appHost, "https", "https://app.example.com/leads/7?tab=notes"},
		{"APP.example.com", "http", "http://APP.example.com/leads/7?tab=notes"},
		{public.Host, "http", "http://" + public.Host + "/leads/7?tab=notes"},
		{"evil.example", "https", "/leads/7?tab=notes"},
		{appHost + ".evil.example", "https", "/leads/7?tab=notes"},
		{appHost, "javascript", "/leads/7?tab=notes"},
		{"", "", "/leads/7?tab=notes"},
	}
	for _, tt := range tests {
		rec := ask(t, g, askingProxy, "", "GET", "/leads/7?tab=notes", "X-Forwarded-Host", tt.host, "X-Forwarded-Proto", tt.proto, "Accept", "application/json")
		if rd, _ := loginTarget(t, rec); rd != tt.want {
			t.Errorf("host %q proto %q: rd %q, want %q", tt.host, tt.proto, rd, tt.want)
		}
	}
	// A browser gets a page with the login link, and Location all the same.
	rec := ask(t, g, askingProxy, "", "GET", "/leads/7", "Accept", "text/html")
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("Location"), "/.gatehouse/login?rd=") ||
		!strings.Contains(rec.Body.String(), `href="/.gatehouse/login"`) {
		t.Errorf("browser: %d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	// Redirect mode, for proxies that hand the answer to the browser.
	rec = askRaw(t, g, askingProxy, "", "?redirect=true", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/leads/7", "Accept", "text/html")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/.gatehouse/login?rd=%2Fleads%2F7" {
		t.Errorf("redirect mode, browser: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = askRaw(t, g, askingProxy, "", "?redirect=true", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/leads/7", "Accept", "text/html")
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("redirect mode, a form post: %d, want 401", rec.Code)
	}
	rec = askRaw(t, g, askingProxy, "", "?redirect=true", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/leads/7", "Accept", "application/json")
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("redirect mode, a program: %d, want 401", rec.Code)
	}
}

// TestForwardAuthLoginReturnsToOriginalURL: the login page takes the
// absolute rd of its own origin, and after the password the browser
// returns to the original path.
func TestForwardAuthLoginReturnsToOriginalURL(t *testing.T) {
	g, _ := forwardAuthGateway(t, gatewaytest.Options{})
	public, _ := url.Parse(g.URL)
	rec := ask(t, g, askingProxy, "", "GET", "/leads/7?tab=notes", "X-Forwarded-Host", public.Host, "X-Forwarded-Proto", "http")
	loc := rec.Header().Get("Location")
	b := gatewaytest.NewBrowser(g.URL)
	resp, body := b.Get(t, loc)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="/leads/7?tab=notes"`) {
		t.Fatalf("login page from %q: %d, want the form returning to /leads/7?tab=notes\n%s", loc, resp.StatusCode, body)
	}
	resp, _ = b.Do(t, http.MethodPost, "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {pw}, "rd": {"/leads/7?tab=notes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/leads/7?tab=notes" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Another origin's absolute URL is never a return target, not even
	// an allowed host's: the login page returns only to its own origin.
	for _, rd := range []string{"https://evil.example/leads/7", "https://" + appHost + "/leads/7", "//" + public.Host + "/leads/7"} {
		resp, _ = b.Get(t, "/.gatehouse/login?rd="+url.QueryEscape(rd))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("signed in, rd %q: %d %q, want 303 to /", rd, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// accessRules refuse the admin area, and deleting a lead, to sales.
const accessRules = `access:
  routes:
    - {route: "/admin/", feature: admin}
    - {route: "DELETE /leads/{id}", feature: admin}
`

// TestForwardAuthAccessRulesOnOriginalRequest: route rules are decided on
// the original method and path, not on the GET /.gatehouse/auth that
// carries them.
func TestForwardAuthAccessRulesOnOriginalRequest(t *testing.T) {
	g, b := forwardAuthGateway(t, gatewaytest.Options{Policy: accessRules})
	ck := cookieOf(t, b)
	tests := []struct {
		method, uri string
		want        int
	}{
		{"GET", "/leads/7", http.StatusOK},
		{"DELETE", "/leads/7", http.StatusForbidden},
		{"GET", "/admin/users", http.StatusForbidden},
		{"GET", "/ADMIN/users", http.StatusForbidden},
		{"POST", "/leads/7", http.StatusOK},
		// Method override headers are judged as on the proxy path.
		{"POST", "/leads/7?_method=DELETE", http.StatusForbidden},
		// A path that is not canonical cannot be judged.
		{"GET", "/leads/../admin/users", http.StatusBadRequest},
	}
	for _, tt := range tests {
		rec := ask(t, g, askingProxy, ck, tt.method, tt.uri, "Accept", "application/json")
		if rec.Code != tt.want {
			t.Errorf("%s %s: got %d, want %d\n%s", tt.method, tt.uri, rec.Code, tt.want, rec.Body)
		}
		if rec.Code != http.StatusOK && rec.Header().Get(proxy.HeaderUser) != "" {
			t.Errorf("%s %s: refused, yet the answer vouches for %q", tt.method, tt.uri, rec.Header().Get(proxy.HeaderUser))
		}
	}
	if rec := ask(t, g, askingProxy, ck, "DELETE", "/leads/7", "Accept", "application/json"); !strings.Contains(rec.Body.String(), `"feature":"admin"`) {
		t.Errorf("refusal names no feature: %s", rec.Body)
	}
}

// TestForwardAuthNetworkRules: the client address is the one the asking
// proxy appended to X-Forwarded-For, and network rules refuse it with 403.
func TestForwardAuthNetworkRules(t *testing.T) {
	g, b := forwardAuthGateway(t, gatewaytest.Options{})
	ck := cookieOf(t, b)
	g.SetPolicy(t, "network: {allow: [192.0.2.0/24]}")
	// The client's own entry left of the proxy's is not believed.
	if rec := ask(t, g, askingProxy, ck, "GET", "/", "X-Forwarded-For", "192.0.2.10, 198.51.100.7"); rec.Code != http.StatusForbidden ||
		!strings.Contains(rec.Body.String(), "network_blocked") {
		t.Errorf("client outside the allowlist: %d %s, want 403 network_blocked", rec.Code, rec.Body)
	}
	if rec := ask(t, g, askingProxy, ck, "GET", "/", "X-Forwarded-For", "198.51.100.7, 192.0.2.10"); rec.Code != http.StatusOK {
		t.Errorf("client inside the allowlist: %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestForwardAuthUntrustedPeerRefused: the forwarded headers are believed
// only from a trusted proxy; any other peer is refused with 403 whatever
// it sends — a valid session cookie included — and is vouched for never.
func TestForwardAuthUntrustedPeerRefused(t *testing.T) {
	g, b := forwardAuthGateway(t, gatewaytest.Options{})
	ck := cookieOf(t, b)
	for _, peer := range []string{stranger, "127.0.0.1", "10.9.9.8"} {
		rec := ask(t, g, peer, ck, "GET", "/leads/7", "X-Forwarded-For", askingProxy, "Accept", "application/json")
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "forward_auth_untrusted") || rec.Header().Get(proxy.HeaderUser) != "" {
			t.Errorf("from %s: %d %s user %q, want 403 forward_auth_untrusted", peer, rec.Code, rec.Body, rec.Header().Get(proxy.HeaderUser))
		}
	}
}

// TestForwardAuthOriginalRequestSmuggling: a client behind nginx adds
// X-Forwarded-Uri (which nginx passes on) to have an allowed path judged
// instead of the one it requests, or behind Traefik adds X-Original-URI.
// Two names for the original request that disagree are refused, as is an
// original request that is missing or not a plain method and path.
func TestForwardAuthOriginalRequestSmuggling(t *testing.T) {
	g, b := forwardAuthGateway(t, gatewaytest.Options{Policy: accessRules})
	ck := cookieOf(t, b)
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"uri families disagree", []string{"X-Original-Method", "GET", "X-Original-URI", "/admin/users", "X-Forwarded-Uri", "/leads/7"}, http.StatusBadRequest},
		{"method families disagree", []string{"X-Forwarded-Method", "GET", "X-Original-Method", "DELETE", "X-Forwarded-Uri", "/leads/7"}, http.StatusBadRequest},
		{"two uri lines", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/leads/7", "X-Forwarded-Uri", "/admin/users"}, http.StatusBadRequest},
		{"families agree", []string{"X-Original-Method", "GET", "X-Original-URI", "/leads/7", "X-Forwarded-Uri", "/leads/7"}, http.StatusOK},
		{"no method", []string{"X-Original-URI", "/leads/7"}, http.StatusBadRequest},
		{"no uri", []string{"X-Original-Method", "GET"}, http.StatusBadRequest},
		{"empty uri", []string{"X-Original-Method", "GET", "X-Original-URI", ""}, http.StatusBadRequest},
		{"absolute-form uri", []string{"X-Original-Method", "GET", "X-Original-URI", "http://evil.example/admin/users"}, http.StatusBadRequest},
		{"lower-case method", []string{"X-Original-Method", "delete", "X-Original-URI", "/leads/7"}, http.StatusBadRequest},
		{"method with a space", []string{"X-Original-Method", "GET /admin", "X-Original-URI", "/leads/7"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		rec := askRaw(t, g, askingProxy, ck, "", append(tt.hdr, "Accept", "application/json")...)
		if rec.Code != tt.want {
			t.Errorf("%s: got %d, want %d\n%s", tt.name, rec.Code, tt.want, rec.Body)
		}
		if tt.want != http.StatusOK && rec.Header().Get(proxy.HeaderUser) != "" {
			t.Errorf("%s: refused, yet vouched for %q", tt.name, rec.Header().Get(proxy.HeaderUser))
		}
	}
}

// TestForwardAuthOpenRedirectPayloads: oauth2-proxy's open-redirect corpus
// (web/testdata, MIT), each payload as the original URI and as the
// forwarded host. Whatever the answer, its login link's rd is a path on
// this origin or an absolute URL on an allowed host with a safe path.
func TestForwardAuthOpenRedirectPayloads(t *testing.T) {
	g, _ := forwardAuthGateway(t, gatewaytest.Options{})
	public, _ := url.Parse(g.URL)
	allowed := map[string]bool{appHost: true, public.Host: true}
	f, err := os.Open("web/testdata/oauth2-proxy_openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func(what, payload string, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code == http.StatusBadRequest {
			return // not an origin-form URI: refused outright
		}
		rd, _ := loginTarget(t, rec)
		if strings.HasPrefix(rd, "/") {
			if web.CleanRedirect(rd) != rd {
				t.Errorf("%s %q: relative rd %q is not a safe return path", what, payload, rd)
			}
			return
		}
		u, err := url.Parse(rd)
		if err != nil || !allowed[strings.ToLower(u.Host)] || web.LocalRedirect(rd, u.Host) == "/" && u.RequestURI() != "/" {
			t.Errorf("%s %q: absolute rd %q is not a safe URL on an allowed host", what, payload, rd)
		}
	}
	sc := bufio.NewScanner(f)
	n, refused := 0, 0
	for sc.Scan() {
		payload, err := url.QueryUnescape(sc.Text())
		if err != nil {
			payload = sc.Text()
		}
		n++
		rec := ask(t, g, askingProxy, "", "GET", payload, "X-Forwarded-Host", appHost, "X-Forwarded-Proto", "https", "Accept", "application/json")
		if rec.Code == http.StatusBadRequest {
			refused++
		}
		check("uri", payload, rec)
		check("host", payload, ask(t, g, askingProxy, "", "GET", "/leads", "X-Forwarded-Host", payload, "X-Forwarded-Proto", "https", "Accept", "application/json"))
	}
	if n < 500 {
		t.Fatalf("read %d payloads, want the full corpus (559)", n)
	}
	t.Logf("%d payloads; as the original URI %d refused with 400, the rest answered 401 with a safe rd", n, refused)
}

// TestForwardAuthPendingSecondFactor: a session that still owes its
// second factor is sent to that step, never vouched for.
func TestForwardAuthPendingSecondFactor(t *testing.T) {
	g, b := forwardAuthGateway(t, gatewaytest.Options{Policy: "mfa: {mode: required}"})
	rec := ask(t, g, askingProxy, cookieOf(t, b), "GET", "/leads/7", "Accept", "application/json")
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Location") != "/.gatehouse/2fa/enroll?rd=%2Fleads%2F7" ||
		rec.Header().Get(proxy.HeaderUser) != "" || !strings.Contains(rec.Body.String(), "mfa_required") {
		t.Errorf("pending enrolment: %d %q %s, want 401 to the enrolment step", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
}

// TestForwardAuthEndedSessions: a disabled user's session, a logged-out
// one and an idle one are answered 401 (the session cookie cleared),
// while use through forward-auth alone keeps a session alive as proxied
// requests do.
func TestForwardAuthEndedSessions(t *testing.T) {
	t.Run("user disabled", func(t *testing.T) {
		g, b := forwardAuthGateway(t, gatewaytest.Options{})
		u, err := g.Dir.UserByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled = true
		if err := g.Dir.UpdateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		g.Refresh(t)
		rec := ask(t, g, askingProxy, cookieOf(t, b), "GET", "/", "Accept", "application/json")
		if _, reason := loginTarget(t, rec); reason != proxy.EndedRevoked && reason != "" {
			t.Errorf("reason %q", reason)
		}
	})
	t.Run("logged out", func(t *testing.T) {
		g, b := forwardAuthGateway(t, gatewaytest.Options{})
		ck := cookieOf(t, b)
		b.Do(t, http.MethodPost, "/.gatehouse/logout", url.Values{})
		rec := ask(t, g, askingProxy, ck, "GET", "/", "Accept", "application/json")
		loginTarget(t, rec)
		if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "gatehouse=;") || strings.Contains(sc, ck) {
			t.Errorf("Set-Cookie %q, want the session cookie cleared", sc)
		}
	})
	t.Run("idle timeout and touch", func(t *testing.T) {
		g, b := forwardAuthGateway(t, gatewaytest.Options{Policy: "session: {absolute_lifetime: 12h, idle_timeout: 30m}"})
		ck := cookieOf(t, b)
		for i := range 3 {
			g.Advance(t, 20*time.Minute)
			if rec := ask(t, g, askingProxy, ck, "GET", "/"); rec.Code != http.StatusOK {
				t.Fatalf("use %d, 20m after the last: %d, want 200 (each use counts as activity)", i, rec.Code)
			}
		}
		g.Advance(t, 31*time.Minute)
		rec := ask(t, g, askingProxy, ck, "GET", "/", "Accept", "application/json")
		if _, reason := loginTarget(t, rec); reason != string(session.ReasonIdle) {
			t.Errorf("after 31m idle: reason %q, want %q", reason, session.ReasonIdle)
		}
	})
}

// downStore is a memory store whose reads fail while down.
type downStore struct {
	session.Backend
	down atomic.Bool
}

func (s *downStore) Get(ctx context.Context, id string, t session.Touch) (session.Record, error) {
	if s.down.Load() {
		return session.Record{}, errors.Join(session.ErrUnavailable, errors.New("session store: connection refused"))
	}
	return s.Backend.Get(ctx, id, t)
}

// TestForwardAuthFailsClosed: with the session store down, or the view of
// the directory too stale to know of revocations, the answer is 503,
// never 200.
func TestForwardAuthFailsClosed(t *testing.T) {
	t.Run("session store down", func(t *testing.T) {
		clk := gatewaytest.NewClock()
		st := &downStore{Backend: memory.New(clk.Now)}
		g, b := forwardAuthGateway(t, gatewaytest.Options{Store: st})
		st.down.Store(true)
		if rec := ask(t, g, askingProxy, cookieOf(t, b), "GET", "/"); rec.Code != http.StatusServiceUnavailable || rec.Header().Get(proxy.HeaderUser) != "" {
			t.Errorf("got %d user %q, want 503", rec.Code, rec.Header().Get(proxy.HeaderUser))
		}
	})
	t.Run("directory stale", func(t *testing.T) {
		g, b := forwardAuthGateway(t, gatewaytest.Options{})
		g.Clock.Advance(11 * time.Second) // no poll meanwhile
		if rec := ask(t, g, askingProxy, cookieOf(t, b), "GET", "/"); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("got %d, want 503", rec.Code)
		}
	})
}

// TestForwardAuthOffByDefault: without the route set mounted the
// endpoint does not exist.
func TestForwardAuthOffByDefault(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{TrustedProxies: askingProxy + "/32"})
	req := httptest.NewRequest(http.MethodGet, proxy.ForwardAuthPath, nil)
	req.RemoteAddr = askingProxy + ":1"
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-URI", "/")
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("got %d, want 404", rec.Code)
	}
}
