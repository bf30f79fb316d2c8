package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPathProxiedExactly: what was authorized is what the upstream gets —
// escaped slashes, query and all — and unclean paths are not proxied.
func TestPathProxiedExactly(t *testing.T) {
	_, up, b := aliceSession(t, "")
	for _, uri := range []string{"/a%2Fb/c?x=1&y=%2F", "/reports/Q1%20sales", "/api/v1/leads;jsessionid=1"} {
		if resp, _ := b.Get(t, uri); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", uri, resp.StatusCode)
		}
		if got := up.Last(t).RequestURI; got != uri {
			t.Errorf("upstream RequestURI = %q, want %q", got, uri)
		}
	}
	// A dot-segment path is redirected to its clean form, not proxied.
	before := up.Count()
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.Base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /a/../.gatehouse/x HTTP/1.1\r\nHost: x\r\nCookie: gatehouse=%s\r\nConnection: close\r\n\r\n", b.Cookie("gatehouse").Value)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/x") || up.Count() != before {
		t.Fatalf("dot-segment path: got %d %q (proxied: %v), want a redirect to the clean path and nothing proxied",
			resp.StatusCode, resp.Header.Get("Location"), up.Count() != before)
	}
}

// TestWebSocketUpgradeProxied runs a raw WebSocket-style upgrade through
// the gateway to an upstream that switches protocols and echoes.
func TestWebSocketUpgradeProxied(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	user := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		user <- r.Header.Get("X-Gatehouse-User")
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo:" + line)
		rw.Flush()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	r := startReplica(t, "upstream: http://"+ln.Addr().String()+"\ndirectory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "d.db")+"}\n", newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)

	conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: gatehouse=%s\r\n\r\n", b.Cookie("gatehouse").Value)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	if got := <-user; got != "alice" {
		t.Fatalf("upstream saw user %q on the upgrade", got)
	}
	io.WriteString(conn, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo:hello\n" {
		t.Fatalf("through the tunnel: %q", line)
	}
}

// TestWebSocketUpgradeNeedsSession: an upgrade without a session is
// refused like any request.
func TestWebSocketUpgradeNeedsSession(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	req, _ := http.NewRequest("GET", r.URL+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || up.Count() != 0 {
		t.Fatalf("got %d, want 401 and nothing upstream", resp.StatusCode)
	}
}

// TestHTTPSCookieAttributes: with an https public URL the session cookie
// is __Host- prefixed, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain,
// and gateway pages carry HSTS.
func TestHTTPSCookieAttributes(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	r := startReplicaPublic(t, "https://gw.example", "upstream: "+up.URL+"\ndirectory: {driver: sqlite, dsn: "+filepath.Join(dir, "data", "d.db")+"}\n")
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}}, "Origin", "https://gw.example", "Host", "gw.example")
	sc := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if !strings.HasPrefix(sc, "__Host-gatehouse=v1.") {
		t.Fatalf("cookie name: %q", sc)
	}
	for _, attr := range []string{"; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("Set-Cookie %q lacks %q", sc, attr)
		}
	}
	if strings.Contains(strings.ToLower(sc), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain, which __Host- forbids", sc)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=31536000") {
		t.Errorf("HSTS = %q", hsts)
	}
}

// startReplicaPublic is startReplica with an explicit public URL.
func startReplicaPublic(t *testing.T, public, config string) *replica {
	t.Helper()
	return startReplica(t, config+"public_url: "+public+"\n", newClock())
}

func TestGatewayPagesHardened(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	resp, body := newBrowser(t, r.URL).Get(t, "/.gatehouse/login?reason=%3Cscript%3Ealert(1)%3C/script%3E")
	if strings.Contains(body, "<script>") {
		t.Fatal("login page reflects the reason parameter")
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
		"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
	} {
		if !strings.Contains(resp.Header.Get(h), want) {
			t.Errorf("%s = %q, want it to contain %q", h, resp.Header.Get(h), want)
		}
	}
}

// TestGracefulShutdownDrains: a request in flight when shutdown starts
// completes; new connections are refused.
func TestGracefulShutdownDrains(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "slow but done")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r := startReplica(t, "upstream: http://"+ln.Addr().String()+"\ndirectory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "d.db")+"}\n", newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)

	type result struct {
		code int
		body string
	}
	got := make(chan result, 1)
	go func() {
		resp, body := b.Get(t, "/slow")
		got <- result{resp.StatusCode, body}
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	// Shutdown has begun once new connections are refused.
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if res := <-got; res.code != 200 || res.body != "slow but done" {
		t.Fatalf("in-flight request: %d %q, want it completed", res.code, res.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestShutdownDrainDelay: on stop, /readyz fails at once while requests
// are still served for the drain delay; then the listener closes.
func TestShutdownDrainDelay(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "shutdown: {drain_delay: 400ms, timeout: 5s}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- r.stop() }()
	waitStatus := func() int {
		resp, err := http.Get(r.URL + "/.gatehouse/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 503 && !strings.Contains(string(body), `"shutdown":"draining"`) {
			t.Fatalf("readyz while draining: %s", body)
		}
		return resp.StatusCode
	}
	for waitStatus() != http.StatusServiceUnavailable {
		if time.Since(start) > 300*time.Millisecond {
			t.Fatal("readyz did not fail at once on shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Still serving: a new connection and request succeed.
	if resp, body := newBrowser(t, r.URL).Get(t, "/.gatehouse/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz during the drain: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("a request during the drain: %d %q", resp.StatusCode, body)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("stopped after %s, before the drain delay", d)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://")); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}
