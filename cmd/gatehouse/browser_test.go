package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBrowserLoginLogout is the end-to-end check: the real binary, started
// the way an operator starts it, driven by Debian's Chromium through
// testdata/browser/login.mjs (playwright-core) — redirect to login, a wrong
// password, login, the demo CRM verifying the signed assertion, an
// HttpOnly session cookie, logout, and a replayed cookie refused.
func TestBrowserLoginLogout(t *testing.T) {
	e := newE2E(t)
	pw := e.start("")
	shot := filepath.Join(e.dir, "crm.png")
	e.node("login.mjs", e.base, e2eUser, pw, shot, "gatehouse")
	// A copy outside the test's temp dir, for a human to look at.
	if png, err := os.ReadFile(shot); err == nil {
		copyTo := filepath.Join(os.TempDir(), "gatehouse-browser.png")
		if err := os.WriteFile(copyTo, png, 0o644); err == nil {
			t.Logf("screenshot of the CRM page: %s", copyTo)
		}
	}
}

// e2eRun is one browser test: the built binary, its address and, once
// started, its config.
type e2eRun struct {
	t                                   *testing.T
	chromium, dir, bin, addr, base, cfg string
}

// newE2E skips under -short (and without a browser, outside CI), builds
// the binary and reserves an address.
func newE2E(t *testing.T) *e2eRun {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the binary and a browser; skipped with -short")
	}
	e := &e2eRun{t: t, chromium: e2eBrowser(t), dir: t.TempDir()}
	e.bin = e2eBuild(t, e.dir)
	e.addr = e2eFreeAddr(t)
	e.base = "http://" + e.addr
	return e
}

// e2eUser is the user the browser logs in as, created with the CLI the
// way an operator would before the first start.
const e2eUser = "alice"

// start writes a config (embedded defaults on a fresh SQLite directory,
// plus extra), creates e2eUser with `gatehouse user add --password-stdin`,
// starts the binary and returns the user's password.
func (e *e2eRun) start(extra string) string {
	e.t.Helper()
	e.cfg = filepath.Join(e.dir, "gatehouse.yaml")
	e2eWriteFile(e.t, e.cfg, fmt.Sprintf("listen: %s\npublic_url: %s\nupstream: demo\nsession: {store: memory}\ndirectory: {driver: sqlite, dsn: %s}\nsecrets: {key_file: %s}\nshutdown: {drain_delay: 0s}\n%s",
		e.addr, e.base, filepath.Join(e.dir, "data", "gatehouse.db"), filepath.Join(e.dir, "data", "gatehouse.keys"), extra))
	pw := rand.Text()
	add := exec.Command(e.bin, "user", "add", "--username", e2eUser, "--email", e2eUser+"@corp.example", "--role", "sales",
		"--password-stdin", "--config", e.cfg)
	add.Env = e2eEnv()
	add.Stdin = strings.NewReader(pw + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		e.t.Fatalf("gatehouse user add: %v\n%s", err, out)
	}
	e2eStart(e.t, e.bin, e.cfg)
	e2eWaitHealthy(e.t, e.base+"/.gatehouse/healthz")
	return pw
}

// e2eEnv is the test's environment without GATEHOUSE_* variables.
func e2eEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// node runs a testdata/browser script against Chromium and fails the
// test when it does.
func (e *e2eRun) node(script string, args ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("testdata", "browser", script)}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+e.chromium)
	out, err := cmd.CombinedOutput()
	e.t.Logf("%s:\n%s", script, out)
	if err != nil {
		e.t.Fatalf("browser flow %s failed: %v", script, err)
	}
}

// e2eBrowser returns the Chromium binary, or skips (fails under
// CI=true) naming what is missing and how to get it.
func e2eBrowser(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium, or set CHROMIUM_PATH)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (apt-get install nodejs)")
	}
	if _, err := os.Stat(filepath.Join("testdata", "browser", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "testdata/browser/node_modules (npm ci in cmd/gatehouse/testdata/browser, or make test)")
	}
	if len(missing) == 0 {
		return chromium
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser test prerequisites missing: %s", strings.Join(missing, "; "))
	}
	t.Skipf("browser test prerequisites missing: %s", strings.Join(missing, "; "))
	return ""
}

// e2eBuild builds the binary from this package into dir.
func e2eBuild(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "gatehouse")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2eFreeAddr returns a 127.0.0.1 port that was free a moment ago;
// the config needs it before the server starts, for public_url.
func e2eFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func e2eWriteFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// e2eStart runs `gatehouse serve --config cfg` with no GATEHOUSE_*
// variables from the test's environment, and stops the server (and
// reports its stderr on failure) when the test ends.
func e2eStart(t *testing.T, bin, cfg string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = e2eEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gatehouse: %v", err)
	}
	log := &e2eLog{}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.add(sc.Text())
		}
	}()
	t.Cleanup(func() {
		// SIGTERM asks for a drain; stderr reaches EOF when the process is gone.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-scanned:
		case <-time.After(15 * time.Second):
			t.Errorf("gatehouse did not stop within 15s of SIGTERM; killing it")
			_ = cmd.Process.Kill()
			<-scanned
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gatehouse stderr:\n%s", log.String())
		}
	})
}

// e2eWaitHealthy polls url until it answers 200: the server's readiness, not
// a timing assumption.
func e2eWaitHealthy(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy within 30s: last error %v", url, err)
		}
	}
}

type e2eLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *e2eLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line)
	l.b.WriteByte('\n')
}

func (l *e2eLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBrowserTOTP: with 2FA required by policy, Chromium enrols (the script
// reads the secret from the page and computes the codes itself), logs out
// and logs in again with a code. It may wait up to one 30 s TOTP step,
// because the step used at enrolment is spent.
func TestBrowserTOTP(t *testing.T) {
	e := newE2E(t)
	pw := e.start("policy: {mfa: {mode: required}}\n")
	e.node("totp.mjs", e.base, e2eUser, pw, filepath.Join(e.dir, "totp.png"))
}
