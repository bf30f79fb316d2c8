package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const serviceToken = "svc-0123456789abcdef0123456789abcdef"

// tokenConfig is the access section with a service token file.
func tokenConfig(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "access-token")
	if err := os.WriteFile(p, []byte(serviceToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "access: {service_token_file: " + p + "}\n"
}

// postJSON sends body to the gateway with client (a browser's, for its
// session) and returns the status and the decoded answer.
func postJSON(t testing.TB, client *http.Client, url, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", url, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

func reasons(out map[string]any) string {
	var rs []string
	l, _ := out["reasons"].([]any)
	for _, r := range l {
		rs = append(rs, r.(string))
	}
	return strings.Join(rs, ",")
}

// leadCheck is the walk-through: may maria (manager, modify all
// accounts, account-based group) update a lead owned by bob, a member,
// under an account maria owns?
const leadCheck = `{"user": "maria", "action": "update", "resource": {"type": "lead", "id": "L1", "owner": "bob", "account": {"id": "A1", "owner": "maria"}}}`

// TestAccessCheckAPI walks the newcomer path: an account-based
// group, a manager with modify_all_accounts, the seed's answer with the
// deciding policy; then who may ask, batches, scopes and the CLI.
func TestAccessCheckAPI(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, tokenConfig(t)), newClock())
	r.addUser(t, "maria", alicePW, "manager")
	r.addUser(t, "bob", alicePW, "sales")
	r.addUser(t, "carol", alicePW, "sales")
	for _, args := range [][]string{
		{"group", "add", "north", "--mode", "account_based"},
		{"group", "add-member", "north", "maria"},
		{"group", "add-member", "north", "bob"},
		{"group", "grant", "north", "maria", "modify_all_accounts"},
	} {
		if code, out := runCLI(t, r, args...); code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
	}
	r.refresh(t)
	api := r.URL + "/.gatehouse/api/v1/access/"
	svc := http.DefaultClient
	bearer := []string{"Authorization", "Bearer " + serviceToken}

	status, out := postJSON(t, svc, api+"check", leadCheck, bearer...)
	if status != 200 || out["allow"] != true || reasons(out) != "lead.modify.own" {
		t.Fatalf("maria updating bob's lead under her account: %d %v; want allow by lead.modify.own (seed 3.3)", status, out)
	}
	// The same lead, asked for carol (in no group): refused, no reasons.
	status, out = postJSON(t, svc, api+"check", strings.Replace(leadCheck, `"maria", "action"`, `"carol", "action"`, 1), bearer...)
	if status != 200 || out["allow"] != false || reasons(out) != "" {
		t.Fatalf("carol: %d %v", status, out)
	}

	// Who may ask: the service token for anyone; a session only about
	// itself; nothing else.
	if status, out := postJSON(t, svc, api+"check", leadCheck); status != 401 || out["error"] != "unauthenticated" {
		t.Fatalf("no credential: %d %v", status, out)
	}
	if status, out := postJSON(t, svc, api+"check", leadCheck, "Authorization", "Bearer "+serviceToken+"x"); status != 401 || out["error"] != "invalid_token" {
		t.Fatalf("wrong token: %d %v", status, out)
	}
	b := newBrowser(t, r.URL)
	b.Login(t, "bob", alicePW)
	if status, out := postJSON(t, b.Client, api+"check", leadCheck); status != 403 || out["error"] != "forbidden" {
		t.Fatalf("bob asking about maria: %d %v", status, out)
	}
	bobOwn := `{"user": "bob", "action": "delete", "resource": {"type": "lead", "owner": "bob"}}`
	if status, out := postJSON(t, b.Client, api+"check", bobOwn); status != 200 || out["allow"] != true {
		t.Fatalf("bob asking about himself: %d %v", status, out)
	}
	// A wrong token is refused even alongside a valid session.
	if status, _ := postJSON(t, b.Client, api+"check", bobOwn, "Authorization", "Bearer nope"); status != 401 {
		t.Fatalf("bad token with a session: %d", status)
	}
	// A form post (what a cross-site page can send without a preflight)
	// is refused.
	if resp, _ := b.Do(t, "POST", "/.gatehouse/api/v1/access/check", map[string][]string{"user": {"bob"}}); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post: %d", resp.StatusCode)
	}

	// Bad input is named.
	for _, c := range []struct{ body, want string }{
		{`{"user": "maria", "action": "fly", "resource": {"type": "lead"}}`, `action "fly"`},
		{`{"user": "maria", "action": "view", "resource": {"type": "invoice"}}`, `resource type "invoice"`},
		{`{"user": "maria", "action": "view", "resource": {"type": "lead", "colour": "red"}}`, `unknown field "colour"`},
		{`{"checks": [{"user": "maria", "action": "view", "resource": {"type": "lead"}}], "user": "bob"}`, "not both"},
		{`{"user": "maria"`, "not the expected JSON"},
	} {
		if status, out := postJSON(t, svc, api+"check", c.body, bearer...); status != 400 || !strings.Contains(out["message"].(string), c.want) {
			t.Fatalf("%s: %d %v; want 400 naming %q", c.body, status, out, c.want)
		}
	}
	if status, out := postJSON(t, svc, api+"check", `{"user": "nobody", "action": "view", "resource": {"type": "lead"}}`, bearer...); status != 404 {
		t.Fatalf("unknown user: %d %v", status, out)
	}

	// A batch answers in order, one bad user not spoiling the rest.
	batch := `{"checks": [` + leadCheck + `, {"user": "carol", "action": "view", "resource": {"type": "lead", "owner": "bob"}}, {"user": "ghost", "action": "view", "resource": {"type": "lead"}}]}`
	status, out = postJSON(t, svc, api+"check", batch, bearer...)
	res, _ := out["results"].([]any)
	if status != 200 || len(res) != 3 || res[0].(map[string]any)["allow"] != true || res[1].(map[string]any)["allow"] != false ||
		res[2].(map[string]any)["error"] != "unknown_user" {
		t.Fatalf("batch: %d %v", status, out)
	}
	tooMany := `{"checks": [` + strings.Repeat(`{"user": "bob", "action": "view", "resource": {"type": "lead"}},`, 1000) + `{"user": "bob", "action": "view", "resource": {"type": "lead"}}]}`
	if status, _ := postJSON(t, svc, api+"check", tooMany, bearer...); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("1001 checks: %d", status)
	}

	// Scope: maria may update the accounts of everyone in north.
	status, out = postJSON(t, svc, api+"scope", `{"user": "maria", "action": "update", "type": "account"}`, bearer...)
	fields, _ := out["fields"].(map[string]any)
	owners, _ := fields["owner"].([]any)
	if status != 200 || out["all"] != false || len(owners) != 2 {
		t.Fatalf("scope: %d %v", status, out)
	}

	// The CLI gives the same answer from the directory.
	f := writeFile(t, "lead.json", `{"type": "lead", "owner": "bob", "account": {"owner": "maria"}}`)
	code, cli := runCLI(t, r, "access", "check", "--user", "maria", "--action", "update", "--resource-file", f)
	if code != 0 || !strings.Contains(cli, "decision: allow") || !strings.Contains(cli, "lead.modify.own") {
		t.Fatalf("access check: %d %s", code, cli)
	}

	// Decisions are counted, by result.
	rec := httptest.NewRecorder()
	r.gateway.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if m := rec.Body.String(); !strings.Contains(m, `gatehouse_access_decisions_total{result="deny"} `) || strings.Contains(m, `gatehouse_access_decisions_total{result="deny"} 0`) {
		t.Fatalf("metrics lack the deny count:\n%s", m)
	}
}

// TestAccessPolicyChangeSeenByOtherReplica: a policy set changed through
// the CLI on one replica's directory changes the other replica's answer
// within a second; a bad set is refused and changes nothing.
func TestAccessPolicyChangeSeenByOtherReplica(t *testing.T) {
	a, b := twoReplicas(t, tokenConfig(t))
	a.addUser(t, "maria", alicePW, "manager")
	a.addUser(t, "bob", alicePW, "sales")
	for _, args := range [][]string{{"group", "add", "north", "--mode", "account_based"}, {"group", "add-member", "north", "maria"}, {"group", "add-member", "north", "bob"}} {
		if code, out := runCLI(t, a, args...); code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
	}
	waitReadyDetail(t, b.URL, map[string]string{"directory_push": "live"})
	onB := b.URL + "/.gatehouse/api/v1/access/check"
	bearer := []string{"Authorization", "Bearer " + serviceToken}
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, out := postJSON(t, http.DefaultClient, onB, leadCheck, bearer...)
		if status == 200 && out["allow"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica B never allowed: %d %v", status, out)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A set that would fail open is refused.
	bad := writeFile(t, "bad.cedar", `@id("x") forbid (principal, action, resource is Lead) when { resource.owner != principal };`)
	if code, out := runCLI(t, a, "access", "policy", "set", "--file", bad); code == 0 || !strings.Contains(out, "only permit policies") {
		t.Fatalf("forbid set: %d %s", code, out)
	}
	// Drop the rule that lets account owners modify the leads under
	// their accounts: B refuses within a second.
	_, shipped := runCLI(t, a, "access", "policy", "show")
	start := strings.Index(shipped, `@id("lead.modify.own")`)
	end := strings.Index(shipped, `// [3.2 view all leads`)
	if start < 0 || end < start {
		t.Fatalf("policy show:\n%s", shipped)
	}
	edited := strings.SplitN(shipped, "\n", 2)[1]
	edited = strings.Replace(edited, shipped[start:end], `@id("lead.modify.own")
permit (principal, action in [Action::"update", Action::"delete"], resource is Lead)
when { resource.owner == principal };

`, 1)
	f := writeFile(t, "p.cedar", edited)
	began := time.Now()
	if code, out := runCLI(t, a, "access", "policy", "set", "--file", f); code != 0 {
		t.Fatalf("policy set: %s", out)
	}
	for {
		status, out := postJSON(t, http.DefaultClient, onB, leadCheck, bearer...)
		if status == 200 && out["allow"] == false {
			break
		}
		if time.Since(began) > time.Second {
			t.Fatalf("replica B still answers %d %v a second after the change", status, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("replica B answered under the new policies after %s", time.Since(began).Round(time.Millisecond))
}
