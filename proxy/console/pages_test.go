package console

import (
	"bytes"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session"
)

// TestPolicyFormPatch: the form becomes a merge patch naming only what
// the admin changed, so the preview's diff is their change and nothing
// else; the additional YAML is laid over it.
func TestPolicyFormPatch(t *testing.T) {
	cur := policy.Default()
	cur.MFA.RequiredRoles = []string{"admin"}
	cur.Network.AllowAPI = []policy.AllowEntry{{CIDR: "203.0.113.0/24", Description: "ETL servers"}}
	cur.Network.Allow = policy.AllowList{{CIDR: "10.0.0.0/8", Description: "Bangalore office"}, {CIDR: "192.0.2.1"}}
	cur.Network.AllowRoles = map[string]policy.AllowList{"admin": {{CIDR: "10.1.0.0/16", Description: "admin VPN"}}, "contractor": {{CIDR: "198.51.100.0/24"}}}
	unchanged := func() url.Values {
		f := formFromPolicy(cur, []string{"google"})
		v := url.Values{"idle_timeout": {f.IdleTimeout}, "absolute_lifetime": {f.AbsoluteLifetime}, "mfa_mode": {f.MFAMode},
			"required_roles": {f.RequiredRoles}, "block_tor": {f.BlockTor}, "allow": {f.Allow}, "allow_api": {f.AllowAPI}}
		for _, rl := range f.AllowRoles {
			v.Set("allow_roles."+rl.Role, rl.Entries)
		}
		for _, m := range f.Methods {
			if m.Checked {
				v.Add("methods", m.Value)
			}
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		want   string
	}{
		{"nothing", func(url.Values) {}, "{}\n"},
		{"idle timeout", func(v url.Values) { v.Set("idle_timeout", "10m") }, "session:\n    idle_timeout: 10m\n"},
		{"same duration written otherwise", func(v url.Values) { v.Set("idle_timeout", "0h30m") }, "{}\n"},
		{"a bad duration goes to the validator", func(v url.Values) { v.Set("idle_timeout", "forever") }, "session:\n    idle_timeout: forever\n"},
		{"roles", func(v url.Values) { v.Set("required_roles", "admin, ops") }, "mfa:\n    required_roles:\n        - admin\n        - ops\n"},
		{"roles emptied", func(v url.Values) { v.Set("required_roles", " ") }, "mfa:\n    required_roles: []\n"},
		{"a method off", func(v url.Values) { v["methods"] = []string{"password"} }, "methods:\n    google: false\n"},
		{"flags and Tor", func(v url.Values) {
			v.Set("block_tor", "all")
			v["block_anonymous"] = []string{"is_public_proxy", "is_anonymous_vpn"}
		}, "network:\n    block_anonymous:\n        - is_anonymous_vpn\n        - is_public_proxy\n    block_tor: all\n"},
		{"allowlists", func(v url.Values) {
			v.Set("allow", "10.0.0.0/8\n\n 192.0.2.1 \n")
			v.Set("allow_api", "203.0.113.0/24 ETL servers\n198.51.100.7\tbackup job")
		}, "network:\n    allow:\n        - 10.0.0.0/8\n        - 192.0.2.1\n    allow_api:\n        - cidr: 203.0.113.0/24\n          description: ETL servers\n        - cidr: 198.51.100.7\n          description: backup job\n"},
		{"descriptions edited", func(v url.Values) {
			v.Set("allow", "10.0.0.0/8   Bangalore office, 2nd floor\r\n192.0.2.1 Zürich: VPN exit\r\n")
			v.Set("allow_roles.admin", "10.1.0.0/16\n2001:db8::/32 admin VPN (IPv6)")
		}, "network:\n    allow:\n        - cidr: 10.0.0.0/8\n          description: Bangalore office, 2nd floor\n        - cidr: 192.0.2.1\n          description: 'Zürich: VPN exit'\n" +
			"    allow_roles:\n        admin:\n            - 10.1.0.0/16\n            - cidr: 2001:db8::/32\n              description: admin VPN (IPv6)\n"},
		{"a role list emptied, one not sent", func(v url.Values) {
			v.Set("allow_roles.contractor", " \n")
			v.Del("allow_roles.admin")
		}, "network:\n    allow_roles:\n        contractor: null\n"},
		{"a list for a role without one", func(v url.Values) { v.Set("allow_roles.sales", "203.0.113.7 field laptop") },
			"network:\n    allow_roles:\n        sales:\n            - cidr: 203.0.113.7\n              description: field laptop\n"},
		{"single device", func(v url.Values) { v.Set("single_device", "on") }, "mobile:\n    single_device: true\n"},
		{"password encryption on", func(v url.Values) { v.Set("password_encryption", "on") }, "methods:\n    password_encryption: true\n"},
		{"extra YAML wins and merges", func(v url.Values) {
			v.Set("idle_timeout", "10m")
			v.Set("extra", "session: {absolute_lifetime: 8h}\napi_keys: {max_lifetime: 2160h}")
		}, "api_keys:\n    max_lifetime: 2160h\nsession:\n    absolute_lifetime: 8h\n    idle_timeout: 10m\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := unchanged()
			tc.change(v)
			got, err := parsePolicyForm(v, cur, []string{"google"}).patch(cur)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// Password encryption is its own box, never a method's: on in the
	// policy, the form shows it ticked and lists no method of that name,
	// and a form sent unticked turns it off.
	enc := cur
	enc.Methods = map[string]bool{"password": true, policy.PasswordEncryption: true}
	f := formFromPolicy(enc, nil)
	if !f.EncryptPasswords || slices.ContainsFunc(f.Methods, func(c choice) bool { return c.Value == policy.PasswordEncryption }) {
		t.Fatalf("the form of a policy with password encryption: %+v", f)
	}
	off := url.Values{"idle_timeout": {f.IdleTimeout}, "absolute_lifetime": {f.AbsoluteLifetime}, "mfa_mode": {f.MFAMode}, "block_tor": {f.BlockTor},
		"required_roles": {f.RequiredRoles}, "allow": {f.Allow}, "allow_api": {f.AllowAPI}, "methods": {"password"}}
	for _, rl := range f.AllowRoles {
		off.Set("allow_roles."+rl.Role, rl.Entries)
	}
	if got, err := parsePolicyForm(off, enc, nil).patch(enc); err != nil || string(got) != "methods:\n    password_encryption: false\n" {
		t.Fatalf("unticking password encryption: %q %v", got, err)
	}
	for _, extra := range []string{"- a list", "session: {idle_timeout: [", "just text"} {
		v := unchanged()
		v.Set("extra", extra)
		if _, err := parsePolicyForm(v, cur, nil).patch(cur); err == nil {
			t.Errorf("extra %q: no error", extra)
		}
	}
}

// TestAdminPathOpenRedirect: re-authentication sends a browser back only
// to a plain console path, never off the origin or elsewhere on it.
func TestAdminPathOpenRedirect(t *testing.T) {
	for target, want := range map[string]bool{
		"/.gatehouse/admin/":                     true,
		"/.gatehouse/admin/users/alice?done=x":   true,
		"/.gatehouse/admin/audit?user=a&event=b": true,
		"/.gatehouse/admin":                      false,
		"//evil.example/.gatehouse/admin/":       false,
		"https://evil.example/.gatehouse/admin/": false,
		"/.gatehouse/admin/../../account":        false,
		"/.gatehouse/admin/x/./y":                false,
		"/.gatehouse/admin//evil.example":        false,
		"/.gatehouse/admin/\\evil.example":       false,
		"/.gatehouse/adminx":                     false,
		"/":                                      false,
		"/.gatehouse/admin/#frag":                false,
		"/.gatehouse/admin/\"><script>":          false,
	} {
		if got := adminPath(target); got != want {
			t.Errorf("adminPath(%q) = %v, want %v", target, got, want)
		}
	}
}

// TestTemplatesRender executes every page with the data its handler
// gives it, so a template mistake fails here rather than as a 503.
func TestTemplatesRender(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	pv := directory.PolicyVersion{Version: 3, Document: []byte("session: {}\n"), Actor: "root", CreatedAt: now}
	plan := &admin.PolicyPlan{From: pv, Merged: true, Impact: admin.Impact{SessionsEnding: 2, ForcedEnrolment: []string{"bob"}, NetworkLoss: []admin.NetworkLoss{{Username: "c", Address: "192.0.2.1", Rule: "org_allowlist"}}}, Document: []byte("x: 1\n"), Diff: []string{"-a", "+b"}, Access: []string{"a change"}, Warnings: []string{"w"}}
	u := directory.User{ID: "u1", Username: "alice", Email: "a@x", Role: "sales", Groups: []string{"g"}, Require2FA: true,
		AllowList: directory.AllowList{{CIDR: "10.0.0.0/8", Description: "<b>office</b>"}, {CIDR: "192.0.2.7/32"}}}
	base := func() *pageData {
		return &pageData{Title: "T", Section: "users", Admin: "root", Here: "/.gatehouse/admin/users?q=a&b=c", Notice: "n", Error: "e", Problems: []string{"p"}}
	}
	pages := map[string]func(d *pageData){
		"message.html": func(d *pageData) { d.Message, d.Links = "m", []link{{"/x", "X"}} },
		"reauth.html": func(d *pageData) {
			d.Reauth = &reauthData{RD: "/.gatehouse/admin/", Carry: &carry{Action: "/a", Fields: []field{{"document", "a: \"<b>\""}}}}
		},
		"continue.html": func(d *pageData) {
			d.Reauth = &reauthData{RD: "/.gatehouse/admin/", Carry: &carry{Action: "/a", Fields: []field{{"k", "v"}}}}
		},
		"dashboard.html": func(d *pageData) {
			d.Dashboard = &dashboardData{InForce: pv, Logins: []countRow{{"password", 1, 2}}, Blocks: []countRow{{"tor", 3, 0}}}
		},
		"users.html": func(d *pageData) {
			d.Users = &usersData{Query: "a", Rows: []directory.User{u}, Total: 1, From: 1, To: 1, Next: "/n"}
		},
		"user.html": func(d *pageData) {
			d.User = &userData{UserDetails: admin.UserDetails{User: u, TwoFactor: admin.TwoFactorState{Enrolled: true, Required: true}},
				Keys:     []keyView{{APIKey: directory.APIKey{ID: "k1", Scopes: []string{"leads.view"}}, State: "active", Active: true}},
				Devices:  []deviceView{{Device: directory.Device{ID: "d1"}, Live: true}, {Device: directory.Device{ID: "d2", RevokedAt: now}}},
				Sessions: []sessionView{{Record: session.Record{ID: "s1", Meta: session.Meta{Methods: []string{"password", "totp"}}}, Current: true}}, SessionsShown: true,
				Allowlist: "10.0.0.0/8 <b>office</b>\n192.0.2.7/32"}
		},
		"policy.html": func(d *pageData) {
			pol := policy.Default()
			pol.Network.Allow = policy.AllowList{{CIDR: "10.0.0.0/8", Description: "<b>office</b>"}}
			pol.Network.AllowRoles = map[string]policy.AllowList{"<b>role</b>": {{CIDR: "192.0.2.7"}}}
			d.Policy = &policyData{InForce: pv, Form: formFromPolicy(pol, nil), Plan: plan, Patch: "a: 1", Unsaved: "u"}
		},
		"history.html": func(d *pageData) {
			d.History = &historyData{Versions: []historyEntry{{PolicyVersion: pv, Diff: []string{"+x"}, Current: true}, {PolicyVersion: pv}}}
		},
		"rollback.html": func(d *pageData) { d.Rollback = &rollbackData{To: 1, Plan: *plan} },
		"logoutall.html": func(d *pageData) {
			d.LogoutAll = &logoutAllData{Phrase: confirmPhrase, Done: &admin.LogoutAllResult{Users: 2}}
		},
		"audit.html": func(d *pageData) {
			d.Audit = &auditData{Names: admin.EventNames(), Events: []admin.AuditRecord{{ID: 1, Event: "login_success", Detail: map[string]string{"b": "2", "a": "1"}}},
				CSV: "/c?a=1", NDJSON: "/n", Older: "/o"}
		},
	}
	for name, fill := range pages {
		t.Run(name, func(t *testing.T) {
			d := base()
			fill(d)
			var buf bytes.Buffer
			if err := pageTemplates.ExecuteTemplate(&buf, name, d); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if !strings.Contains(out, `<main id="main"`) || !strings.Contains(out, `href="`+consoleCSSURL+`"`) || !strings.HasPrefix(consoleCSSURL, "/.gatehouse/admin/console.css?v=") {
				t.Fatalf("no layout:\n%s", out)
			}
			if strings.Contains(out, "<b>") || strings.Contains(out, "<script>") {
				t.Fatalf("unescaped markup:\n%s", out)
			}
		})
	}
	// The re-authentication link carries this page, escaped as a query value.
	var buf bytes.Buffer
	d := base()
	d.Message = "m"
	if err := pageTemplates.ExecuteTemplate(&buf, "message.html", d); err != nil {
		t.Fatal(err)
	}
	if want := `href="/.gatehouse/admin/reauth?rd=%2f.gatehouse%2fadmin%2fusers%3fq%3da%26b%3dc"`; !strings.Contains(buf.String(), want) {
		t.Fatalf("no %s in\n%s", want, buf.String())
	}
}
