// Package configs is the one typed configuration of Gatehouse: the Config
// struct that composes each package's own section, Load (strict YAML, then
// GATEHOUSE_* environment overrides, then defaults, then validation) and the
// shipped YAML files, of which gatehouse.yaml is embedded as the defaults a
// bare `gatehouse serve` runs on.
//
// Every scalar or list key can be overridden by an environment variable
// named GATEHOUSE_ plus its key path upper-cased and joined with "_"
// (GATEHOUSE_SESSION_STORE=redis, GATEHOUSE_SESSION_REDIS_ADDRS=a:6379,b:6379);
// an unknown GATEHOUSE_* variable is an error, so a typo is never ignored.
// A provider's keys are addressed by its id
// (GATEHOUSE_PROVIDERS_<ID>_CLIENT_SECRET).
//
// A providers[] entry is the common keys (Provider) plus the section of
// the login method its type selects: auth/oidc and auth/saml own those
// keys, their defaults, their validation and how the provider is opened,
// and configs only decodes the entry's remaining keys into that section,
// strictly. Load's validation is the one `check-config` and `serve` share;
// it reports every problem at once, each with its key path and line.
//
// Everything that can be parsed is parsed here, once (URLs, CIDRs,
// durations), so request handling never re-parses configuration.
package configs

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/auth/sms"
	"github.com/gatehouse-auth/gatehouse/auth/token"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
	"github.com/gatehouse-auth/gatehouse/proxy/brand"
	"github.com/gatehouse-auth/gatehouse/session/redis"
)

// Built-in defaults; configs/gatehouse.yaml spells out the same values and
// a test keeps the two in step.
const (
	DefaultListen    = "127.0.0.1:8080"
	DefaultPublicURL = "http://127.0.0.1:8080"
	DemoUpstream     = "demo"
	StoreMemory      = "memory"
	StoreRedis       = "redis"
	defaultCacheTTL  = 30 * time.Second
	// maxCacheTTL bounds memory held for sessions that stopped coming.
	maxCacheTTL          = 5 * time.Minute
	defaultTouchFraction = 20
	defaultMaxHashes     = 4
	defaultAccountTries  = 5
	defaultIPTries       = 20
	defaultLockout       = 15 * time.Minute
)

// Config is the whole configuration. Fields tagged `yaml:"-"` are derived by
// Validate from the ones above them and cannot be set in YAML or the
// environment.
type Config struct {
	// Listen is the host:port the gateway serves on.
	Listen string `yaml:"listen"`
	// PublicURL is the origin browsers use to reach the gateway; redirects
	// and cookies are built from it.
	PublicURL       string   `yaml:"public_url"`
	PublicURLParsed *url.URL `yaml:"-"`
	// Upstream is "demo" (the built-in demo CRM) or the CRM's http(s) URL.
	Upstream    string   `yaml:"upstream"`
	UpstreamURL *url.URL `yaml:"-"` // nil for the demo
	// UpstreamNotify is the upstream's webhook, told when a session ends
	// (docs/webhooks.md); off without a url.
	UpstreamNotify webhook.Config `yaml:"upstream_notify"`
	// Email is the SMTP relay the gateway sends its few messages through
	// (password reset links); off without a host.
	Email email.Config `yaml:"email"`
	// SMS sends the codes of the SMS second factor (policy mfa.methods).
	SMS sms.Config `yaml:"sms"`
	// TrustedProxies are the CIDRs (or single IPs) whose X-Forwarded-For
	// is believed; from anyone else the TCP peer is the client.
	TrustedProxies       []string       `yaml:"trusted_proxies"`
	TrustedProxyPrefixes []netip.Prefix `yaml:"-"`
	// MetricsListen is the host:port of the separate metrics listener;
	// empty turns metrics off.
	MetricsListen string        `yaml:"metrics_listen"`
	TLS           TLS           `yaml:"tls"`
	Session       Session       `yaml:"session"`
	Directory     sqldir.Config `yaml:"directory"`
	// Providers are the external identity providers (Google, OIDC, SAML).
	Providers []Provider `yaml:"providers"`
	// Secrets names the key file that protects data at rest (TOTP seeds)
	// and signs remember-this-device cookies.
	Secrets Secrets `yaml:"secrets"`
	// Network says where the network guard's lists come from (Tor exits,
	// anonymous-IP database, deny file); the policy says what they block.
	Network network.Config `yaml:"network"`
	Login   Login          `yaml:"login"`
	Log     Log            `yaml:"log"`
	// Policy seeds the login policy in the directory on first start; after
	// that the directory's copy, changed by admins, is the one in force.
	Policy policy.Policy `yaml:"policy"`
	// Access configures the record access API (docs/access.md).
	Access Access `yaml:"access"`
	// Mobile registers the mobile apps that may log in with dynamic
	// tokens (docs/mobile.md); the policy's mobile: section says how.
	Mobile token.Config `yaml:"mobile"`
	// Shutdown is how the gateway stops on SIGTERM.
	Shutdown Shutdown `yaml:"shutdown"`
	// ForwardAuth is the endpoint a proxy in front asks instead of
	// proxying through the gateway (docs/forward-auth.md).
	ForwardAuth ForwardAuth `yaml:"forward_auth"`
	// Branding is what the gateway's pages show: product name, logo,
	// colour, favicon, footer links (proxy/brand owns the keys).
	Branding brand.Config `yaml:"branding"`
	// DevInsecureCookies is true when public_url is plain http: cookies
	// then go without Secure and without the __Host- prefix.
	DevInsecureCookies bool `yaml:"-"`
}

// Shutdown: on SIGTERM, /readyz fails at once while the listener keeps
// accepting for DrainDelay (so a load balancer or Kubernetes stops sending
// new requests first), then in-flight requests get up to Timeout.
type Shutdown struct {
	DrainDelay time.Duration `yaml:"drain_delay"`
	Timeout    time.Duration `yaml:"timeout"`

	// drainSet records an explicit drain_delay, so 0s can mean none.
	drainSet bool
}

// Access configures /.gatehouse/api/v1/access/*. ServiceTokenFile holds
// the bearer secret the CRM's backend sends to ask about any user (empty:
// only users asking about themselves, with their session); ServiceToken is
// read from it by Validate, so check-config and serve see the same file.
type Access struct {
	ServiceTokenFile string `yaml:"service_token_file"`
	ServiceToken     string `yaml:"-"`
}

// TLS makes the gateway serve HTTPS itself when both files are set. Leave
// both empty when TLS is terminated in front of it.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Certificate loads the pair the listener serves. It replaces
// http.Server.ServeTLS's file names, whose tls.LoadX509KeyPair reads a
// key any local user can read: the key goes through auth/secret's mode
// rule, as configs/preflight judged it. Errors start with the key at
// fault.
func (t TLS) Certificate() (tls.Certificate, error) {
	return secret.KeyPair(t.CertFile, t.KeyFile, "tls.cert_file", "tls.key_file")
}

// Session chooses the session store and how hard the hot path leans on it.
type Session struct {
	// Store is "memory" (one instance, lost on restart) or "redis".
	Store string `yaml:"store"`
	// CacheTTL is how long a replica may answer a session from its local
	// cache before reading the store again (capped further at
	// idle_timeout/touch_fraction). Freshness does not depend on it:
	// every revocation is published to every replica, which evicts at
	// once, and a replica whose invalidation channel is down or lagging
	// reads the store on every request. Unset means 30s; an explicit 0s
	// in YAML or the environment turns the cache off.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// TouchFraction bounds last-seen writes to one per
	// idle_timeout/touch_fraction, so idle tracking costs no extra round
	// trip on most requests.
	TouchFraction int          `yaml:"touch_fraction"`
	Redis         redis.Config `yaml:"redis"`

	// cacheTTLSet records that cache_ttl was given explicitly, so 0s can
	// mean "off" rather than "default".
	cacheTTLSet bool
}

// Login bounds the cost and the guessing rate of password logins.
type Login struct {
	// MaxConcurrentHashes caps simultaneous argon2id hashes (19 MiB each).
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
	// AccountAttempts is the failed logins per account per window before
	// the account is locked for the rest of the window.
	AccountAttempts int `yaml:"account_attempts"`
	// IPAttempts is the same limit per client IP.
	IPAttempts    int           `yaml:"ip_attempts"`
	LockoutWindow time.Duration `yaml:"lockout_window"`
}

// Secrets is the at-rest encryption key file: one "<id> <base64 32 bytes>"
// line per key, the first active; add a line at the top to rotate.
type Secrets struct {
	KeyFile string `yaml:"key_file"`
}

// DefaultKeyFile is where the key file lives when none is configured. With
// the SQLite directory (one instance) a missing key file is created on
// first start, like the database beside it.
const DefaultKeyFile = "data/gatehouse.keys"

// CreatesKeyFile reports whether serve makes secrets.key_file when it is
// missing: only beside a SQLite directory (one instance); replicas
// sharing PostgreSQL must be given the one key they all use.
func (c *Config) CreatesKeyFile() bool { return c.Directory.Driver == "sqlite" }

// Log selects the slog handler.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
	// Access logs one line per request (request id, method, path without
	// query, status, duration, bytes, client address, user, method);
	// on unless set to false.
	Access    bool `yaml:"access"`
	accessSet bool
	// AuditRetention is how long audit events (and so the login history
	// read from them) are kept; older ones are deleted by a job every
	// replica runs hourly. 0, the default, keeps every event.
	AuditRetention time.Duration `yaml:"audit_retention"`
}

// SetDefaults fills every unset field, including the nested sections, so
// a partial file means "the defaults, except…".
func (c *Config) SetDefaults() {
	setString(&c.Listen, DefaultListen)
	setString(&c.PublicURL, DefaultPublicURL)
	setString(&c.Upstream, DemoUpstream)
	c.UpstreamNotify.SetDefaults()
	c.SMS.SetDefaults()
	c.Email.SetDefaults()
	c.Branding.SetDefaults()
	setString(&c.Session.Store, StoreMemory)
	if !c.Log.accessSet {
		c.Log.Access = true
	}
	if c.Session.CacheTTL == 0 && !c.Session.cacheTTLSet {
		c.Session.CacheTTL = defaultCacheTTL
	}
	setInt(&c.Session.TouchFraction, defaultTouchFraction)
	c.Session.Redis.SetDefaults()
	c.Directory.SetDefaults()
	c.Network.SetDefaults()
	for i := range c.Providers {
		c.Providers[i].setDefaults()
	}
	setString(&c.Secrets.KeyFile, DefaultKeyFile)
	setInt(&c.Login.MaxConcurrentHashes, defaultMaxHashes)
	setInt(&c.Login.AccountAttempts, defaultAccountTries)
	setInt(&c.Login.IPAttempts, defaultIPTries)
	if c.Login.LockoutWindow == 0 {
		c.Login.LockoutWindow = defaultLockout
	}
	if c.Shutdown.DrainDelay == 0 && !c.Shutdown.drainSet {
		c.Shutdown.DrainDelay = 5 * time.Second
	}
	if c.Shutdown.Timeout == 0 {
		c.Shutdown.Timeout = 30 * time.Second
	}
	setString(&c.Log.Level, "info")
	setString(&c.Log.Format, "text")
	c.Policy.SetDefaults()
}

// LogValue keeps secrets (Redis password, DSN) out of logs when the config
// itself is logged: only the non-secret shape of the deployment is shown.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen),
		slog.String("public_url", c.PublicURL),
		slog.String("upstream", c.Upstream),
		slog.String("session_store", c.Session.Store),
		slog.String("directory_driver", c.Directory.Driver),
		slog.Bool("tls", c.TLS.CertFile != ""),
	)
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}
