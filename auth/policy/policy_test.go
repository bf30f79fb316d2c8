package policy_test

import (
	"github.com/gatehouse-auth/gatehouse/auth/access"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

func TestDefaultValidates(t *testing.T) {
	p := policy.Default()
	if err := p.Validate("policy"); err != nil {
		t.Errorf("Default().Validate: got %v, want nil", err)
	}
	if !p.MethodEnabled("password") {
		t.Errorf("Default: got password off, want on")
	}
}

func TestSetDefaultsPartial(t *testing.T) {
	p := policy.Policy{
		Session: policy.Session{IdleTimeout: 10 * time.Minute},
		MFA:     policy.MFA{Mode: "required", RememberDevice: 24 * time.Hour},
		Network: policy.Network{Allow: policy.AllowList{{CIDR: "10.0.0.0/8"}}},
	}
	p.SetDefaults()
	want := policy.Default()
	want.Session.IdleTimeout = 10 * time.Minute
	want.MFA.Mode, want.MFA.RememberDevice = "required", 24*time.Hour
	want.Network.Allow = policy.AllowList{{CIDR: "10.0.0.0/8"}}
	if !policy.Equal(p, want) {
		t.Errorf("SetDefaults: got %+v, want %+v", p, want)
	}

	// An explicit methods map is kept as given, not merged with the
	// default's, so naming only a provider turns password off.
	q := policy.Policy{Methods: map[string]bool{"google": true}}
	q.SetDefaults()
	if want := map[string]bool{"google": true}; !maps.Equal(q.Methods, want) {
		t.Errorf("SetDefaults with methods: got %v, want %v", q.Methods, want)
	}
}

// TestSetDefaultsDoesNotShareDefault: filling one policy's methods and
// then changing them must not change the next Default().
func TestSetDefaultsDoesNotShareDefault(t *testing.T) {
	var p policy.Policy
	p.SetDefaults()
	p.Methods["password"] = false
	if d := policy.Default(); !d.MethodEnabled("password") {
		t.Errorf("Default after editing a defaulted policy: got password off, want on")
	}
}

func TestValidateKeyPaths(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(p *policy.Policy)
		wantIn []string
	}{
		{"absolute lifetime too short", func(p *policy.Policy) { p.Session.AbsoluteLifetime = 30 * time.Second },
			[]string{"policy.session.absolute_lifetime:"}},
		{"idle timeout negative", func(p *policy.Policy) { p.Session.IdleTimeout = -time.Minute },
			[]string{"policy.session.idle_timeout:"}},
		{"idle beyond absolute", func(p *policy.Policy) { p.Session.IdleTimeout = 13 * time.Hour },
			[]string{"policy.session.idle_timeout:", "must not exceed session.absolute_lifetime"}},
		{"mfa mode", func(p *policy.Policy) { p.MFA.Mode = "sometimes" },
			[]string{"policy.mfa.mode:", `"sometimes"`}},
		{"mfa federated", func(p *policy.Policy) { p.MFA.Federated = "never" },
			[]string{"policy.mfa.federated:"}},
		{"remember device negative", func(p *policy.Policy) { p.MFA.RememberDevice = -time.Hour },
			[]string{"policy.mfa.remember_device:"}},
		{"mfa method unknown", func(p *policy.Policy) { p.MFA.Methods = []string{"totp", "pigeon"} },
			[]string{"policy.mfa.methods[1]:", `"pigeon"`}},
		{"passwordless without passkeys", func(p *policy.Policy) { p.Methods["passkey"] = true },
			[]string{"policy.methods.passkey:", "add webauthn to mfa.methods"}},
		{"mfa method twice", func(p *policy.Policy) { p.MFA.Methods = []string{"email", "email"} },
			[]string{"policy.mfa.methods[1]:", "twice"}},
		{"allow entry", func(p *policy.Policy) {
			p.Network.Allow = policy.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "10.0.0.0/33", Description: "office"}}
		},
			[]string{"policy.network.allow[1]:", `"10.0.0.0/33"`}},
		{"allow_roles entry", func(p *policy.Policy) {
			p.Network.AllowRoles = map[string]policy.AllowList{"admin": {{CIDR: "192.168.1.1"}, {CIDR: "nope"}}}
		}, []string{"policy.network.allow_roles.admin[1]:"}},
		{"block_tor", func(p *policy.Policy) { p.Network.BlockTor = "yes" },
			[]string{"policy.network.block_tor:"}},
		{"block_anonymous flag", func(p *policy.Policy) { p.Network.BlockAnonymous = []string{"is_tor_exit_node", "is_evil"} },
			[]string{"policy.network.block_anonymous[1]:", `"is_evil"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy.Default()
			tc.edit(&p)
			err := p.Validate("policy")
			if err == nil {
				t.Fatalf("Validate: got nil, want an error containing %q", tc.wantIn)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate: got %q, want it to contain %q", err, s)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != 1 {
				t.Errorf("Validate: got %d problems (%q), want 1", n, err)
			}
		})
	}
}

// TestValidateReportsEveryProblem: an admin fixing a document sees all of
// its problems at once, each with its key path, in a stable order.
func TestValidateReportsEveryProblem(t *testing.T) {
	p := policy.Policy{
		Session: policy.Session{AbsoluteLifetime: time.Second, IdleTimeout: 0},
		Methods: map[string]bool{"password": false},
		MFA:     policy.MFA{Mode: "x", Federated: "y", RememberDevice: -1},
		Network: policy.Network{
			Allow:          policy.AllowList{{CIDR: "bad"}},
			AllowRoles:     map[string]policy.AllowList{"zed": {{CIDR: "z"}}, "admin": {{CIDR: "a"}}},
			BlockTor:       "maybe",
			BlockAnonymous: []string{"nope"},
		},
	}
	err := p.Validate("policy")
	if err == nil {
		t.Fatal("Validate: got nil, want every problem")
	}
	want := []string{
		"policy.session.absolute_lifetime:",
		"policy.session.idle_timeout:",
		"policy.mfa.mode:",
		"policy.mfa.federated:",
		"policy.mfa.remember_device:",
		"policy.network.allow[0]:",
		"policy.network.allow_roles.admin[0]:",
		"policy.network.allow_roles.zed[0]:",
		"policy.network.block_tor:",
		"policy.network.block_anonymous[0]:",
		"policy.api_keys.max_lifetime:",
		"policy.api_keys.rate_limit.requests:",
		"policy.api_keys.rate_limit.window:",
		"policy.mobile.access_token_ttl:",
		"policy.mobile.dpop:",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("Validate: got %d problems:\n%s\nwant %d", len(lines), err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: got %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	p := policy.Default()
	p.MFA.Mode = "bogus"
	if err := p.Validate("config.policy"); err == nil || !strings.HasPrefix(err.Error(), "config.policy.mfa.mode:") {
		t.Errorf("Validate(\"config.policy\"): got %v, want prefix config.policy.mfa.mode:", err)
	}
}

const designExample = `
session: {absolute_lifetime: 12h, idle_timeout: 30m}
methods: {password: true}
mfa: {mode: optional, required_roles: [admin], federated: trust_idp, remember_device: 0s}
network:
  allow: []
  allow_roles: {admin: [10.0.0.0/8]}
  block_tor: login
  block_anonymous: [is_anonymous_vpn, is_public_proxy, is_tor_exit_node]
`

func TestParse(t *testing.T) {
	p, err := policy.Parse([]byte(designExample))
	if err != nil {
		t.Fatalf("Parse(DESIGN.md example): %v", err)
	}
	if got, want := p.MFA.RequiredRoles, []string{"admin"}; !slices.Equal(got, want) {
		t.Errorf("required_roles: got %v, want %v", got, want)
	}
	if got, want := p.Network.AllowRoles["admin"].CIDRs(), []string{"10.0.0.0/8"}; !slices.Equal(got, want) {
		t.Errorf("allow_roles.admin: got %v, want %v", got, want)
	}
	if got, want := p.Session.IdleTimeout, 30*time.Minute; got != want {
		t.Errorf("idle_timeout: got %v, want %v", got, want)
	}

	partial, err := policy.Parse([]byte("mfa: {mode: required}\n"))
	if err != nil {
		t.Fatalf("Parse(partial): %v", err)
	}
	want := policy.Default()
	want.MFA.Mode = "required"
	if !policy.Equal(partial, want) {
		t.Errorf("Parse(partial): got %+v, want defaults with mfa.mode required", partial)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		wantIn []string
	}{
		{"unknown top-level key", "sessions: {idle_timeout: 5m}\n", []string{"sessions", "not found"}},
		{"unknown nested key", "mfa: {mode: optional, remember: 1h}\n", []string{"remember", "not found"}},
		{"misspelt network key", "network: {block_tors: all}\n", []string{"block_tors"}},
		{"wrong type", "session: {idle_timeout: [1]}\n", []string{"line 1", "time.Duration"}},
		{"bad duration", "session: {idle_timeout: soon}\n", []string{"soon"}},
		{"not YAML", "session: {\n", []string{"policy:"}},
		{"several problems", "session: {absolute_lifetime: 10m, idle_timeout: 20m}\nmfa: {mode: maybe}\nnetwork: {allow: [300.0.0.1]}\n",
			[]string{"policy.session.idle_timeout:", "policy.mfa.mode:", "policy.network.allow[0]:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse(%q): got nil, want an error", tc.doc)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Parse(%q): got %q, want it to contain %q", tc.doc, err, s)
				}
			}
		})
	}
}

// TestMethodEnabled follows MethodEnabled's doc: a method the document
// names is as set; one it does not name is on for providers and off for
// password.
func TestMethodEnabled(t *testing.T) {
	tests := []struct {
		name    string
		methods map[string]bool
		id      string
		want    bool
	}{
		{"password named on", map[string]bool{"password": true}, "password", true},
		{"password named off", map[string]bool{"password": false, "google": true}, "password", false},
		{"password unnamed", map[string]bool{"google": true}, "password", false},
		{"password, nil map", nil, "password", false},
		{"provider named on", map[string]bool{"corp": true}, "corp", true},
		{"provider named off", map[string]bool{"password": true, "corp": false}, "corp", false},
		{"provider unnamed", map[string]bool{"password": true}, "adfs", true},
		{"provider, nil map", nil, "google", true},
	}
	for _, tc := range tests {
		p := policy.Policy{Methods: tc.methods}
		if got := p.MethodEnabled(tc.id); got != tc.want {
			t.Errorf("%s: MethodEnabled(%q) with %v: got %v, want %v", tc.name, tc.id, tc.methods, got, tc.want)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"}, // masked
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1/32", "2001:db8::/32"},
		{"::ffff:1.2.3.4", "1.2.3.4/32"},
		{"::ffff:1.2.3.4/128", "1.2.3.4/32"},
		{"::ffff:1.2.3.0/120", "1.2.3.0/24"},
		{"::ffff:0:0/96", "0.0.0.0/0"},
		{"fe80::1%eth0", "fe80::1/128"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"::/0", "::/0"},
		{"", ""},
		{"garbage", ""},
		{"10.0.0.0/33", ""},
		{"2001:db8::/129", ""},
		{"300.1.1.1", ""},
		{" 10.0.0.1", ""},
		{"10.0.0.1/", ""},
		{"10.0.0", ""},
		{"fe80::1%eth0/64", ""}, // not fe80::1/128 with zone "eth0/64"
	}
	for _, tc := range tests {
		got, err := policy.ParsePrefix(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParsePrefix(%q): got %v, want an error", tc.in, got)
		case tc.want != "" && err != nil:
			t.Errorf("ParsePrefix(%q): got error %v, want %s", tc.in, err, tc.want)
		case tc.want != "" && got != netip.MustParsePrefix(tc.want):
			t.Errorf("ParsePrefix(%q): got %v, want %s", tc.in, got, tc.want)
		}
	}
}

// TestMarshalRoundTrip: what is stored (Marshal) parses back to an equal
// policy, for the default and for one with every field set.
func TestMarshalRoundTrip(t *testing.T) {
	full := policy.Policy{
		Session: policy.Session{AbsoluteLifetime: 8 * time.Hour, IdleTimeout: 90 * time.Second},
		Methods: map[string]bool{"password": false, "google": true, "corp": false},
		MFA:     policy.MFA{Mode: "required", RequiredRoles: []string{"admin", "finance"}, Federated: "always", RememberDevice: 720 * time.Hour},
		Network: policy.Network{
			Allow:          policy.AllowList{{CIDR: "10.0.0.0/8", Description: "Bangalore office"}, {CIDR: "2001:db8::/32"}},
			AllowRoles:     map[string]policy.AllowList{"admin": {{CIDR: "192.0.2.0/24", Description: "admin VPN"}}, "ops": {{CIDR: "198.51.100.7"}}},
			BlockTor:       "all",
			BlockAnonymous: []string{"is_anonymous_vpn", "is_hosting_provider"},
			AllowAPI:       []policy.AllowEntry{{CIDR: "203.0.113.0/24", Description: "ETL servers"}},
		},
		Access: access.Config{Default: "deny", Features: []string{"leads.view", "leads.export"},
			Roles:    map[string]string{"sales": "sales_user"},
			Routes:   []access.Route{{Pattern: "GET /export/", Feature: "leads.export"}},
			FoldCase: new(false)},
		APIKeys: policy.APIKeys{Enabled: new(false), Roles: []string{"integration"}, MaxLifetime: 90 * 24 * time.Hour,
			RateLimit: policy.RateLimit{Requests: 100, Window: time.Minute}},
		Mobile: policy.Mobile{Enabled: new(false), AccessTokenTTL: 2 * time.Minute, RefreshGrace: new(time.Duration(0)),
			SingleDevice: true, DPoP: "refresh_only", DPoPNonce: true},
	}
	for name, p := range map[string]policy.Policy{"default": policy.Default(), "full": full} {
		doc, err := p.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		back, err := policy.Parse(doc)
		if err != nil {
			t.Fatalf("%s: Parse(Marshal()): %v\n%s", name, err, doc)
		}
		if !policy.Equal(back, p) {
			t.Errorf("%s: Parse(Marshal()): got %+v, want %+v", name, back, p)
		}
	}
}

func TestEqual(t *testing.T) {
	base := policy.Default()
	tests := []struct {
		name string
		edit func(p *policy.Policy)
		want bool
	}{
		{"identical", func(*policy.Policy) {}, true},
		{"nil vs empty allow list", func(p *policy.Policy) { p.Network.Allow = policy.AllowList{} }, true},
		{"methods built in another order", func(p *policy.Policy) {
			p.Methods = map[string]bool{}
			p.Methods["password"] = true
		}, true},
		{"idle timeout", func(p *policy.Policy) { p.Session.IdleTimeout = time.Hour }, false},
		{"method added", func(p *policy.Policy) { p.Methods = map[string]bool{"password": true, "google": false} }, false},
		{"mfa mode", func(p *policy.Policy) { p.MFA.Mode = "required" }, false},
		{"allow list", func(p *policy.Policy) { p.Network.Allow = policy.AllowList{{CIDR: "10.0.0.0/8"}} }, false},
		{"allow list description", func(p *policy.Policy) {
			p.Network.Allow = policy.AllowList{{CIDR: "0.0.0.0/0", Description: "anywhere"}}
		}, false},
	}
	for _, tc := range tests {
		p := policy.Default()
		tc.edit(&p)
		if got := policy.Equal(base, p); got != tc.want {
			t.Errorf("Equal(%s): got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheckMethods(t *testing.T) {
	for _, tc := range []struct {
		name      string
		methods   map[string]bool
		providers []string
		ok        bool
	}{
		{"password on", map[string]bool{"password": true}, nil, true},
		{"everything off", map[string]bool{"password": false, "google": false}, []string{"google"}, false},
		{"empty map: password off, no providers", map[string]bool{}, nil, false},
		{"password off, a configured provider on by default", map[string]bool{"password": false}, []string{"corp"}, true},
		{"password off, provider named off", map[string]bool{"password": false, "corp": false}, []string{"corp"}, false},
	} {
		p := policy.Policy{Methods: tc.methods}
		if err := p.CheckMethods("policy", tc.providers); (err == nil) != tc.ok {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
