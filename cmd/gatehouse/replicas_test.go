package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// productionConfig is a replica on real PostgreSQL and Redis, with a key
// prefix and database of the test's own.
func productionConfig(t testing.TB, dsn, redisAddr, prefix string, up *upstream) string {
	return fmt.Sprintf("upstream: %s\ndirectory: {driver: postgres, dsn: %q}\nsession: {store: redis, redis: {addrs: [%s], key_prefix: %q}}\nsecrets: {key_file: %s}\n",
		up.URL, dsn, redisAddr, prefix, keyFile(t))
}

// twoReplicas starts two replicas on a fresh PostgreSQL database and
// Redis prefix of their own, proxying to one upstream, with extra config.
func twoReplicas(t *testing.T, extra string) (a, b *replica) {
	dsn := directorytest.PostgresDSN(t)
	addr, prefix := storetest.RedisAddr(t), storetest.RedisPrefix(t)
	cfg := productionConfig(t, dsn, addr, prefix, startUpstream(t)) + extra
	return startReplica(t, cfg, nil), startReplica(t, cfg, nil)
}

func TestTwoReplicasShareRedisAndPostgres(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	addr, prefix := storetest.RedisAddr(t), storetest.RedisPrefix(t)
	clk := newClock()
	up := startUpstream(t)
	cfg := productionConfig(t, dsn, addr, prefix, up)
	a := startReplica(t, cfg, clk)
	b := startReplica(t, cfg, clk)
	a.addUser(t, "alice", alicePW, "sales")

	onA := newBrowser(t, a.URL)
	onA.Login(t, "alice", alicePW)
	onB := newBrowser(t, b.URL)
	onB.SetCookie("gatehouse", onA.Cookie("gatehouse").Value)
	if resp, body := onB.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("session from replica A refused on B: %d %q", resp.StatusCode, body)
	}
	// The replicas agreed on one signing key although both started on an
	// empty directory: B's assertion verifies with A's JWKS.
	claims := verifyAssertionWith(t, a, b.URL, up.Last(t).Header.Get("X-Gatehouse-Assertion"), clk.Now())
	if claims.Username != "alice" {
		t.Fatalf("assertion for %q", claims.Username)
	}

	if resp, _ := onA.Do(t, "POST", "/.gatehouse/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on A: %d", resp.StatusCode)
	}
	// B had the session cached (for up to 30s); the logout's event
	// evicts it there, with no clock moving and no poll.
	start := time.Now()
	for {
		resp, _ := onB.Get(t, "/")
		if resp.StatusCode != http.StatusOK {
			wantLoginRedirect(t, resp, "")
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("replica B still accepts the session 1s after the logout on A")
		}
	}
	t.Logf("logout on A refused on B after %s", time.Since(start).Round(time.Microsecond))

	// Both push channels are up, and /readyz says so.
	waitReadyDetail(t, b.URL, map[string]string{"invalidation": "live", "directory_push": "live"})
}

// waitReadyDetail polls /readyz until its detail holds want.
func waitReadyDetail(t *testing.T, base string, want map[string]string) {
	t.Helper()
	var got struct {
		Status string            `json:"status"`
		Detail map[string]string `json:"detail"`
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(base + "/.gatehouse/readyz")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		ok := err == nil && got.Status == "ready"
		for k, v := range want {
			ok = ok && got.Detail[k] == v
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %+v (%v), want detail %v", got, err, want)
		}
	}
}

// TestPolicyChangeSeenByOtherReplica: a policy set through the CLI reaches
// the other replica through PostgreSQL's change notification (the 2 s
// bound only stops a broken build from hanging; the log shows the time).
func TestPolicyChangeSeenByOtherReplica(t *testing.T) {
	a, b := twoReplicas(t, "")
	before := b.watcher.Policy().Version
	file := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(file, []byte("session: {absolute_lifetime: 8h, idle_timeout: 10m}\nmethods: {password: true}\n"), 0o600)
	start := time.Now()
	if code, out := runCLI(t, a, "policy", "set", "--yes", "--file", file); code != 0 {
		t.Fatalf("policy set: %s", out)
	}
	for b.watcher.Policy().Version == before {
		if time.Since(start) > 2*time.Second {
			t.Fatal("replica B did not see the new policy within 2 seconds")
		}
		time.Sleep(20 * time.Millisecond) // polling for the property under test, not waiting out a timer
	}
	if got := b.watcher.Policy().Policy.Session.IdleTimeout; got != 10*time.Minute {
		t.Fatalf("B's idle timeout = %s, want 10m", got)
	}
	t.Logf("policy change reached replica B after %s", time.Since(start).Round(time.Millisecond))
}

// TestRedisOutageFailsClosed stops a real redis-server under a logged-in
// session: requests get 503 (never the upstream), the gateway stays up,
// and it recovers by itself when Redis returns.
// redisServer returns a function that starts a throw-away redis-server
// (no persistence) on a free port, and that port; it fails the test under
// CI when redis-server is missing, and skips it otherwise.
func redisServer(t *testing.T) (start func() *exec.Cmd, port int) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	port = freePort(t)
	return func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitTCP(t, port)
		return cmd
	}, port
}

func TestRedisOutageFailsClosed(t *testing.T) {
	startRedis, port := redisServer(t)
	redis := startRedis()
	t.Cleanup(func() { redis.Process.Kill(); redis.Wait() })

	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, fmt.Sprintf("session: {store: redis, cache_ttl: 0s, redis: {addrs: ['127.0.0.1:%d'], dial_timeout: 200ms, read_timeout: 200ms}}\n", port)), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)

	redis.Process.Kill()
	redis.Wait()
	before := up.Count()
	resp, body := b.Get(t, "/")
	if resp.StatusCode != http.StatusServiceUnavailable || up.Count() != before {
		t.Fatalf("with Redis down: got %d (upstream hit: %v), want 503 and no upstream request\n%s", resp.StatusCode, up.Count() != before, body)
	}
	if resp, _ := b.Get(t, "/.gatehouse/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz with Redis down: %d, want 200 (process is up)", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/.gatehouse/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Redis down: %d, want 503", resp.StatusCode)
	}
	if resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", map[string][]string{"username": {"alice"}, "password": {alicePW}}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("login with Redis down: %d, want 503", resp.StatusCode)
	}

	redis = startRedis()
	// Redis came back empty (no persistence): the old session is gone,
	// and logging in works again without restarting the gateway.
	resp, _ = b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	b.Login(t, "alice", alicePW)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("after Redis returned: %d", resp.StatusCode)
	}
}

// TestDirectoryOutageFailsClosed: when the directory cannot be polled the
// replica can no longer learn of revocations, so past max staleness it
// refuses authenticated requests.
func TestDirectoryOutageFailsClosed(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	r.a.dir.Close()
	if err := r.watcher.Refresh(t.Context()); err == nil {
		t.Fatal("refresh succeeded against a closed directory")
	}
	clk.Advance(11 * time.Second)
	before := up.Count()
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusServiceUnavailable || up.Count() != before {
		t.Fatalf("with the directory unreachable: got %d, want 503 and no upstream request", resp.StatusCode)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitTCP(t *testing.T, port int) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %d", port)
}

// TestRevocationWhileReplicasRestartIsApplied: a logout-everywhere
// recorded while no replica runs (a rolling restart) is carried out by the
// next replica to start, not marked seen and forgotten.
func TestRevocationWhileReplicasRestartIsApplied(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	addr, prefix := storetest.RedisAddr(t), storetest.RedisPrefix(t)
	up := startUpstream(t)
	cfg := productionConfig(t, dsn, addr, prefix, up)
	a := startReplica(t, cfg, nil)
	a.addUser(t, "alice", alicePW, "sales")
	onA := newBrowser(t, a.URL)
	onA.Login(t, "alice", alicePW)
	cookie := onA.Cookie("gatehouse").Value
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, a, "user", "logout", "alice"); code != 0 {
		t.Fatalf("user logout: %s", out)
	}
	b := startReplica(t, cfg, nil)
	onB := newBrowser(t, b.URL)
	onB.SetCookie("gatehouse", cookie)
	resp, _ := onB.Get(t, "/")
	wantLoginRedirect(t, resp, "")
}

// TestTemplateChangeSeenByOtherReplica: a template changed through the
// CLI applies on the other replica, to a session it already has cached,
// through PostgreSQL's change notification rather than the next poll.
func TestTemplateChangeSeenByOtherReplica(t *testing.T) {
	a, b := twoReplicas(t, accessPolicy)
	a.addUser(t, "alice", alicePW, "sales")
	waitReadyDetail(t, b.URL, map[string]string{"directory_push": "live"})

	onB := newBrowser(t, b.URL)
	onB.Login(t, "alice", alicePW)
	if resp, _ := onB.Get(t, "/export/leads.csv", "Accept", "application/json"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sales_user exporting before the change: %d, want 403", resp.StatusCode)
	}
	file := filepath.Join(t.TempDir(), "t.yaml")
	os.WriteFile(file, []byte("features: [leads.view, leads.export]\n"), 0o600)
	start := time.Now()
	if code, out := runCLI(t, a, "template", "set", "sales_user", "--file", file); code != 0 {
		t.Fatalf("template set: %s", out)
	}
	for {
		resp, _ := onB.Get(t, "/export/leads.csv", "Accept", "application/json")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("replica B still refuses the export 1s after the template granted it (%d)", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond) // polling for the property under test
	}
	t.Logf("template change applied on replica B after %s", time.Since(start).Round(time.Millisecond))
}

// TestRedisDownAtStart: with Redis unreachable when serve starts, the
// gateway starts anyway, unready: readyz names the session store,
// logins and sessions get 503 (never the upstream); when a real
// redis-server comes up on that port it becomes ready by itself.
func TestRedisDownAtStart(t *testing.T) {
	startRedis, port := redisServer(t)
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, fmt.Sprintf("session: {store: redis, redis: {addrs: ['127.0.0.1:%d'], dial_timeout: 200ms, read_timeout: 200ms}}\n", port)), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	if !strings.Contains(r.stderr.String(), "session store unreachable at start") {
		t.Errorf("no warning about the unreachable store:\n%s", r.stderr.String())
	}
	resp, err := http.Get(r.URL + "/.gatehouse/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"session_store":"unreachable"`) {
		t.Fatalf("readyz with Redis down at start: %d %s", resp.StatusCode, body)
	}
	b := newBrowser(t, r.URL)
	if resp, _ := b.Do(t, "POST", "/.gatehouse/login", map[string][]string{"username": {"alice"}, "password": {alicePW}}); resp.StatusCode != http.StatusServiceUnavailable || up.Count() != 0 {
		t.Fatalf("login with Redis down: %d (upstream requests %d)", resp.StatusCode, up.Count())
	}
	// go-redis's own complaints arrive through the gateway's log, not as
	// plain "redis: <date>" lines beside it.
	if log := r.stderr.String(); strings.Contains(log, "redis: 20") || !strings.Contains(log, "component=go-redis") {
		t.Errorf("go-redis messages not routed into the log:\n%s", log)
	}

	redis := startRedis()
	t.Cleanup(func() { redis.Process.Kill(); redis.Wait() })
	waitReadyDetail(t, r.URL, map[string]string{})
	b.Login(t, "alice", alicePW)
	if resp, body := b.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("after Redis came up: %d %q", resp.StatusCode, body)
	}
}
