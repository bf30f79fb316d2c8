package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// accessPolicy is a policy section with route rules, as an operator
// would write it in the config.
const accessPolicy = `policy:
  access:
    routes:
      - {route: "GET /export/", feature: leads.export}
      - {route: "POST /api/leads/import", feature: leads.import}
      - {route: "/admin/", feature: admin}
`

// TestTemplateRefusesExport is the walk-through: a template
// without leads.export, given to a user, refuses the export route with
// 403 while other routes pass; the upstream learns the template and its
// features; changing the template applies without a new login.
func TestTemplateRefusesExport(t *testing.T) {
	up := startUpstream(t)
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, up, accessPolicy), clk)
	r.addUser(t, "alice", alicePW, "sales")

	tpl := writeFile(t, "no_export.yaml", "description: Sales without exports\nfeatures: [leads.view, leads.import]\n")
	if code, out := runCLI(t, r, "template", "set", "no_export", "--file", tpl); code != 0 {
		t.Fatalf("template set: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "set-template", "alice", "no_export"); code != 0 || !strings.Contains(out, "now has template no_export") {
		t.Fatalf("user set-template: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "set-template", "alice", "nope"); code == 0 || !strings.Contains(out, `no template "nope"`) {
		t.Fatalf("set-template to a missing template: %d %s", code, out)
	}
	r.refresh(t)
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)

	// A program gets JSON naming the feature it lacks.
	resp, body := b.Get(t, "/export/leads.csv", "Accept", "application/json")
	var refusal map[string]string
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(body), &refusal) != nil ||
		refusal["error"] != "forbidden" || refusal["feature"] != "leads.export" {
		t.Fatalf("export as JSON: %d %s; want 403 naming leads.export", resp.StatusCode, body)
	}
	// A browser gets a page; the case of the path does not matter.
	if resp, body := b.Get(t, "/EXPORT/leads.csv"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "You do not have access") {
		t.Fatalf("export in a browser: %d %.200s", resp.StatusCode, body)
	}
	// Refusals are counted (docs/access.md).
	rec := httptest.NewRecorder()
	r.gateway.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `gatehouse_requests_total{outcome="forbidden"} 0`) ||
		!strings.Contains(rec.Body.String(), `gatehouse_requests_total{outcome="forbidden"}`) {
		t.Fatalf("forbidden not counted:\n%s", rec.Body.String())
	}
	// A path that hides ".." behind percent-encoding is refused outright.
	if resp, _ := b.Get(t, "/accounts/%2e%2e/export/leads.csv"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("encoded dot-dot: %d, want 400", resp.StatusCode)
	}
	// A method override is checked as the method it names: an upstream
	// honouring it would serve these as GET /export/.
	for _, hdr := range [][]string{{"X-HTTP-Method-Override", "GET"}, {"x-method-override", "get"}, {"X-HTTP-Method", "GET"}} {
		if resp, _ := b.Do(t, "POST", "/export/leads.csv", nil, hdr...); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("POST with %s: %s: %d, want 403", hdr[0], hdr[1], resp.StatusCode)
		}
	}
	if resp, _ := b.Do(t, "POST", "/export/leads.csv?_method=GET", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST ?_method=GET: %d, want 403", resp.StatusCode)
	}
	// Routes the template covers, and routes no rule names, pass.
	if resp, _ := b.Do(t, "POST", "/api/leads/import", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %d", resp.StatusCode)
	}
	if resp, body := b.Get(t, "/accounts"); resp.StatusCode != http.StatusOK || body != "crm:alice" {
		t.Fatalf("accounts: %d %q", resp.StatusCode, body)
	}
	h := up.Last(t).Header
	if h.Get("X-Gatehouse-Template") != "no_export" || h.Get("X-Gatehouse-Permissions") != "leads.import,leads.view" {
		t.Fatalf("upstream saw template %q permissions %q", h.Get("X-Gatehouse-Template"), h.Get("X-Gatehouse-Permissions"))
	}
	claims := verifyAssertion(t, r, h.Get("X-Gatehouse-Assertion"), clk.Now())
	if claims.Perms == nil || claims.Perms.Template != "no_export" || strings.Join(claims.Perms.Features, ",") != "leads.import,leads.view" {
		t.Fatalf("perms claim: %+v", claims.Perms)
	}

	// The admin adds leads.export to the template: the same session may
	// export at once, and the upstream sees the new grants.
	if err := os.WriteFile(tpl, []byte("features: [leads.view, leads.import, leads.export]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, r, "template", "set", "no_export", "--file", tpl); code != 0 {
		t.Fatalf("template set: %d %s", code, out)
	}
	r.refresh(t)
	if resp, _ := b.Get(t, "/export/leads.csv"); resp.StatusCode != http.StatusOK {
		t.Fatalf("export after the template grants it: %d", resp.StatusCode)
	}
	claims = verifyAssertion(t, r, up.Last(t).Header.Get("X-Gatehouse-Assertion"), clk.Now())
	if claims.Perms == nil || !strings.Contains(strings.Join(claims.Perms.Features, ","), "leads.export") {
		t.Fatalf("perms claim after the change: %+v (the cached assertion was reused)", claims.Perms)
	}

	// The template in use cannot be deleted; explain says why a request
	// passes or not.
	if code, out := runCLI(t, r, "template", "delete", "no_export"); code == 0 || !strings.Contains(out, "users: alice") {
		t.Fatalf("delete a template in use: %d %s", code, out)
	}
	code, out := runCLI(t, r, "access", "explain", "--user", "alice", "GET", "/admin/users")
	if code != 0 || !strings.Contains(out, "template: no_export (the user's own)") ||
		!strings.Contains(out, `"/admin/" needs admin; the template does not grant it`) || !strings.Contains(out, "decision: refused (403)") {
		t.Fatalf("explain: %d\n%s", code, out)
	}
	code, out = runCLI(t, r, "access", "explain", "--user", "alice", "GET", "/reports")
	if code != 0 || !strings.Contains(out, "none matches; access.default is allow") || !strings.Contains(out, "decision: allowed") {
		t.Fatalf("explain unmatched: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "template", "list"); code != 0 || !strings.Contains(out, "no_export") || !strings.Contains(out, "sales_user") {
		t.Fatalf("template list: %d %s", code, out)
	}
}

// TestRoleTemplateAndSetTemplateEndsSessions: without a template of
// their own a user has their role's; giving them one ends their sessions
// (a session carries the template it was created with).
func TestRoleTemplateAndSetTemplateEndsSessions(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, accessPolicy), newClock())
	r.addUser(t, "bob", alicePW, "manager")
	b := newBrowser(t, r.URL)
	b.Login(t, "bob", alicePW)
	if resp, _ := b.Get(t, "/export/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("manager exporting: %d", resp.StatusCode)
	}
	if got := up.Last(t).Header.Get("X-Gatehouse-Template"); got != "sales_manager" {
		t.Fatalf("template header: %q", got)
	}
	if resp, _ := b.Get(t, "/admin/x"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("manager on an admin route: %d", resp.StatusCode)
	}
	if code, out := runCLI(t, r, "user", "set-template", "bob", "sales_user"); code != 0 {
		t.Fatalf("set-template: %d %s", code, out)
	}
	r.refresh(t)
	resp, _ := b.Get(t, "/export/x")
	wantLoginRedirect(t, resp, "")
}

// TestPolicyRefusesBadRoutes: route rules are checked when the policy is
// set: a conflict, an unknown feature, or a feature a template still
// grants cannot be removed from the catalogue.
func TestPolicyRefusesBadRoutes(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	for _, c := range []struct{ doc, want string }{
		{"access: {routes: [{route: 'GET /a/{id}', feature: leads.view}, {route: '/a/new', feature: leads.create}]}\n", "conflicts with"},
		{"access: {routes: [{route: 'GET /x', feature: leads.fly}]}\n", `"leads.fly" is not in access.features`},
		{"access: {features: [leads.view]}\n", "is granted by template"},
	} {
		f := writeFile(t, "p.yaml", c.doc)
		if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", f); code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("policy set %q: %d %s; want %q", c.doc, code, out, c.want)
		}
	}
	f := writeFile(t, "p.yaml", "access: {roles: {sales: nothing_here}}\n")
	if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", f); code != 0 || !strings.Contains(out, `warning: policy.access.roles.sales: template "nothing_here" does not exist`) {
		t.Errorf("role naming a missing template: %d %s; want a warning", code, out)
	}
}

// TestPolicyDryRun: a dry run validates like a real set, names the route
// rules that change and the templates (with their users) each refuses,
// and stores nothing.
func TestPolicyDryRun(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, accessPolicy), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "manager")
	before := r.watcher.Policy().Version
	f := writeFile(t, "p.yaml", `access:
  default: deny
  routes:
    - {route: "GET /export/", feature: leads.export}
    - {route: "GET /reports/", feature: reports}
    - {route: "/admin/", feature: leads.delete}
`)
	code, out := runCLI(t, r, "policy", "set", "--file", f, "--dry-run")
	for _, want := range []string{
		"would become login policy version",
		"access.default: allow → deny",
		`+ "GET /reports/" needs reports: refused for templates sales_user (1 users)`,
		`~ "/admin/" needs leads.delete instead of admin: refused for templates sales_user (1 users)`,
		`- "POST /api/leads/import" (leads.import) removed`,
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("dry run lacks %q: %d\n%s", want, code, out)
		}
	}
	if strings.Contains(out, `"GET /export/" needs`) {
		t.Fatalf("an unchanged rule was reported:\n%s", out)
	}
	r.refresh(t)
	if got := r.watcher.Policy().Version; got != before {
		t.Fatalf("the dry run stored version %d", got)
	}
	bad := writeFile(t, "bad.yaml", "access: {routes: [{route: 'GET /x', feature: leads.fly}]}\n")
	if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", bad, "--dry-run"); code == 0 || !strings.Contains(out, "leads.fly") {
		t.Fatalf("dry run of a bad policy: %d %s", code, out)
	}
}
