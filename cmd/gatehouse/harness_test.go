package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/password"
)

// clock is the injected time every part of a test replica reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// upstream is a real HTTP server standing in for the CRM; it records what
// arrived so tests can check the upstream side of the proxy.
type upstream struct {
	*http.Server
	URL  string
	mu   sync.Mutex
	reqs []*http.Request
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{URL: "http://" + ln.Addr().String()}
	u.Server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "crm:"+r.Header.Get("X-Gatehouse-User"))
	})}
	go u.Serve(ln)
	t.Cleanup(func() { u.Close() })
	return u
}

func (u *upstream) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// replica is one running gateway built by the same code as `serve`.
type replica struct {
	*server
	URL     string
	cfgPath string
	vars    []string
	stderr  *syncBuffer
	// stop shuts the replica down as SIGTERM would (drain, then close) and
	// returns serve's result; later calls return the same.
	stop func() error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startReplica writes config (a YAML body without listen, which is added,
// and public_url, added unless given) to a file and serves it on a free
// loopback port.
func startReplica(t testing.TB, config string, clk *clock, vars ...string) *replica {
	t.Helper()
	return startReplicaOn(t, listenLocal(t), config, clk, vars...)
}

// listenLocal reserves the replica's address before it starts, for tests
// that must tell an IdP the gateway's callback URL first.
func listenLocal(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startReplicaOn is startReplica on a listener the test already holds.
func startReplicaOn(t testing.TB, ln net.Listener, config string, clk *clock, vars ...string) *replica {
	t.Helper()
	return startReplicaTTY(t, ln, config, clk, false, vars...)
}

// startReplicaTTY is startReplicaOn with stderr taken for a terminal when
// tty is set (an interactive start, where the first admin's password is
// shown).
func startReplicaTTY(t testing.TB, ln net.Listener, config string, clk *clock, tty bool, vars ...string) *replica {
	t.Helper()
	base := "http://" + ln.Addr().String()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := "listen: " + ln.Addr().String() + "\n" + config
	if !strings.Contains(config, "public_url:") {
		body += "\npublic_url: " + base + "\n"
	}
	if !strings.Contains(config, "secrets:") {
		body += "\nsecrets: {key_file: " + keyFile(t) + "}\n"
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, vars: vars, tty: &tty}
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now
	if clk != nil {
		now = clk.Now
	}
	a, err := openApp(ctx, e, path, true, now)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	s, err := newServer(ctx, a, ln.Addr().String())
	if err != nil {
		t.Fatalf("new server: %v\n%s", err, stderr)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	return &replica{server: s, URL: base, cfgPath: path, vars: vars, stderr: stderr, stop: stop}
}

// keyFile writes a fresh at-rest key file, as an operator would.
func keyFile(t testing.TB) string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	p := filepath.Join(t.TempDir(), "gatehouse.keys")
	if err := os.WriteFile(p, []byte("k1 "+base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sqliteConfig is a replica config on a fresh SQLite file and the memory
// store, proxying to up.
func sqliteConfig(t testing.TB, up *upstream, extra string) string {
	return "upstream: " + up.URL + "\ndirectory: {driver: sqlite, dsn: " + filepath.Join(t.TempDir(), "gh.db") + "}\n" + extra
}

// addUser creates a user with a password straight in the replica's
// directory.
func (r *replica) addUser(t testing.TB, username, pw, role string, groups ...string) *directory.User {
	t.Helper()
	h, err := password.NewHasher(password.Default, 1).Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	u := &directory.User{Username: username, Email: username + "@corp.example", Role: role, Groups: groups, PasswordHash: h}
	if err := r.a.dir.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// refresh makes the replica poll the directory now, as its background
// poll would within a second.
func (r *replica) refresh(t *testing.T) {
	t.Helper()
	if err := r.watcher.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// browser is an HTTP client that behaves like one: it keeps cookies, sends
// Accept: text/html and same-origin fetch metadata, and does not follow
// redirects (tests check them).
type browser struct {
	*http.Client
	base string
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: base, Client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(t testing.TB, method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b *browser) get(t testing.TB, path string, hdr ...string) (*http.Response, string) {
	return b.do(t, http.MethodGet, path, nil, hdr...)
}

// login posts the form and requires success.
func (b *browser) login(t testing.TB, username, pw string) {
	t.Helper()
	resp, body := b.do(t, http.MethodPost, "/.gatehouse/login", url.Values{"username": {username}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d, want 303\n%s", username, resp.StatusCode, body)
	}
}

func (b *browser) cookie(t testing.TB) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gatehouse" {
			return c
		}
	}
	return nil
}

func (b *browser) setCookie(value string) {
	u, _ := url.Parse(b.base)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse", Value: value, Path: "/"}})
}

// wantLoginRedirect checks resp sends the browser to the login page,
// with the given reason ("" for none).
func wantLoginRedirect(t *testing.T, resp *http.Response, reason string) {
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
