package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAccessLogAndRequestID: every request gets an id — a trusted
// proxy's, else a new one — that the client and the upstream see and the
// access log line carries, with the path but never the query string.
func TestAccessLogAndRequestID(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), nil)
	alice := r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	resp, _ := b.Get(t, "/accounts?token=s3cret-query", "X-Request-Id", `forged"id`)
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || id == "" || id == `forged"id` {
		t.Fatalf("response: %d, X-Request-Id %q", resp.StatusCode, id)
	}
	if got := up.Last(t).Header.Get("X-Request-Id"); got != id {
		t.Fatalf("upstream saw request id %q, client %q", got, id)
	}
	line := accessLine(t, r, "request_id="+id)
	for _, want := range []string{"msg=access", "method=GET", "path=/accounts", "status=200", "user_id=" + alice.ID, "auth_method=password", "client_ip=127.0.0.1", "bytes="} {
		if !strings.Contains(line, want) {
			t.Fatalf("access log line lacks %q: %q", want, line)
		}
	}
	if strings.Contains(r.stderr.String(), "s3cret-query") {
		t.Fatal("the query string reached the log")
	}
	// A second request from the same client gets another id.
	resp2, _ := b.Get(t, "/accounts")
	if id2 := resp2.Header.Get("X-Request-Id"); id2 == "" || id2 == id {
		t.Fatalf("second id %q after %q", id2, id)
	}

	// Behind a trusted proxy, its id is kept end to end.
	trusted := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [127.0.0.1/32]\n"), nil)
	resp, _ = call(t, "GET", trusted.URL+"/.gatehouse/healthz", "X-Request-Id", "lb-7f3a")
	if resp.Header.Get("X-Request-Id") != "lb-7f3a" || accessLine(t, trusted, "request_id=lb-7f3a") == "" {
		t.Fatalf("trusted proxy's id: %q", resp.Header.Get("X-Request-Id"))
	}

	// log.access: false writes none, and ids still flow.
	quiet := startReplica(t, sqliteConfig(t, up, "log: {access: false}\n"), nil)
	resp, _ = call(t, "GET", quiet.URL+"/.gatehouse/healthz")
	time.Sleep(300 * time.Millisecond) // longer than the access log's flush interval
	if resp.Header.Get("X-Request-Id") == "" || strings.Contains(quiet.stderr.String(), "msg=access") {
		t.Fatalf("log.access false: id %q, log:\n%s", resp.Header.Get("X-Request-Id"), quiet.stderr.String())
	}
}

// accessLine waits for the access log line holding want (lines are
// flushed every 200 ms) and returns it, "" when none comes in 2 s.
func accessLine(t *testing.T, r *replica, want string) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(r.stderr.String(), "\n") {
			if (strings.Contains(l, "msg=access") || strings.Contains(l, `"msg":"access"`)) && strings.Contains(l, want) {
				return l
			}
		}
	}
	return ""
}

// TestAccessLogJSON: with log.format json the lines are JSON, and text
// an attacker controls (the path) stays inside its string.
func TestAccessLogJSON(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), "log: {format: json}\n"), nil)
	resp, _ := call(t, "GET", r.URL+"/a%22b%0Ac%5C?q=1")
	id := resp.Header.Get("X-Request-Id")
	line := accessLine(t, r, `"request_id":"`+id+`"`)
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%q", err, line)
	}
	if m["msg"] != "access" || m["path"] != "/a\"b\nc\\" || m["status"] != float64(401) || m["client_ip"] != "127.0.0.1" {
		t.Fatalf("access line: %v", m)
	}
}
