package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The nginx block of docs/forward-auth.md names these; the test puts its
// own addresses in their place.
const (
	docGatehouse = "server 127.0.0.1:8080;"
	docCRM       = "server 127.0.0.1:8000;"
	docListen    = "listen 80;"
)

// TestForwardAuthNginx runs a real nginx in auth_request mode in front of
// the gateway and the CRM, with the configuration docs/forward-auth.md
// gives, and drives it as a browser and a program would.
func TestForwardAuthNginx(t *testing.T) {
	bin := nginxBinary(t)
	up := startUpstream(t)
	port := freePort(t)
	front := "http://127.0.0.1:" + strconv.Itoa(port)
	r := startReplica(t, sqliteConfig(t, up, "public_url: "+front+"\ntrusted_proxies: [127.0.0.1]\nforward_auth: {enabled: true}\n"+accessPolicy), nil)
	r.addUser(t, "alice", alicePW, "sales")
	gw, _ := url.Parse(r.URL)
	crm, _ := url.Parse(up.URL)
	startNginx(t, bin, port, nginxServerBlock(t, gw.Host, crm.Host, port))

	// An anonymous browser goes to the login page, rd naming the URL it
	// asked for; a program gets the 401. Neither reaches the CRM.
	anon := newBrowser(t, front)
	resp, _ := anon.Get(t, "/leads/7?tab=notes")
	// nginx makes the Location absolute on the host the browser used.
	wantLogin := "/.gatehouse/login?rd=" + url.QueryEscape(front+"/leads/7?tab=notes")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != front+wantLogin {
		t.Fatalf("anonymous browser: %d Location %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), wantLogin)
	}
	if resp, _ := anon.Get(t, "/leads/7", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous program: %d, want 401", resp.StatusCode)
	}
	if resp, _ := anon.Get(t, "/leads/7", "X-Gatehouse-User", "alice"); resp.StatusCode != http.StatusFound {
		t.Fatalf("anonymous browser claiming to be alice: %d, want 302 to the login page", resp.StatusCode)
	}
	if up.Count() != 0 {
		t.Fatalf("the CRM received %d requests from anonymous clients", up.Count())
	}

	// Logging in through nginx returns the browser to where it was.
	b := newBrowser(t, front)
	b.SetCookie("theme", "dark")
	resp, body := b.Get(t, wantLogin)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="/leads/7?tab=notes"`) {
		t.Fatalf("login page through nginx: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, http.MethodPost, "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {"/leads/7?tab=notes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/leads/7?tab=notes" {
		t.Fatalf("login through nginx: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	session := b.Cookie("gatehouse")
	if session == nil {
		t.Fatal("no session cookie after the login")
	}

	// The CRM sees who it is, vouched for by the gateway, and never the
	// gateway's cookie; the client's own identity headers never arrive.
	resp, body = b.Get(t, "/leads/7?tab=notes", "X-Gatehouse-User", "mallory", "X-Gatehouse-Key-Id", "forged", "X_Gatehouse_User", "mallory")
	if resp.StatusCode != http.StatusOK || body != "crm:alice" {
		t.Fatalf("signed in through nginx: %d %q, want the CRM's answer for alice", resp.StatusCode, body)
	}
	last := up.Last(t)
	want := map[string]string{"X-Gatehouse-User": "alice", "X-Gatehouse-Email": "alice@corp.example", "X-Gatehouse-Role": "sales",
		"X-Gatehouse-Auth-Method": "password"}
	for h, v := range want {
		if got := last.Header.Get(h); got != v {
			t.Errorf("CRM got %s %q, want %q", h, got, v)
		}
	}
	if a := last.Header.Get("X-Gatehouse-Assertion"); strings.Count(a, ".") != 2 || last.Header.Get("X-Gatehouse-Session") == "" {
		t.Errorf("CRM got assertion %q, session %q", a, last.Header.Get("X-Gatehouse-Session"))
	}
	for k, vs := range last.Header {
		for _, v := range vs {
			if strings.Contains(v, "mallory") || strings.Contains(v, "forged") || strings.Contains(v, session.Value) {
				t.Errorf("CRM got %s: %q", k, v)
			}
		}
	}
	if c, err := last.Cookie("theme"); err != nil || c.Value != "dark" || strings.Contains(last.Header.Get("Cookie"), "gatehouse") {
		t.Errorf("CRM got Cookie %q, want theme=dark and no gateway cookie", last.Header.Get("Cookie"))
	}

	// A route rule refuses on the original path; a client cannot ask
	// the check itself.
	before := up.Count()
	if resp, _ := b.Get(t, "/admin/users"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("route rule through nginx: %d, want 403", resp.StatusCode)
	}
	// Nor can it name another path in the family nginx does not set.
	if resp, _ := b.Get(t, "/admin/users", "X-Forwarded-Uri", "/leads/7", "X-Forwarded-Method", "GET"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("route rule with a client's X-Forwarded-Uri: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/.gatehouse/auth", "X-Original-URI", "/admin/users", "X-Original-Method", "GET"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a client asking /.gatehouse/auth through nginx: %d, want nginx's 404 (internal)", resp.StatusCode)
	}
	if up.Count() != before {
		t.Errorf("the CRM received a refused request")
	}

	// After logout the browser, and anyone holding the old cookie, is
	// sent to the login page again.
	if resp, _ := b.Do(t, http.MethodPost, "/.gatehouse/logout", url.Values{}); resp.StatusCode >= 400 {
		t.Fatalf("logout through nginx: %d", resp.StatusCode)
	}
	replay := newBrowser(t, front)
	replay.SetCookie("gatehouse", session.Value)
	for name, br := range map[string]*browser{"the browser": b, "the old cookie": replay} {
		resp, _ := br.Get(t, "/leads/7")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), front+"/.gatehouse/login?") {
			t.Errorf("%s after logout: %d %q, want 302 to the login page", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if up.Count() != before {
		t.Errorf("the CRM received a request after logout")
	}
}

// nginxBinary returns nginx, or skips (fails under CI=true) naming the
// package.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx not installed (apt-get install nginx; .ci/ensure-services.sh does)")
	}
	t.Skip("nginx not installed (apt-get install nginx; .ci/ensure-services.sh does)")
	return ""
}

// nginxServerBlock is the nginx block of docs/forward-auth.md with the
// test's addresses. Each address the doc names must appear exactly once,
// so the doc and the test cannot drift apart unnoticed.
func nginxServerBlock(t *testing.T, gatehouse, crm string, port int) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n## nginx\n")
	if ok {
		_, rest, ok = strings.Cut(rest, "```nginx\n")
	}
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatal("docs/forward-auth.md has no ```nginx block under ## nginx")
	}
	for _, rp := range [][2]string{
		{docGatehouse, "server " + gatehouse + ";"},
		{docCRM, "server " + crm + ";"},
		{docListen, fmt.Sprintf("listen 127.0.0.1:%d;", port)},
	} {
		if n := strings.Count(block, rp[0]); n != 1 {
			t.Fatalf("docs/forward-auth.md's nginx block names %q %d times, want once", rp[0], n)
		}
		block = strings.Replace(block, rp[0], rp[1], 1)
	}
	return block
}

// startNginx runs nginx in the foreground as an unprivileged process, with
// everything it writes (pid, logs, temporary files) in a temporary folder,
// until the test ends.
func startNginx(t *testing.T, bin string, port int, httpBlock string) {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, httpBlock)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	runProxy(t, "nginx", cmd, dir, port, syscall.SIGQUIT, func() string {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(log)
	})
}

// runProxy runs a proxy's command (nginx, caddy) until the test ends:
// never as root (as nobody, in dir, which it then owns), stopped with
// stop at cleanup, and started once port accepts connections. Its output
// and logs() are shown when it fails to start or the test fails.
func runProxy(t *testing.T, name string, cmd *exec.Cmd, dir string, port int, stop os.Signal, logs func() string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s\n%s", name, out, logs())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %v\n%s\n%s", name, waitErr, out, logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %d\n%s", name, port, out)
		}
	}
}
