package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAdminExplain: the admin API answers "can U log in from A, and if
// not, why" from the running guard's lists, and "can U reach METHOD
// PATH" as the CLI's access explain does.
func TestAdminExplain(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "carol", alicePW, "sales")
	root := adminSession(t, r, clk)
	if code, out := runCLI(t, r, "user", "allow-ips", "carol", "10.0.0.0/8"); code != 0 {
		t.Fatalf("allow-ips: %d %s", code, out)
	}
	r.refresh(t)

	type verdict struct {
		Allow bool   `json:"allow"`
		Rule  string `json:"rule"`
	}
	var got struct {
		Login         verdict `json:"login"`
		Request       verdict `json:"request"`
		UserAllowlist string  `json:"user_allowlist"`
		OrgAllowlist  string  `json:"org_allowlist"`
		Role          string  `json:"role"`
	}
	explain := func(q string) {
		t.Helper()
		code, body := apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/explain/network?"+q, "")
		if code != 200 {
			t.Fatalf("explain %s: %d %s", q, code, body)
		}
		got = struct {
			Login         verdict `json:"login"`
			Request       verdict `json:"request"`
			UserAllowlist string  `json:"user_allowlist"`
			OrgAllowlist  string  `json:"org_allowlist"`
			Role          string  `json:"role"`
		}{}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
	}
	explain("address=192.0.2.7&user=carol")
	if got.Login.Allow || got.Login.Rule != "user_allowlist" || got.UserAllowlist != "outside" || got.Role != "sales" {
		t.Fatalf("carol from outside her list: %+v", got)
	}
	explain("address=10.20.30.40&user=carol")
	if !got.Login.Allow || !got.Request.Allow || got.UserAllowlist != "inside" {
		t.Fatalf("carol from inside her list: %+v", got)
	}
	explain("address=192.0.2.7&user=root")
	if !got.Login.Allow || got.UserAllowlist != "no list" || got.OrgAllowlist != "no list" {
		t.Fatalf("root, who has no list: %+v", got)
	}

	for _, path := range []string{"/", "/.gatehouse/admin/", "/leads"} {
		code, body := apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/explain/access?user=carol&method=GET&path="+path, "")
		var x struct {
			Allowed bool   `json:"allowed"`
			Route   string `json:"route"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &x) != nil {
			t.Fatalf("explain access %s: %d %s", path, code, body)
		}
		_, out := runCLI(t, r, "access", "explain", "--user", "carol", "GET", path)
		if cli := strings.Contains(out, "decision: allowed"); cli != x.Allowed {
			t.Fatalf("GET %s: the API says allowed=%v, the CLI says\n%s", path, x.Allowed, out)
		}
	}
}
