package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestAccountRecentSignIns: the account page lists the user's own recent
// logins, newest first, failed ones included, with method and address,
// and nothing of another user's.
func TestAccountRecentSignIns(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	newBrowser(t, r.URL).Login(t, "bob", alicePW)
	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"wrong"}, "rd": {"/"}})
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	_, page := b.Get(t, "/.gatehouse/account")
	i := strings.Index(page, `<table id="signins">`)
	if i < 0 {
		t.Fatalf("no sign-in history:\n%s", page)
	}
	table := page[i : i+strings.Index(page[i:], "</table>")]
	rows := strings.Split(table, "<tr class=")[1:]
	if len(rows) != 2 {
		t.Fatalf("want alice's 2 sign-ins, got %d:\n%s", len(rows), table)
	}
	for n, want := range []string{`"signin-ok"`, `"signin-failed"`} {
		if !strings.HasPrefix(rows[n], want) || !strings.Contains(rows[n], "127.0.0.1") || !strings.Contains(rows[n], "password") {
			t.Fatalf("row %d is not %s with method and address: %s", n, want, rows[n])
		}
	}
	if !strings.Contains(rows[0], "Signed in") || !strings.Contains(rows[1], "Failed") {
		t.Fatalf("results not shown: %s", table)
	}
}
