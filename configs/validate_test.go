package configs

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	doc := `
listen: no-port
public_url: ftp://example.com
upstream: crm.internal
trusted_proxies: [10.0.0.0/8, not-an-ip]
metrics_listen: "localhost:99999"
tls: {cert_file: cert.pem}
session: {store: etcd, cache_ttl: 6m, touch_fraction: 1}
directory: {driver: mysql}
login: {max_concurrent_hashes: 65, account_attempts: -1, ip_attempts: -5, lockout_window: 10s}
log: {level: loud, format: xml, audit_retention: 1h}
policy: {session: {idle_timeout: 10s}, mfa: {mode: sometimes}}
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("got no error, want one per bad key")
	}
	for _, key := range []string{
		"listen:", "public_url:", "upstream:", "trusted_proxies[1]:", "metrics_listen:",
		"tls:", "session.store:", "session.cache_ttl:", "session.touch_fraction:",
		"directory.driver:", "login.max_concurrent_hashes:", "login.account_attempts:",
		"login.ip_attempts:", "login.lockout_window:", "log.level:", "log.format:", "log.audit_retention:",
		"policy.session.idle_timeout:", "policy.mfa.mode:",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not mention %q:\n%v", key, err)
		}
	}
}

func TestRedisWithoutAddrs(t *testing.T) {
	_, err := Parse([]byte("session: {store: redis}"), nil)
	want := `session.redis.addrs: required when session.store is "redis"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want an error containing %q", err, want)
	}
}

func TestCacheTTL(t *testing.T) {
	const redis = "session: {store: redis, redis: {addrs: [127.0.0.1:6379]}"
	tests := []struct {
		name, doc string
		env       []string
		want      time.Duration
		wantErr   bool
	}{
		{"memory default", "", nil, 30 * time.Second, false},
		{"redis default", redis + "}", nil, 30 * time.Second, false},
		{"redis empty value is default", redis + ", cache_ttl: }", nil, 30 * time.Second, false},
		{"redis explicit 0s turns cache off", redis + ", cache_ttl: 0s}", nil, 0, false},
		{"redis 0s from env turns cache off", redis + "}", []string{"GATEHOUSE_SESSION_CACHE_TTL=0s"}, 0, false},
		{"5m accepted", redis + ", cache_ttl: 5m}", nil, 5 * time.Minute, false},
		{"5m1s rejected", redis + ", cache_ttl: 5m1s}", nil, 0, true},
		{"negative rejected", redis + ", cache_ttl: -1ms}", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), tt.env)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "session.cache_ttl:") {
					t.Errorf("got %v, want a session.cache_ttl error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Session.CacheTTL != tt.want {
				t.Errorf("got %s, want %s", c.Session.CacheTTL, tt.want)
			}
		})
	}
}

func TestPublicURL(t *testing.T) {
	tests := []struct {
		url          string
		wantInsecure bool
		wantErr      bool
	}{
		{"http://127.0.0.1:8080", true, false},
		{"https://crm.example.com", false, false},
		{"https://crm.example.com/", false, false},
		{"https://crm.example.com/app", false, true},
		{"https://crm.example.com?x=1", false, true},
		{"https://user@crm.example.com", false, true},
		{"ftp://crm.example.com", false, true},
		{"crm.example.com", false, true},
		{"https://:8443", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := Parse([]byte("public_url: '"+tt.url+"'"), nil)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "public_url:") {
					t.Errorf("got %v, want a public_url error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DevInsecureCookies != tt.wantInsecure {
				t.Errorf("DevInsecureCookies: got %v, want %v", c.DevInsecureCookies, tt.wantInsecure)
			}
			warned := slices.ContainsFunc(c.Warnings(), func(w string) bool { return strings.HasPrefix(w, "public_url") })
			if warned != tt.wantInsecure {
				t.Errorf("public_url warning: got %v, want %v (warnings %q)", warned, tt.wantInsecure, c.Warnings())
			}
			if c.PublicURLParsed == nil || c.PublicURLParsed.Path != "" {
				t.Errorf("PublicURLParsed: got %v, want a URL with an empty path", c.PublicURLParsed)
			}
		})
	}
}

// TestPublicURLIsABrowserOrigin: public_url is kept as a browser writes
// the origin (lower-case host, no default port), because passkeys and
// the forms' Origin check compare with it byte for byte; a host a browser
// would send as punycode must be given as punycode.
func TestPublicURLIsABrowserOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://CRM.Example.com:443":  "https://crm.example.com",
		"http://LocalHost:80/":         "http://localhost",
		"https://crm.example.com:":     "https://crm.example.com",
		"https://crm.example.com:8443": "https://crm.example.com:8443",
		"http://[::1]:80":              "http://[::1]",
		"http://[::1]:8080":            "http://[::1]:8080",
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
	} {
		c, err := Parse([]byte("public_url: '"+in+"'"), nil)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.PublicURLParsed.String(); got != want {
			t.Errorf("%s: kept as %s, want %s", in, got, want)
		}
	}
	c, err := Parse([]byte("public_url: 'https://CRM.example.com:443'"), nil)
	if err != nil || !slices.ContainsFunc(c.Warnings(), func(w string) bool { return strings.Contains(w, `is used as "https://crm.example.com"`) }) {
		t.Errorf("a public_url read in another form: %v, warnings %q; want one naming the form used", err, c.Warnings())
	}
	if c, _ := Parse([]byte("public_url: 'https://crm.example.com/'"), nil); slices.ContainsFunc(c.Warnings(), func(w string) bool { return strings.Contains(w, "is used as") }) {
		t.Errorf("a public_url already in the browser's form warns: %q", c.Warnings())
	}
	for _, bad := range []string{"https://crm.example.com:99999", "https://crm.example.com:0", "http://[::ffff:1.2.3.4]:8080"} {
		if _, err := Parse([]byte("public_url: '"+bad+"'"), nil); err == nil || !strings.Contains(err.Error(), "public_url: ") {
			t.Errorf("%s: %v, want a port error", bad, err)
		}
	}
	_, err = Parse([]byte("public_url: 'https://bücher.example'"), nil)
	if err == nil || !strings.Contains(err.Error(), "punycode") {
		t.Errorf("a Unicode host: %v, want an error naming punycode", err)
	}
}

func TestUpstream(t *testing.T) {
	tests := []struct {
		upstream, wantHost string
		wantErr            bool
	}{
		{"demo", "", false},
		{"http://crm.internal:8000", "crm.internal:8000", false},
		{"https://crm.internal/base", "crm.internal", false},
		{"crm.internal:8000", "", true},
		{"http://crm.internal/?debug=1", "", true},
		{"unix:///run/crm.sock", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			c, err := Parse([]byte("upstream: '"+tt.upstream+"'"), nil)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "upstream:") {
					t.Errorf("got %v, want an upstream error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if c.UpstreamURL != nil {
				got = c.UpstreamURL.Host
			}
			if got != tt.wantHost {
				t.Errorf("UpstreamURL host: got %q, want %q", got, tt.wantHost)
			}
		})
	}
}

func TestTrustedProxiesParsedOnce(t *testing.T) {
	c, err := Parse([]byte("trusted_proxies: [10.0.0.0/8, 192.0.2.7, '::ffff:198.51.100.0/120', 2001:db8::/32]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	if !slices.Equal(c.TrustedProxyPrefixes, want) {
		t.Errorf("got %v, want %v", c.TrustedProxyPrefixes, want)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"memory store", "", `session.store is "memory"`},
		{"plain http", "", "public_url is plain http"},
		{"trust everyone", "trusted_proxies: [0.0.0.0/0]", "trusted_proxies[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(c.Warnings(), func(w string) bool { return strings.Contains(w, tt.want) }) {
				t.Errorf("got %q, want a warning containing %q", c.Warnings(), tt.want)
			}
		})
	}
	c, err := Load("production.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("production example: got warnings %q, want none", w)
	}
}

// TestTrustedProxyInsideAllowlistWarned: a client inside trusted_proxies
// picks its own address with X-Forwarded-For, so a trusted range that
// overlaps an allowlist lets it claim an allowed address. Start-up and
// check-config say so; disjoint ranges say nothing.
func TestTrustedProxyInsideAllowlistWarned(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		want      []string
	}{
		{"org allowlist inside the trusted range", "trusted_proxies: [10.0.0.0/8]\npolicy: {network: {allow: [192.0.2.0/24, 10.1.0.0/16]}}",
			[]string{"trusted_proxies[0]: 10.0.0.0/8 overlaps policy.network.allow[1] (10.1.0.0/16)"}},
		{"trusted proxy inside a role's allowlist", "trusted_proxies: [10.0.0.5, 2001:db8::1]\npolicy: {network: {allow_roles: {admin: [10.0.0.0/24], sales: ['2001:db8::/64']}}}",
			[]string{"trusted_proxies[0]: 10.0.0.5/32 overlaps policy.network.allow_roles.admin[0]", "trusted_proxies[1]: 2001:db8::1/128 overlaps policy.network.allow_roles.sales[0]"}},
		{"entries with descriptions", "trusted_proxies: [10.0.0.0/8]\npolicy: {network: {allow: [192.0.2.0/24, {cidr: 10.1.0.0/16, description: Bangalore office}], allow_roles: {admin: [{cidr: 10.2.0.0/16}]}}}",
			[]string{"trusted_proxies[0]: 10.0.0.0/8 overlaps policy.network.allow[1] (10.1.0.0/16, Bangalore office)", "trusted_proxies[0]: 10.0.0.0/8 overlaps policy.network.allow_roles.admin[0] (10.2.0.0/16)"}},
		{"load balancers outside every allowlist", "trusted_proxies: [10.0.0.10, 10.0.0.11]\npolicy: {network: {allow: [192.0.2.0/24], allow_roles: {admin: [10.20.0.0/16]}}}", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range c.Warnings() {
				if strings.Contains(w, "overlaps") {
					got = append(got, w)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d overlap warnings", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("got %q, want it to start with %q", got[i], w)
				}
			}
		})
	}
}

func TestTLSBothOrNeither(t *testing.T) {
	tests := []struct {
		doc     string
		wantErr bool
	}{
		{"tls: {}", false},
		{"tls: {cert_file: c.pem, key_file: k.pem}", false},
		{"tls: {cert_file: c.pem}", true},
		{"tls: {key_file: k.pem}", true},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), nil)
		if got := err != nil; got != tt.wantErr {
			t.Errorf("Parse(%q): got error %v, want error %v", tt.doc, err, tt.wantErr)
		}
	}
}

// TestServiceTokenFile: the access API's token file is read when the
// config is validated, so check-config refuses what serve would.
func TestServiceTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", strings.Repeat("x", 40)+"\n", 0o600)
	for _, tt := range []struct{ file, want string }{
		{good, ""},
		{filepath.Join(dir, "missing"), "no such file"},
		{write("open", strings.Repeat("x", 40), 0o644), "has mode 0644, readable by group or others; run chmod 600"},
		{write("short", "tooshort", 0o600), "at least 32 characters"},
		{write("spaces", strings.Repeat("x", 20)+" "+strings.Repeat("y", 20), 0o600), "without spaces"},
	} {
		c, err := Parse([]byte("access: {service_token_file: "+tt.file+"}"), nil)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.file, err)
		case tt.want == "" && c.Access.ServiceToken != strings.Repeat("x", 40):
			t.Errorf("%s: token %q", tt.file, c.Access.ServiceToken)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), "access.service_token_file") || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error naming the key and %q", tt.file, err, tt.want)
		}
	}
}

// TestAllowlistEntryProblems: a bad entry of either form is named by its
// key path and index, an unknown key in an entry by its line and path.
func TestAllowlistEntryProblems(t *testing.T) {
	doc := `policy:
  network:
    allow:
      - 10.0.0.0/8
      - {cidr: 10.1.0.0/16, description: Bangalore office}
      - {cidr: 10.0.0.0/33, description: typo}
    allow_roles:
      admin:
        - cidr: 192.0.2.0/24
          note: admin VPN
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"policy.network.allow[2]:", `"10.0.0.0/33"`, "line 10: policy.network.allow_roles.admin[0].note: unknown key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q in it", err, want)
		}
	}
}
