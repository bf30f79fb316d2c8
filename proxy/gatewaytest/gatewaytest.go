// Package gatewaytest runs a real gateway for the tests of the pipeline
// and its route sets: the proxy with the login and account pages mounted,
// a SQLite directory in a temporary folder, the memory session store, the
// password and TOTP services, the network guard, an assertion issuer and
// a recording upstream, all on loopback — the parts `gatehouse serve`
// wires, minus the configuration file. It is test support: it imports
// concrete backends, which the proxy packages themselves never do.
package gatewaytest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/directory/watch"
	"github.com/gatehouse-auth/gatehouse/auth/mfa"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/account"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/proxy/login"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

// Clock is the injected time every part of a test gateway reads.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at the current time.
func NewClock() *Clock { return &Clock{t: time.Now()} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Upstream is a real HTTP server standing in for the CRM; it records what
// arrived so tests can check the upstream side of the proxy.
type Upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

// StartUpstream starts a recording upstream; handler nil answers
// "crm:<X-Gatehouse-User>".
func StartUpstream(t testing.TB, handler http.HandlerFunc) *Upstream {
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "crm:"+r.Header.Get("X-Gatehouse-User"))
	}))
	t.Cleanup(u.Close)
	return u
}

// Last is the last request the upstream received.
func (u *Upstream) Last(t testing.TB) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// Count is how many requests the upstream received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Options shape a test gateway; the zero value is the embedded defaults'
// policy with 2FA optional.
type Options struct {
	// Policy is a YAML login policy (the config's policy: section);
	// empty means the defaults.
	Policy string
	// Upstream handles proxied requests; nil records and echoes the user.
	Upstream http.HandlerFunc
	// Providers are federated logins offered on the login page.
	Providers []auth.RedirectLogin
	// OpenProviders opens more providers once the gateway's address,
	// directory and session store exist (a real OIDC or SAML provider
	// needs the callback URL and somewhere to keep its transactions).
	OpenProviders func(g *Gateway) []auth.RedirectLogin
	// Store is the session store; nil means a fresh memory store.
	Store session.Backend
	// TrustedProxies whose X-Forwarded-For is believed.
	TrustedProxies string
	// PageTimeout and MaxPages bound gateway page requests (defaults as
	// in proxy.Options).
	PageTimeout time.Duration
	MaxPages    int
	// MFA are more options for the second-factor service (passkeys, a
	// sender).
	MFA []mfa.Option
}

// Gateway is a running test gateway and its parts.
type Gateway struct {
	*proxy.Gateway
	URL      string
	Server   *httptest.Server
	Upstream *Upstream
	Dir      *sqldir.DB
	Sessions *session.Manager
	Watcher  *watch.Watcher
	Guard    *network.Guard
	MFA      *mfa.Service
	Keys     *secret.Keyring
	Clock    *Clock
	Log      *SyncBuffer
	Store    session.Backend
	// PasswordKeys is the login form's password encryption (its keys
	// are made on first need, when the policy turns it on).
	PasswordKeys *pwcrypt.Ring
}

// SyncBuffer is a log sink safe for concurrent writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs a gateway until the test ends.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	ctx := context.Background()
	clk := NewClock()
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir, err := sqldir.Open(ctx, sqldir.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "data", "gh.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	store := o.Store
	if store == nil {
		store = memory.New(clk.Now)
	}
	rec := audit.New(log, dir)
	var pol policy.Policy
	if o.Policy != "" {
		p, err := policy.Parse([]byte(o.Policy))
		if err != nil {
			t.Fatalf("policy: %v", err)
		}
		pol = p
	}
	pol.SetDefaults()
	if _, _, err := watch.Seed(ctx, dir, pol); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{Dir: dir, Clock: clk, Log: logs}
	// The same coherent cache as serve: the memory store's bus delivers
	// every deletion to the hub before the deletion returns.
	hub := nearcache.NewHub(store, nearcache.Options{Now: clk.Now})
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { hub.Run(hubCtx); close(hubDone) }()
	t.Cleanup(func() { stopHub(); <-hubDone })
	g.Sessions = session.NewManager(store, session.Options{Now: clk.Now, Hub: hub, CacheTTL: 30 * time.Second})
	if g.Guard, err = network.New(ctx, network.Config{}, log, http.DefaultClient, clk.Now); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Guard.Close() })
	g.Watcher = watch.New(dir, log, time.Second, clk.Now)
	g.Watcher.OnPolicy(func(_ context.Context, v *policy.Versioned) { g.Guard.SetPolicy(v) })
	g.Watcher.OnAllowlists(func(_ context.Context, lists map[string][]string) { g.Guard.SetUserLists(lists) })
	g.Watcher.OnDisable(func(ctx context.Context, userID string) error {
		_, err := g.Sessions.RevokeUser(ctx, userID)
		return err
	})
	g.Watcher.OnRevoke(func(ctx context.Context, r directory.Revocation) error {
		_, err := g.Sessions.RevokeUserBefore(ctx, r.UserID, r.At)
		return err
	})
	if err := g.Watcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	if g.Keys, err = secret.NewKeyring(secret.Key{ID: "k1", Bytes: key}); err != nil {
		t.Fatal(err)
	}
	issuer := assertion.NewIssuer(signing.New(dir, g.Keys, clk.Now), "http://gatehouse.test", 5*time.Minute, clk.Now)
	if err := issuer.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	g.MFA = mfa.New(dir, g.Keys, store, mfa.Limits{Attempts: 5, Window: 15 * time.Minute}, "Gatehouse", clk.Now,
		append([]mfa.Option{mfa.EndOtherSessions(func(ctx context.Context, userID, keep string) error {
			_, err := g.Sessions.RevokeUserExcept(ctx, userID, keep)
			return err
		})}, o.MFA...)...)
	g.Upstream = StartUpstream(t, o.Upstream)
	up, _ := url.Parse(g.Upstream.URL)
	g.Server = httptest.NewUnstartedServer(nil)
	g.URL = "http://" + g.Server.Listener.Addr().String()
	public, _ := url.Parse(g.URL)
	var trusted []netip.Prefix
	if o.TrustedProxies != "" {
		trusted = parsePrefixes(t, o.TrustedProxies)
	}
	g.Store = store
	providers := o.Providers
	if o.OpenProviders != nil {
		providers = append(providers, o.OpenProviders(g)...)
	}
	g.Gateway = proxy.New(proxy.Options{
		Logger: log, PublicURL: public, Upstream: up, TrustedProxies: trusted,
		Sessions: g.Sessions, Policy: g.Watcher, Audit: rec, Assertions: issuer, Network: g.Guard,
		TunnelCheck: 50 * time.Millisecond, PageTimeout: o.PageTimeout, MaxPages: o.MaxPages,
	})
	g.PasswordKeys = pwcrypt.New(pwcrypt.Options{Keys: dir, Keyring: g.Keys, Nonces: store, Now: clk.Now})
	hasher := password.NewHasher(password.Default, 4)
	pw := password.NewAuthenticator(dir, hasher, store, password.Limits{AccountAttempts: 5, IPAttempts: 20, Window: 15 * time.Minute, Now: clk.Now})
	g.Gateway.Mount(
		login.New(g.Gateway, login.Options{Now: clk.Now, Password: pw, MFA: g.MFA, Providers: providers, Starts: store, Encryption: g.PasswordKeys,
			Backchannel: &login.Backchannel{Users: dir, Revocations: dir, Sessions: g.Sessions, Nonces: store, Values: store}}),
		account.New(g.Gateway, g.MFA),
	)
	g.Server.Config.Handler = g.Gateway
	g.Server.Start()
	t.Cleanup(g.Server.Close)
	return g
}

// AddUser creates a user with a password straight in the directory.
func (g *Gateway) AddUser(t testing.TB, username, pw, role string, groups ...string) *directory.User {
	t.Helper()
	h, err := password.NewHasher(password.Default, 1).Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	u := &directory.User{Username: username, Email: username + "@corp.example", Role: role, Groups: groups, PasswordHash: h}
	if err := g.Dir.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// SetPolicy stores a new login policy version and applies it now.
func (g *Gateway) SetPolicy(t testing.TB, doc string) {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Dir.PutPolicy(context.Background(), data, "test", false); err != nil {
		t.Fatal(err)
	}
	g.Refresh(t)
}

// Refresh makes the gateway poll the directory now, as its background
// poll would within a second.
func (g *Gateway) Refresh(t testing.TB) {
	t.Helper()
	if err := g.Watcher.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Browser is an HTTP client that behaves like one: it keeps cookies, sends
// Accept: text/html and same-origin fetch metadata, and does not follow
// redirects (tests check them).
type Browser struct {
	*http.Client
	Base string
}

// NewBrowser returns a browser for the gateway at base.
func NewBrowser(base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Base: base, Client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends a request (a form when form is not nil) with extra header
// pairs, and returns the response and its body.
func (b *Browser) Do(t testing.TB, method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.Base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.Base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// Get is Do with GET.
func (b *Browser) Get(t testing.TB, path string, hdr ...string) (*http.Response, string) {
	return b.Do(t, http.MethodGet, path, nil, hdr...)
}

// Login posts the login form and requires a 303.
func (b *Browser) Login(t testing.TB, username, pw string) *http.Response {
	t.Helper()
	resp, body := b.Do(t, http.MethodPost, "/.gatehouse/login", url.Values{"username": {username}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d, want 303\n%s", username, resp.StatusCode, body)
	}
	return resp
}

// Cookie returns the browser's cookie called name, nil when it has none.
func (b *Browser) Cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.Base)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// SetCookie plants a cookie in the browser.
func (b *Browser) SetCookie(name, value string) {
	u, _ := url.Parse(b.Base)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// WantLoginRedirect checks resp sends the browser to the login page with
// the given reason ("" for none).
func WantLoginRedirect(t testing.TB, resp *http.Response, reason string) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/.gatehouse/login?") {
		t.Fatalf("got %d Location %q, want 302 to the login page", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	if got := u.Query().Get("reason"); got != reason {
		t.Fatalf("login redirect reason = %q, want %q (Location %q)", got, reason, loc)
	}
}

func parsePrefixes(t testing.TB, list string) []netip.Prefix {
	var out []netip.Prefix
	for s := range strings.SplitSeq(list, ",") {
		p, err := policy.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// Advance moves the gateway's clock on and polls the directory, as the
// background poll would have done meanwhile (a stale view fails closed).
func (g *Gateway) Advance(t testing.TB, d time.Duration) {
	t.Helper()
	g.Clock.Advance(d)
	g.Refresh(t)
}
