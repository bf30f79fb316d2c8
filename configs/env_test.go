package configs

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  string
		got  func(*Config) any
		want any
	}{
		{"string", "GATEHOUSE_LISTEN=0.0.0.0:9000", func(c *Config) any { return c.Listen }, "0.0.0.0:9000"},
		{"bool", "GATEHOUSE_SESSION_REDIS_TLS=true", func(c *Config) any { return c.Session.Redis.TLS }, true},
		{"int", "GATEHOUSE_LOGIN_IP_ATTEMPTS=50", func(c *Config) any { return c.Login.IPAttempts }, 50},
		{"duration", "GATEHOUSE_LOGIN_LOCKOUT_WINDOW=1h", func(c *Config) any { return c.Login.LockoutWindow }, time.Hour},
		{"list", "GATEHOUSE_TRUSTED_PROXIES= 10.0.0.0/8 , 192.0.2.1,", func(c *Config) any { return strings.Join(c.TrustedProxies, "|") }, "10.0.0.0/8|192.0.2.1"},
		{"nested policy duration", "GATEHOUSE_POLICY_SESSION_IDLE_TIMEOUT=15m", func(c *Config) any { return c.Policy.Session.IdleTimeout }, 15 * time.Minute},
		{"nested policy list", "GATEHOUSE_POLICY_MFA_REQUIRED_ROLES=admin,auditor", func(c *Config) any { return strings.Join(c.Policy.MFA.RequiredRoles, "|") }, "admin|auditor"},
		{"directory dsn", "GATEHOUSE_DIRECTORY_DSN=/var/lib/gatehouse/g.db", func(c *Config) any { return c.Directory.DSN }, "/var/lib/gatehouse/g.db"},
		{"value with =", "GATEHOUSE_SESSION_REDIS_PASSWORD=a=b", func(c *Config) any { return c.Session.Redis.Password }, "a=b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", []string{tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); got != tt.want {
				t.Errorf("%s: got %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

// TestEnvSwitchesToRedis is the documented example: the embedded defaults
// plus a few variables give a Redis-backed gateway.
func TestEnvSwitchesToRedis(t *testing.T) {
	c, err := Load("", []string{"GATEHOUSE_SESSION_STORE=redis", "GATEHOUSE_SESSION_REDIS_ADDRS=a:6379,b:6379", "GATEHOUSE_SESSION_REDIS_CLUSTER=true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Session.Store != StoreRedis || !slices.Equal(c.Session.Redis.Addrs, []string{"a:6379", "b:6379"}) {
		t.Errorf("got store %q addrs %q, want redis [a:6379 b:6379]", c.Session.Store, c.Session.Redis.Addrs)
	}
	if c.Session.CacheTTL != 30*time.Second {
		t.Errorf("cache_ttl: got %s, want the redis default 30s", c.Session.CacheTTL)
	}
}

func TestEnvOverridesFileAndEmptyListClears(t *testing.T) {
	c, err := Load("production.example.yaml", []string{"GATEHOUSE_TRUSTED_PROXIES=", "GATEHOUSE_LOG_FORMAT=text"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 0 || c.Log.Format != "text" {
		t.Errorf("got trusted_proxies %q, log.format %q; want [] and text", c.TrustedProxies, c.Log.Format)
	}
}

func TestEnvMalformedValue(t *testing.T) {
	tests := []struct{ env, want string }{
		{"GATEHOUSE_LOGIN_IP_ATTEMPTS=many", "GATEHOUSE_LOGIN_IP_ATTEMPTS: want an integer"},
		{"GATEHOUSE_SESSION_REDIS_TLS=sure", "GATEHOUSE_SESSION_REDIS_TLS: want true or false"},
		{"GATEHOUSE_SESSION_CACHE_TTL=500", "GATEHOUSE_SESSION_CACHE_TTL: want a duration"},
		{"GATEHOUSE_SESSION_REDIS_DB=99999999999999999999", "GATEHOUSE_SESSION_REDIS_DB: want an integer"},
	}
	for _, tt := range tests {
		_, err := Parse(nil, []string{tt.env})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.env, err, tt.want)
		}
	}
}

func TestEnvUnknownVariable(t *testing.T) {
	_, err := Parse(nil, []string{"GATEHOUSE_SESION_STORE=redis", "GATEHOUSE_NONSENSE_ENTIRELY=1"})
	if err == nil {
		t.Fatal("got no error, want unknown-variable errors")
	}
	for _, want := range []string{
		"GATEHOUSE_SESION_STORE: unknown configuration variable; did you mean GATEHOUSE_SESSION_STORE?",
		"GATEHOUSE_NONSENSE_ENTIRELY: unknown configuration variable",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
}

func TestEnvIgnoresOtherVariables(t *testing.T) {
	env := []string{"GATEHOUSE_CONFIG=/etc/gatehouse.yaml", "GATEHOUSE_TEST_REDIS_ADDR=127.0.0.1:6379", "HOME=/root", "GATEHOUSE", "PATH"}
	if _, err := Parse(nil, env); err != nil {
		t.Errorf("got %v, want no error", err)
	}
}

func TestEnvNames(t *testing.T) {
	names := EnvNames()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s: two keys map to the same variable", n)
		}
		seen[n] = true
	}
	for _, want := range []string{
		"GATEHOUSE_LISTEN", "GATEHOUSE_PUBLIC_URL", "GATEHOUSE_TLS_CERT_FILE",
		"GATEHOUSE_SESSION_STORE", "GATEHOUSE_SESSION_REDIS_ADDRS", "GATEHOUSE_DIRECTORY_DSN",
		"GATEHOUSE_LOGIN_LOCKOUT_WINDOW", "GATEHOUSE_POLICY_NETWORK_BLOCK_TOR",
	} {
		if !seen[want] {
			t.Errorf("EnvNames() lacks %s", want)
		}
	}
	for _, derived := range []string{"GATEHOUSE_POLICY_METHODS", "GATEHOUSE_POLICY_NETWORK_ALLOW_ROLES", "GATEHOUSE_UPSTREAM_URL", "GATEHOUSE_DEV_INSECURE_COOKIES"} {
		if seen[derived] {
			t.Errorf("EnvNames() has %s, want maps and derived fields left out", derived)
		}
	}
}

// TestEnvAndFileProblemsReportedTogether: a bad variable does not hide the
// file's own problems.
func TestEnvAndFileProblemsReportedTogether(t *testing.T) {
	_, err := Parse([]byte("log: {level: loud}"), []string{"GATEHOUSE_SESION_STORE=redis"})
	for _, want := range []string{"GATEHOUSE_SESION_STORE", "log.level:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
}
