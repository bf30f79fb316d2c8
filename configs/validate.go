package configs

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// Validate reports every problem at once, each as "key.path: what is wrong;
// the fix". It also fills the derived fields (PublicURLParsed, UpstreamURL,
// TrustedProxyPrefixes, DevInsecureCookies), so configuration is parsed
// exactly once. It does no I/O: referenced files are opened by whoever uses
// them. Call SetDefaults first.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkHostPort("listen", c.Listen))
	if c.MetricsListen != "" {
		add(checkHostPort("metrics_listen", c.MetricsListen))
		if c.MetricsListen == c.Listen {
			add(errors.New("metrics_listen: must differ from listen; metrics are served on their own listener"))
		}
	}
	add(c.parsePublicURL())
	add(c.parseUpstream())
	add(c.UpstreamNotify.Validate("upstream_notify"))
	add(c.Email.Validate("email"))
	add(c.SMS.Validate("sms", c.development()))
	add(c.parseTrustedProxies())
	add(c.TLS.validate())
	add(c.Session.validate())
	add(c.Directory.Validate("directory"))
	add(c.Network.Validate("network"))
	add(validateProviders(c.Providers, c.PublicURLParsed))
	ids := make([]string, len(c.Providers))
	for i, p := range c.Providers {
		ids[i] = p.ID
	}
	add(c.Policy.CheckMethods("policy", ids))
	if c.Policy.MFAMethodAllowed("email") && len(c.Policy.MFA.Methods) > 0 && !c.Email.Enabled() {
		add(errors.New("policy.mfa.methods: email codes are sent through email.smtp; configure it, or drop email from the list"))
	}
	if c.Policy.MFAMethodAllowed("sms") && !c.SMS.Enabled() {
		add(errors.New("policy.mfa.methods: SMS codes are sent through sms.webhook; configure it (or sms.log in development), or drop sms from the list"))
	}
	if c.Policy.MFAMethodAllowed("webauthn") && c.PublicURLParsed != nil {
		if host := c.PublicURLParsed.Hostname(); net.ParseIP(host) != nil {
			add(fmt.Errorf("policy.mfa.methods: passkeys are bound to public_url's host and browsers refuse an IP address (%s) there; set public_url to a DNS name (or http://localhost:PORT to try it), or drop webauthn from the list", host))
		}
	}
	if c.Policy.Methods[policy.PasswordReset] && !c.Email.Enabled() {
		add(errors.New("policy.methods.password_reset: the reset link is sent by email; configure email.smtp (host, from, and username/password_file if the relay asks for a login), or turn password_reset off"))
	}
	if c.Directory.Driver == "postgres" && c.Secrets.KeyFile == DefaultKeyFile {
		add(fmt.Errorf("secrets.key_file: set a key file every replica shares when directory.driver is \"postgres\" (replicas that each made their own key could not read each other's TOTP seeds); create one with: printf 'k1 %%s\\n' \"$(head -c32 /dev/urandom | base64)\" > FILE && chmod 600 FILE"))
	}
	add(c.Login.validate())
	add(c.Access.validate())
	add(c.ForwardAuth.validate(len(c.TrustedProxies) > 0))
	add(c.Mobile.Validate("mobile"))
	if d := c.Shutdown.DrainDelay; d < 0 || d > 5*time.Minute {
		add(fmt.Errorf("shutdown.drain_delay: must be between 0s and 5m, got %s", d))
	}
	if d := c.Shutdown.Timeout; d < time.Second || d > 10*time.Minute {
		add(fmt.Errorf("shutdown.timeout: must be between 1s and 10m, got %s", d))
	}
	add(c.Log.validate())
	add(c.Branding.Validate("branding"))
	add(c.Policy.Validate("policy"))
	return errors.Join(errs...)
}

// development reports whether the gateway runs as a developer's: public
// URL on plain http to this machine's loopback.
func (c *Config) development() bool {
	u := c.PublicURLParsed
	if u == nil || u.Scheme != "http" {
		return false
	}
	return auth.LoopbackHost(u.Hostname())
}

// Warnings lists what is allowed but worth a log line at start. It reads
// the derived fields, so call it after Validate (Load does).
func (c *Config) Warnings() []string {
	var w []string
	if c.DevInsecureCookies {
		w = append(w, "public_url is plain http: cookies are sent without Secure and without the __Host- prefix; use only for local development")
	}
	if u := c.PublicURLParsed; u != nil && u.String() != strings.TrimSuffix(c.PublicURL, "/") {
		w = append(w, fmt.Sprintf("public_url %q is used as %q, the origin browsers send: identity providers must have redirect and ACS URLs under that form", c.PublicURL, u.String()))
	}
	if c.Session.Store == StoreMemory {
		w = append(w, `session.store is "memory": sessions are lost on restart and not shared between replicas`)
	}
	n := c.Network
	if c.Policy.Network.BlockTor != "off" && n.TorExitList.File == "" && n.TorExitList.URL == "" {
		w = append(w, fmt.Sprintf("policy.network.block_tor is %q but network.tor_exit_list has no file or url: Tor exits are not blocked", c.Policy.Network.BlockTor))
	}
	if len(c.Policy.Network.BlockAnonymous) > 0 && n.AnonymousIPDB.File == "" {
		w = append(w, "policy.network.block_anonymous is set but network.anonymous_ip_db.file is empty: anonymizers are not blocked")
	}
	for i, p := range c.TrustedProxyPrefixes {
		if p.Bits() == 0 {
			w = append(w, fmt.Sprintf("trusted_proxies[%d]: %s trusts every peer, so any client can choose its own IP with X-Forwarded-For", i, p))
		}
	}
	return append(w, c.trustedProxiesInAllowlists()...)
}

// trustedProxiesInAllowlists warns of each trusted proxy range that
// overlaps an allowlist of the config's policy: a client inside
// trusted_proxies chooses its own address with X-Forwarded-For, so it can
// claim one the allowlist admits. Only load balancers belong in
// trusted_proxies, and they should not be where allowed users are. (The
// policy in force may since have been changed in the directory; this
// judges the one the config seeds.)
func (c *Config) trustedProxiesInAllowlists() []string {
	type allowlist struct {
		key     string
		entries policy.AllowList
	}
	lists := []allowlist{{"policy.network.allow", c.Policy.Network.Allow}}
	for _, role := range slices.Sorted(maps.Keys(c.Policy.Network.AllowRoles)) {
		lists = append(lists, allowlist{"policy.network.allow_roles." + role, c.Policy.Network.AllowRoles[role]})
	}
	var w []string
	for i, trusted := range c.TrustedProxyPrefixes {
		if trusted.Bits() == 0 {
			continue // warned about above, more strongly
		}
		for _, l := range lists {
			for j, e := range l.entries {
				allowed, err := policy.ParsePrefix(e.CIDR)
				if err != nil || !trusted.Overlaps(allowed) {
					continue
				}
				what := allowed.String()
				if e.Description != "" {
					what += ", " + e.Description
				}
				w = append(w, fmt.Sprintf("trusted_proxies[%d]: %s overlaps %s[%d] (%s): a client inside it can set X-Forwarded-For to an address the allowlist admits; list only your load balancers' addresses in trusted_proxies", i, trusted, l.key, j, what))
			}
		}
	}
	return w
}

func checkHostPort(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port; use e.g. 127.0.0.1:8080 or :8080", key, addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		return fmt.Errorf("%s: port %q must be a number 0..65535", key, port)
	}
	return nil
}

func (c *Config) parsePublicURL() error {
	c.PublicURLParsed, c.DevInsecureCookies = nil, false
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "":
		return fmt.Errorf("public_url: %q must be an absolute http(s) URL such as https://crm.example.com", c.PublicURL)
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("public_url: path %q is not supported; the gateway owns the whole origin, so give only scheme and host", u.Path)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("public_url: remove the query, fragment or user info; give only scheme, host and port")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if a, err := netip.ParseAddr(host); err == nil {
		// An IP as the browser writes it ([0:0::1] is [::1]); a zone or
		// an IPv4-mapped address has no form browsers and this agree on.
		if a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("public_url: host %q: give a plain IPv4 or IPv6 address, or a DNS name", u.Hostname())
		}
		host = a.String()
	}
	for _, r := range host {
		if r > 0x7f {
			return fmt.Errorf("public_url: host %q must be written in ASCII; give the punycode form (xn--…) browsers send as the origin", u.Hostname())
		}
	}
	// The origin as a browser serializes it (lower-case host, the port as
	// a plain number, no default port): passkeys compare their origin and
	// relying party id with it byte for byte, so https://CRM.example.com:443
	// would refuse every passkey; redirect and ACS URLs are made from it.
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("public_url: port %q must be a number 1..65535", port)
		}
		port = strconv.FormatUint(n, 10)
	}
	if u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
		port = ""
	}
	switch {
	case port != "":
		u.Host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
	u.Path = ""
	c.PublicURLParsed, c.DevInsecureCookies = u, u.Scheme == "http"
	return nil
}

func (c *Config) parseUpstream() error {
	c.UpstreamURL = nil
	if c.Upstream == DemoUpstream {
		return nil
	}
	u, err := url.Parse(c.Upstream)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "":
		return fmt.Errorf("upstream: %q must be \"demo\" or an absolute http(s) URL such as http://crm.internal:8000", c.Upstream)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("upstream: remove the query, fragment or user info; the proxy does not send them")
	}
	c.UpstreamURL = u
	return nil
}

func (c *Config) parseTrustedProxies() error {
	c.TrustedProxyPrefixes = nil
	var errs []error
	for i, s := range c.TrustedProxies {
		p, err := policy.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted_proxies[%d]: %w; use a CIDR such as 10.0.0.0/8 or a single IP", i, err))
			continue
		}
		c.TrustedProxyPrefixes = append(c.TrustedProxyPrefixes, p)
	}
	if errs != nil {
		c.TrustedProxyPrefixes = nil
	}
	return errors.Join(errs...)
}

func (t TLS) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: set both cert_file and key_file to serve HTTPS, or neither when TLS is terminated in front")
	}
	return nil
}

func (s *Session) validate() error {
	var errs []error
	switch s.Store {
	case StoreMemory:
	case StoreRedis:
		if err := s.Redis.Validate("session.redis"); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("session.store: must be %q or %q, got %q", StoreMemory, StoreRedis, s.Store))
	}
	if s.CacheTTL < 0 || s.CacheTTL > maxCacheTTL {
		errs = append(errs, fmt.Errorf("session.cache_ttl: must be 0s..%s (0s turns the local cache off), got %s", maxCacheTTL, s.CacheTTL))
	}
	errs = append(errs, checkRange("session.touch_fraction", s.TouchFraction, 2, 1000))
	return errors.Join(errs...)
}

func (l Login) validate() error {
	errs := []error{
		checkRange("login.max_concurrent_hashes", l.MaxConcurrentHashes, 1, 64),
		checkRange("login.account_attempts", l.AccountAttempts, 1, 1000),
		checkRange("login.ip_attempts", l.IPAttempts, 1, 100000),
	}
	if l.LockoutWindow < time.Minute || l.LockoutWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("login.lockout_window: must be 1m..24h, got %s", l.LockoutWindow))
	}
	return errors.Join(errs...)
}

func (l Log) validate() error {
	var errs []error
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: must be debug, info, warn or error, got %q", l.Level))
	}
	if l.Format != "text" && l.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: must be text or json, got %q", l.Format))
	}
	if l.AuditRetention != 0 && l.AuditRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("log.audit_retention: must be 0 (keep every event) or at least 24h, got %s", l.AuditRetention))
	}
	return errors.Join(errs...)
}

func checkRange(key string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: must be %d..%d, got %d", key, lo, hi, v)
	}
	return nil
}

// minServiceToken is the shortest service token accepted: 32 characters
// of a random token carry well over 128 bits.
const minServiceToken = 32

func (a *Access) validate() error {
	if a.ServiceTokenFile == "" {
		return nil
	}
	// The token answers for any user: the key file's mode rule
	// (auth/secret), which also lets a root-owned Kubernetes Secret be
	// 0640 for the service's group.
	b, err := secret.ReadPrivateFile(a.ServiceTokenFile)
	if err != nil {
		return fmt.Errorf("access.service_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minServiceToken || strings.ContainsAny(tok, " \t\r\n") {
		return fmt.Errorf("access.service_token_file: the token must be one line of at least %d characters without spaces; make one with: head -c32 /dev/urandom | base64 > FILE", minServiceToken)
	}
	a.ServiceToken = tok
	return nil
}
