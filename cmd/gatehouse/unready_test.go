package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
)

// TestDirectoryDownAtStart: with PostgreSQL unreachable as `serve`
// starts, the gateway starts anyway, alive and unready — readyz names the
// directory, every other request gets 503, nothing reaches the upstream —
// and becomes the gateway by itself once the database answers (a real
// PostgreSQL behind a TCP relay that opens late), on the same address.
func TestDirectoryDownAtStart(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	u, _ := url.Parse(dsn)
	pgAddr := u.Host
	relayPort := freePort(t)
	u.Host = fmt.Sprintf("127.0.0.1:%d", relayPort)
	up := startUpstream(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := fmt.Sprintf("listen: %s\npublic_url: http://%s\nupstream: %s\ndirectory: {driver: postgres, dsn: %q}\nsecrets: {key_file: %s}\nshutdown: {drain_delay: 0s}\n",
		listen, listen, up.URL, u.String(), keyFile(t))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	stderr := &syncBuffer{}
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg}, strings.NewReader(""), io.Discard, stderr, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d\n%s", code, stderr)
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := get("/.gatehouse/healthz"); code != 200; code, _ = get("/.gatehouse/healthz") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start while the directory is down:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/.gatehouse/readyz"); code != 503 || !strings.Contains(body, `"directory":"unreachable"`) {
		t.Fatalf("readyz while the directory is down: %d %s", code, body)
	}
	if code, _ := get("/accounts"); code != 503 || up.Count() != 0 {
		t.Fatalf("a request while the directory is down: %d (upstream saw %d)", code, up.Count())
	}

	// The database comes back: a relay opens on the DSN's port.
	relay, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", relayPort))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	go func() {
		for {
			c, err := relay.Accept()
			if err != nil {
				return
			}
			go func() {
				s, err := net.Dial("tcp", pgAddr)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(s, c); s.Close() }()
				io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	start := time.Now()
	for code, _ := get("/.gatehouse/readyz"); code != 200; code, _ = get("/.gatehouse/readyz") {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("not ready 20s after the directory came back:\n%s", stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("ready %s after the directory came back", time.Since(start).Round(time.Millisecond))
	if code, _ := get("/.gatehouse/login"); code != 200 {
		t.Fatalf("login page once ready: %d", code)
	}
	if !strings.Contains(stderr.String(), "directory unreachable at start") {
		t.Fatalf("the log does not say why it started unready:\n%s", stderr)
	}
}
