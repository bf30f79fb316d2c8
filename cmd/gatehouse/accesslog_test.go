package main

import (
	"strings"
	"testing"
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
	var line string
	for _, l := range strings.Split(r.stderr.String(), "\n") {
		if strings.Contains(l, "request_id="+id) {
			line = l
		}
	}
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
	if resp.Header.Get("X-Request-Id") != "lb-7f3a" || !strings.Contains(trusted.stderr.String(), "request_id=lb-7f3a") {
		t.Fatalf("trusted proxy's id: %q", resp.Header.Get("X-Request-Id"))
	}

	// log.access: false writes none, and ids still flow.
	quiet := startReplica(t, sqliteConfig(t, up, "log: {access: false}\n"), nil)
	resp, _ = call(t, "GET", quiet.URL+"/.gatehouse/healthz")
	if resp.Header.Get("X-Request-Id") == "" || strings.Contains(quiet.stderr.String(), "msg=access") {
		t.Fatalf("log.access false: id %q, log:\n%s", resp.Header.Get("X-Request-Id"), quiet.stderr.String())
	}
}
