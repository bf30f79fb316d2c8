package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

const pw = "correct horse battery"

func loggedIn(t *testing.T, o gatewaytest.Options) (*gatewaytest.Gateway, *gatewaytest.Browser) {
	t.Helper()
	g := gatewaytest.Start(t, o)
	g.AddUser(t, "alice", pw, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	b.Login(t, "alice", pw)
	return g, b
}

// TestSpoofableHeadersNeverReachUpstream: headers that common web stacks
// read as the client's address, the logged-in user or the request path
// are removed, and the upstream sees the gateway's public host, never one
// the client chose (review finding F14).
func TestSpoofableHeadersNeverReachUpstream(t *testing.T) {
	g, b := loggedIn(t, gatewaytest.Options{})
	spoofed := []string{"True-Client-IP", "X-Client-IP", "CF-Connecting-IP", "X-Real-IP", "Remote-User", "X-Remote-User",
		"X-Forwarded-User", "X-Forwarded-Email", "X-Auth-Request-User", "X-Auth-Request-Email", "X-User", "X-Original-URL",
		"X-Rewrite-URL", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "Forwarded", "X_Remote_User", "x-real_ip"}
	var hdr []string
	for _, h := range spoofed {
		hdr = append(hdr, h, "evil")
	}
	hdr = append(hdr, "Host", "evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-For", "6.6.6.6")
	if resp, _ := b.Get(t, "/x", hdr...); resp.StatusCode != 200 {
		t.Fatalf("proxied: %d", resp.StatusCode)
	}
	up := g.Upstream.Last(t)
	for k, v := range up.Header {
		for _, s := range v {
			if strings.Contains(s, "evil") || strings.Contains(s, "6.6.6.6") {
				t.Errorf("upstream got %s: %q", k, s)
			}
		}
	}
	public, _ := url.Parse(g.URL)
	if up.Host != public.Host || up.Header.Get("X-Forwarded-Host") != public.Host {
		t.Errorf("upstream Host %q, X-Forwarded-Host %q, want the public host %q", up.Host, up.Header.Get("X-Forwarded-Host"), public.Host)
	}
	if got := up.Header.Get("X-Real-Ip"); got != "127.0.0.1" {
		t.Errorf("X-Real-Ip = %q, want the client's address", got)
	}

	// An absolute-form request line names its own host.
	conn, err := net.Dial("tcp", public.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ck := b.Cookie("gatehouse")
	io.WriteString(conn, "GET http://evil.example/y HTTP/1.1\r\nHost: evil.example\r\nCookie: gatehouse="+ck.Value+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || g.Upstream.Last(t).Host != public.Host {
		t.Errorf("absolute-form: %d, upstream Host %q", resp.StatusCode, g.Upstream.Last(t).Host)
	}
}

// TestGatewayCookiesNotForwarded: the remember-device and login-binding
// cookies, like the session cookie, never reach the CRM (review finding
// F11); the CRM's own cookies do.
func TestGatewayCookiesNotForwarded(t *testing.T) {
	g, b := loggedIn(t, gatewaytest.Options{})
	b.SetCookie("gatehouse-device", "remember-token")
	b.SetCookie("gatehouse-login", "binding")
	b.SetCookie("crm_session", "crm")
	b.Get(t, "/")
	got := g.Upstream.Last(t).Header.Get("Cookie")
	if got != "crm_session=crm" {
		t.Fatalf("upstream Cookie %q, want only the CRM's own", got)
	}
}

// TestNonWebSocketUpgradeRefused: an h2c (or any other) upgrade would
// carry requests the gateway never sees; only WebSocket is forwarded
// (review finding F3).
func TestNonWebSocketUpgradeRefused(t *testing.T) {
	g, b := loggedIn(t, gatewaytest.Options{})
	before := g.Upstream.Count()
	for _, up := range []string{"h2c", "TLS/1.2", "websocket, h2c"} {
		resp, _ := b.Get(t, "/x", "Connection", "Upgrade, HTTP2-Settings", "Upgrade", up, "HTTP2-Settings", "AAMAAABkAAQAAP__")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Upgrade: %s: %d, want 400", up, resp.StatusCode)
		}
	}
	if g.Upstream.Count() != before {
		t.Fatal("a refused upgrade reached the upstream")
	}
}

// wsUpstream accepts any WebSocket upgrade and echoes bytes.
func wsUpstream(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "" {
		io.WriteString(w, "crm")
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	io.Copy(conn, brw)
}

// openTunnel upgrades through the gateway with the browser's cookie and
// checks the echo works.
func openTunnel(t *testing.T, g *gatewaytest.Gateway, b *gatewaytest.Browser) net.Conn {
	t.Helper()
	public, _ := url.Parse(g.URL)
	conn, err := net.Dial("tcp", public.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: "+public.Host+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: gatehouse="+b.Cookie("gatehouse").Value+"\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(conn, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the tunnel: %q %v", buf, err)
	}
	return conn
}

// waitClosed requires the tunnel to be closed by the gateway within d.
func waitClosed(t *testing.T, conn net.Conn, d time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 16)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("tunnel still open %s after its session ended", d)
		}
		return
	}
}

// TestWebSocketClosedWhenSessionEnds: an upgraded connection used to
// outlive its session; now logout, a disabled user and the absolute
// lifetime each close it (review finding F3).
func TestWebSocketClosedWhenSessionEnds(t *testing.T) {
	t.Run("logout", func(t *testing.T) {
		g, b := loggedIn(t, gatewaytest.Options{Upstream: wsUpstream})
		conn := openTunnel(t, g, b)
		b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
		waitClosed(t, conn, 2*time.Second)
	})
	t.Run("user disabled", func(t *testing.T) {
		g, b := loggedIn(t, gatewaytest.Options{Upstream: wsUpstream})
		conn := openTunnel(t, g, b)
		u, err := g.Dir.UserByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled = true
		if err := g.Dir.UpdateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		g.Refresh(t)
		waitClosed(t, conn, 2*time.Second)
	})
	t.Run("still open while the session lives", func(t *testing.T) {
		g, b := loggedIn(t, gatewaytest.Options{Upstream: wsUpstream})
		conn := openTunnel(t, g, b)
		time.Sleep(300 * time.Millisecond) // several re-checks
		io.WriteString(conn, "pong")
		buf := make([]byte, 4)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("live tunnel: %q %v", buf, err)
		}
	})
	t.Run("absolute lifetime", func(t *testing.T) {
		g, b := loggedIn(t, gatewaytest.Options{Upstream: wsUpstream, Policy: "session: {absolute_lifetime: 1h, idle_timeout: 30m}"})
		conn := openTunnel(t, g, b)
		g.Advance(t, 61*time.Minute)
		waitClosed(t, conn, 2*time.Second)
		// The re-check claimed the session, so it reports the end: no
		// later request or sweep will find it to.
		ev, err := g.Dir.QueryAudit(t.Context(), directory.AuditQuery{Event: audit.SessionExpired, Limit: 10})
		if err != nil || len(ev) != 1 || ev[0].Detail["reason"] != "absolute_lifetime" || ev[0].Detail["session"] == "" {
			t.Fatalf("audit after the tunnel's session expired: %+v %v, want one absolute_lifetime naming the session", ev, err)
		}
	})
}
