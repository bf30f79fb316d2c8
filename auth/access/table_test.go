package access

import (
	"fmt"
	"strings"
	"testing"
)

func testTable(t testing.TB, def string, routes ...Route) *Table {
	t.Helper()
	set := DefaultTemplates()
	set.Templates["no_export"] = Template{Features: []string{"leads.view", "leads.import"}}
	tbl, err := Compile(Config{Default: def, Routes: routes}, set)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

var exampleRoutes = []Route{
	{Pattern: "POST /api/leads/import", Feature: "leads.import"},
	{Pattern: "GET /export/", Feature: "leads.export"},
	{Pattern: "/admin/", Feature: "admin"},
	{Pattern: "GET /api/leads/{id}", Feature: "leads.view"},
}

func TestDecide(t *testing.T) {
	tbl := testTable(t, "allow", exampleRoutes...)
	for _, c := range []struct {
		role, template, method, path string
		allowed                      bool
		feature                      string
	}{
		{"sales", "", "GET", "/export/leads.csv", false, "leads.export"},
		{"sales", "", "HEAD", "/export/leads.csv", false, "leads.export"},
		{"sales", "", "GET", "/EXPORT/leads.csv", false, "leads.export"}, // case folded
		{"sales", "", "GET", "/export", false, "leads.export"},           // the subtree's own root
		{"sales", "", "POST", "/export/x", true, ""},                     // GET rule only
		{"manager", "", "GET", "/export/leads.csv", true, "leads.export"},
		{"sales", "", "GET", "/accounts", true, ""}, // no rule: default allow
		{"sales", "", "GET", "/admin/users", false, "admin"},
		{"admin", "", "DELETE", "/admin/users", true, "admin"},
		{"admin", "no_export", "GET", "/export/", false, "leads.export"}, // own template beats role
		{"admin", "no_export", "POST", "/api/leads/import", true, "leads.import"},
		{"admin", "missing", "GET", "/api/leads/7", false, "leads.view"}, // unknown template grants nothing
		{"nobody", "", "GET", "/api/leads/7", false, "leads.view"},       // unmapped role grants nothing
		{"nobody", "", "GET", "/home", true, ""},
	} {
		d := tbl.Decide(c.method, c.path, tbl.GrantsFor(c.role, c.template))
		if d.Allowed != c.allowed || d.Feature != c.feature {
			t.Errorf("%s/%s %s %s: %+v; want allowed=%v feature=%q", c.role, c.template, c.method, c.path, d, c.allowed, c.feature)
		}
	}
	deny := testTable(t, "deny", exampleRoutes...)
	if d := deny.Decide("GET", "/home", deny.GrantsFor("admin", "")); d.Allowed || d.Rule != -1 {
		t.Errorf("default deny let an unmatched route through: %+v", d)
	}
}

func TestDecideExactCase(t *testing.T) {
	f := false
	tbl, err := Compile(Config{FoldCase: &f, Routes: exampleRoutes}, DefaultTemplates())
	if err != nil {
		t.Fatal(err)
	}
	if d := tbl.Decide("GET", "/EXPORT/x", tbl.GrantsFor("sales", "")); d.Rule != -1 {
		t.Errorf("fold_case: false matched /EXPORT against /export/: %+v", d)
	}
}

func TestGrantsHeader(t *testing.T) {
	tbl := testTable(t, "allow")
	g := tbl.GrantsFor("sales", "")
	if g.Template != "sales_user" || !strings.HasPrefix(g.Header, "accounts.view,activities.manage,") || strings.Contains(g.Header, "admin") {
		t.Errorf("sales grants: %+v", g)
	}
	if g := tbl.GrantsFor("nobody", ""); g.Template != "" || g.Header != "" {
		t.Errorf("no template: %+v", g)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Default: "maybe"}, "access.default: must be allow or deny"},
		{Config{Features: []string{"Leads"}}, `access.features[0]: "Leads" is not a feature name`},
		{Config{Features: []string{"a", "a"}}, `access.features[1]: "a" is listed twice`},
		{Config{Roles: map[string]string{"sales": "Bad Name"}}, "access.roles.sales:"},
		{Config{Routes: []Route{{Pattern: "GET /x/*", Feature: "leads.view"}}}, "access.routes[0].route:"},
		{Config{Routes: []Route{{Pattern: "GET /x", Feature: "leads.fly"}}}, `access.routes[0].feature: "leads.fly" is not in access.features`},
		{Config{Routes: []Route{{Pattern: "GET /x/{id}", Feature: "leads.view"}, {Pattern: "/x/new", Feature: "leads.create"}}}, "access.routes: pattern"},
		{Config{Routes: []Route{{Pattern: "GET /Export", Feature: "leads.view"}, {Pattern: "GET /export", Feature: "leads.export"}}}, "access.routes:"},
	} {
		c.cfg.SetDefaults()
		err := c.cfg.Validate("access")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.cfg, err, c.want)
		}
	}
	good := Config{Routes: exampleRoutes}
	good.SetDefaults()
	if err := good.Validate("access"); err != nil {
		t.Errorf("example routes: %v", err)
	}
}

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b.c/d": true, "/a/..b": true,
		"": false, "a": false, "//a": false, "/a//b": false, "/a/./b": false, "/a/../b": false,
		"/a/..": false, "/a/.": false, `/a\b`: false, "/a//": false,
	} {
		if got := CleanPath(p); got != want {
			t.Errorf("CleanPath(%q) = %v", p, got)
		}
	}
}

// manyRules is n rules shaped like a CRM's API: literal paths, ids and
// subtrees under a few hundred resources.
func manyRules(n int) []Route {
	features := DefaultFeatures
	rules := make([]Route, 0, n)
	for i := 0; len(rules) < n; i++ {
		res := fmt.Sprintf("/api/v2/r%03d", i)
		f := features[i%len(features)]
		rules = append(rules,
			Route{Pattern: "GET " + res + "/{id}", Feature: f},
			Route{Pattern: "POST " + res + "/import", Feature: f},
			Route{Pattern: "GET " + res + "/export/", Feature: f},
			Route{Pattern: "DELETE " + res + "/{id}", Feature: f},
			Route{Pattern: "/ui/r" + fmt.Sprint(i) + "/", Feature: f},
		)
	}
	return rules[:n]
}

func TestDecideDoesNotAllocate(t *testing.T) {
	tbl := testTable(t, "allow", manyRules(500)...)
	g := tbl.GrantsFor("sales", "")
	for _, path := range []string{"/api/v2/r050/1234", "/API/V2/R050/export/all.csv", "/ui/r70", "/nothing/here"} {
		if n := testing.AllocsPerRun(100, func() { tbl.Decide("GET", path, g) }); n != 0 {
			t.Errorf("Decide GET %s: %v allocations", path, n)
		}
	}
}

// BenchmarkDecide is the authorize step's cost per request with 500 route
// rules (the bound: 300 ns, 0 allocations).
func BenchmarkDecide(b *testing.B) {
	tbl := testTable(b, "allow", manyRules(500)...)
	g := tbl.GrantsFor("sales", "")
	for _, c := range []struct{ name, method, path string }{
		{"literal", "POST", "/api/v2/r050/import"},
		{"wildcard", "GET", "/api/v2/r050/1234"},
		{"subtree-folded", "GET", "/API/v2/r050/export/leads.csv"},
		{"unmatched", "GET", "/dashboard/home"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Decide(c.method, c.path, g)
			}
		})
	}
}

// TestNarrow: a credential's scopes narrow its user's grants and never
// widen them.
func TestNarrow(t *testing.T) {
	tbl, err := Compile(Config{Routes: []Route{{Pattern: "GET /export/", Feature: "leads.export"}, {Pattern: "GET /leads/", Feature: "leads.view"}}}, DefaultTemplates())
	if err != nil {
		t.Fatal(err)
	}
	user := tbl.GrantsFor("sales", "")
	n := tbl.Narrow(user, []string{"leads.view", "leads.export", "admin"})
	if n.Header != "leads.view" {
		t.Fatalf("narrowed to %q", n.Header)
	}
	if !tbl.Decide("GET", "/leads/1", n).Allowed || tbl.Decide("GET", "/export/x", n).Allowed {
		t.Fatal("narrowed grants decide wrongly")
	}
}
