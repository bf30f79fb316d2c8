package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/password"
)

// The binary's tests share the proxy packages' test parts: the injected
// clock, the recording upstream and the browser.
type (
	clock    = gatewaytest.Clock
	upstream = gatewaytest.Upstream
	browser  = gatewaytest.Browser
)

func newClock() *clock { return gatewaytest.NewClock() }

func startUpstream(t testing.TB) *upstream { return gatewaytest.StartUpstream(t, nil) }

func newBrowser(t testing.TB, base string) *browser { return gatewaytest.NewBrowser(base) }

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

type syncBuffer = gatewaytest.SyncBuffer

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
	if !strings.Contains(config, "shutdown:") {
		// Tests stop replicas by the hundred; the drain delay has its own test.
		body += "\nshutdown: {drain_delay: 0s}\n"
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
	return "upstream: " + up.URL + "\ndirectory: {driver: sqlite, dsn: " + filepath.Join(t.TempDir(), "data", "gh.db") + "}\n" + extra
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

// wantLoginRedirect checks resp sends the browser to the login page,
// with the given reason ("" for none).
func wantLoginRedirect(t *testing.T, resp *http.Response, reason string) {
	t.Helper()
	gatewaytest.WantLoginRedirect(t, resp, reason)
}
