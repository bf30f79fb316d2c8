// Package policy is the login policy: the document admins set (session
// lifetimes, enabled login methods, 2FA and network rules) and the pure
// decisions made from it. It does no I/O and reads no clock: callers pass
// the time, so every decision is a table test away.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-auth/gatehouse/auth/access"
)

// Policy is the document stored, versioned, in the directory. Its YAML form
// is the config's policy: section and the input of `gatehouse policy set`.
type Policy struct {
	Session Session         `yaml:"session"`
	Methods map[string]bool `yaml:"methods,omitempty"`
	MFA     MFA             `yaml:"mfa"`
	Network Network         `yaml:"network"`
	// Access holds the features, role templates and route rules the
	// gateway enforces on every request (auth/access).
	Access access.Config `yaml:"access"`
	// APIKeys says who may use API keys and how fast.
	APIKeys APIKeys `yaml:"api_keys"`
	// Mobile is the mobile app's dynamic tokens (auth/token).
	Mobile Mobile `yaml:"mobile"`
}

// Mobile is the policy of the mobile app's tokens: the product's "Enable
// Dynamic Token for Mobile App". The device's login is a session, so the
// session lifetimes, network rules and revocations apply to it as to a
// browser's.
type Mobile struct {
	// Enabled turns mobile logins on (the default) or off; off refuses
	// new logins and every token at once without revoking devices.
	Enabled *bool `yaml:"enabled,omitempty"`
	// AccessTokenTTL is an access token's lifetime (default 5m).
	AccessTokenTTL time.Duration `yaml:"access_token_ttl"`
	// RefreshGrace is how long a retry of the refresh token just used
	// returns the same new pair instead of revoking the device as a
	// replay (a lost response is not theft); "0s" turns it off. Nil: 10s.
	RefreshGrace *time.Duration `yaml:"refresh_grace,omitempty"`
	// SingleDevice: a login on a second device signs the first out.
	SingleDevice bool `yaml:"single_device"`
	// DPoP is required (every request proves the device key) or
	// refresh_only (only refresh tokens are bound, as Keycloak allows).
	DPoP string `yaml:"dpop"`
	// DPoPNonce makes proofs carry a nonce the gateway supplies (RFC 9449
	// §8), which bounds a proof's life by the gateway's clock, not the
	// device's.
	DPoPNonce bool `yaml:"dpop_nonce"`
}

// MobileEnabled reports whether mobile logins are on.
func (m Mobile) MobileEnabled() bool { return m.Enabled == nil || *m.Enabled }

// Grace is RefreshGrace with its default.
func (m Mobile) Grace() time.Duration {
	if m.RefreshGrace == nil {
		return 10 * time.Second
	}
	return *m.RefreshGrace
}

// APIKeys is the API-key policy.
type APIKeys struct {
	// Enabled turns key authentication on (the default) or off; off
	// refuses every key at once without revoking any.
	Enabled *bool `yaml:"enabled,omitempty"`
	// Roles whose users may own and use keys; empty: every role.
	Roles []string `yaml:"roles,omitempty"`
	// MaxLifetime bounds a key's expiry (and is its default).
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// RateLimit is per key, counted in the session store so it holds
	// across replicas.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// RateLimit allows Requests per Window.
type RateLimit struct {
	Requests int           `yaml:"requests"`
	Window   time.Duration `yaml:"window"`
}

// KeysEnabled reports whether API keys are on.
func (k APIKeys) KeysEnabled() bool { return k.Enabled == nil || *k.Enabled }

// RoleAllowed reports whether users of role may use keys.
func (k APIKeys) RoleAllowed(role string) bool {
	return len(k.Roles) == 0 || slices.Contains(k.Roles, role)
}

// Versioned is a policy with the directory version it was read from.
type Versioned struct {
	Policy  Policy
	Version int64
}

// Session holds the two lifetimes every session is checked against on every
// request; changing them applies to existing sessions.
type Session struct {
	// AbsoluteLifetime is the login expiration: time since login after
	// which the user must log in again, however active.
	AbsoluteLifetime time.Duration `yaml:"absolute_lifetime"`
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// MFA is the second-factor policy (enforced by the 2FA capability).
type MFA struct {
	Mode           string        `yaml:"mode"` // off | optional | required
	RequiredRoles  []string      `yaml:"required_roles,omitempty"`
	Federated      string        `yaml:"federated"` // trust_idp | always
	RememberDevice time.Duration `yaml:"remember_device"`
	// Methods are the second factors users may set up: totp (an
	// authenticator app), email (codes sent to the account's address),
	// sms (codes by text message) and webauthn (passkeys and security
	// keys). Empty means [totp], what every policy before it allowed.
	Methods []string `yaml:"methods,omitempty"`
}

// MFAMethods are the second-factor kinds a policy may allow.
var MFAMethods = []string{"totp", "email", "sms", "webauthn"}

// MFAMethodAllowed reports whether users may set up method (totp, email,
// sms, webauthn).
func (p *Policy) MFAMethodAllowed(method string) bool {
	if len(p.MFA.Methods) == 0 {
		return method == "totp"
	}
	return slices.Contains(p.MFA.Methods, method)
}

// Network is the network-guard policy (enforced by the network guard).
type Network struct {
	// Allow is the organisation's allowlist; AllowRoles, each role's.
	// An entry is a CIDR or {cidr, description} (see AllowEntry).
	Allow      AllowList            `yaml:"allow,omitempty"`
	AllowRoles map[string]AllowList `yaml:"allow_roles,omitempty"`
	// AllowAPI, when set, is the allowlist for API-key requests instead of
	// the organisation's, the role's and the user's lists (programs run
	// from servers, people from offices); the key's own list still applies.
	// Its entries are stored as mappings, as they always were.
	AllowAPI       []AllowEntry `yaml:"allow_api,omitempty"`
	BlockTor       string       `yaml:"block_tor"` // login | all | off
	BlockAnonymous []string     `yaml:"block_anonymous,omitempty"`
}

// Default is the policy a new directory is seeded with when the config has
// no policy section: NIST SP 800-63B AAL2 limits (12 h absolute, 30 min
// idle), password login on, 2FA optional.
func Default() Policy {
	p := Policy{
		Session: Session{AbsoluteLifetime: 12 * time.Hour, IdleTimeout: 30 * time.Minute},
		Methods: map[string]bool{"password": true},
		MFA:     MFA{Mode: "optional", Federated: "trust_idp"},
		Network: Network{BlockTor: "login"},
		// The CRM's own published limit: 25 requests per 5 seconds.
		APIKeys: APIKeys{Enabled: new(true), MaxLifetime: 365 * 24 * time.Hour, RateLimit: RateLimit{Requests: 25, Window: 5 * time.Second}},
		Mobile:  Mobile{Enabled: new(true), AccessTokenTTL: 5 * time.Minute, RefreshGrace: new(10 * time.Second), DPoP: "required"},
	}
	p.Access.SetDefaults()
	return p
}

// SetDefaults fills zero fields from Default, so a partial policy section
// means "the defaults, except…".
func (p *Policy) SetDefaults() {
	d := Default()
	if p.Session.AbsoluteLifetime == 0 {
		p.Session.AbsoluteLifetime = d.Session.AbsoluteLifetime
	}
	if p.Session.IdleTimeout == 0 {
		p.Session.IdleTimeout = d.Session.IdleTimeout
	}
	if p.Methods == nil {
		p.Methods = d.Methods
	}
	if p.MFA.Mode == "" {
		p.MFA.Mode = d.MFA.Mode
	}
	if p.MFA.Federated == "" {
		p.MFA.Federated = d.MFA.Federated
	}
	if p.Network.BlockTor == "" {
		p.Network.BlockTor = d.Network.BlockTor
	}
	if p.APIKeys.Enabled == nil {
		p.APIKeys.Enabled = new(true)
	}
	if p.APIKeys.MaxLifetime == 0 {
		p.APIKeys.MaxLifetime = d.APIKeys.MaxLifetime
	}
	if p.APIKeys.RateLimit.Requests == 0 {
		p.APIKeys.RateLimit.Requests = d.APIKeys.RateLimit.Requests
	}
	if p.APIKeys.RateLimit.Window == 0 {
		p.APIKeys.RateLimit.Window = d.APIKeys.RateLimit.Window
	}
	if p.Mobile.Enabled == nil {
		p.Mobile.Enabled = new(true)
	}
	if p.Mobile.AccessTokenTTL == 0 {
		p.Mobile.AccessTokenTTL = d.Mobile.AccessTokenTTL
	}
	if p.Mobile.RefreshGrace == nil {
		p.Mobile.RefreshGrace = new(*d.Mobile.RefreshGrace)
	}
	if p.Mobile.DPoP == "" {
		p.Mobile.DPoP = d.Mobile.DPoP
	}
	p.Access.SetDefaults()
}

var anonymousFlags = []string{"is_anonymous", "is_anonymous_vpn", "is_public_proxy", "is_tor_exit_node", "is_hosting_provider", "is_residential_proxy"}

// Validate reports every problem with its key path under prefix ("policy").
func (p *Policy) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	s := p.Session
	if s.AbsoluteLifetime < time.Minute {
		bad("session.absolute_lifetime", "must be at least 1m, got %s", s.AbsoluteLifetime)
	}
	if s.IdleTimeout < time.Minute {
		bad("session.idle_timeout", "must be at least 1m, got %s", s.IdleTimeout)
	}
	if s.IdleTimeout > s.AbsoluteLifetime && s.AbsoluteLifetime >= time.Minute {
		bad("session.idle_timeout", "(%s) must not exceed session.absolute_lifetime (%s)", s.IdleTimeout, s.AbsoluteLifetime)
	}
	if !slices.Contains([]string{"off", "optional", "required"}, p.MFA.Mode) {
		bad("mfa.mode", "must be off, optional or required, got %q", p.MFA.Mode)
	}
	if !slices.Contains([]string{"trust_idp", "always"}, p.MFA.Federated) {
		bad("mfa.federated", "must be trust_idp or always, got %q", p.MFA.Federated)
	}
	if p.MFA.RememberDevice < 0 {
		bad("mfa.remember_device", "must not be negative")
	}
	if p.Methods[Passkey] && !p.MFAMethodAllowed("webauthn") {
		bad("methods.passkey", "passwordless login uses the passkeys users register as a second factor; add webauthn to mfa.methods, or turn passkey off")
	}
	for i, m := range p.MFA.Methods {
		switch {
		case !slices.Contains(MFAMethods, m):
			bad(fmt.Sprintf("mfa.methods[%d]", i), "must be one of %s, got %q", strings.Join(MFAMethods, ", "), m)
		case slices.Index(p.MFA.Methods, m) != i:
			bad(fmt.Sprintf("mfa.methods[%d]", i), "%q is listed twice", m)
		}
	}
	validateList("network.allow", p.Network.Allow, bad)
	for _, role := range slices.Sorted(maps.Keys(p.Network.AllowRoles)) {
		validateList("network.allow_roles."+role, p.Network.AllowRoles[role], bad)
	}
	for i, e := range p.Network.AllowAPI {
		if _, err := ParsePrefix(e.CIDR); err != nil {
			bad(fmt.Sprintf("network.allow_api[%d].cidr", i), "%v", err)
		}
		// Only the length, as always: a stored version must keep parsing.
		if n := utf8.RuneCountInString(e.Description); n > MaxDescription {
			bad(fmt.Sprintf("network.allow_api[%d].description", i), "at most %d characters, got %d", MaxDescription, n)
		}
	}
	if !slices.Contains([]string{"login", "all", "off"}, p.Network.BlockTor) {
		bad("network.block_tor", "must be login, all or off, got %q", p.Network.BlockTor)
	}
	for i, f := range p.Network.BlockAnonymous {
		if !slices.Contains(anonymousFlags, f) {
			bad(fmt.Sprintf("network.block_anonymous[%d]", i), "unknown flag %q; one of %v", f, anonymousFlags)
		}
	}
	if err := p.Access.Validate(prefix + ".access"); err != nil {
		errs = append(errs, err)
	}
	k := p.APIKeys
	if k.MaxLifetime < time.Hour || k.MaxLifetime > 10*365*24*time.Hour {
		bad("api_keys.max_lifetime", "must be between 1h and 87600h (10 years), got %s", k.MaxLifetime)
	}
	if k.RateLimit.Requests < 1 {
		bad("api_keys.rate_limit.requests", "must be at least 1, got %d", k.RateLimit.Requests)
	}
	if k.RateLimit.Window < time.Second || k.RateLimit.Window > time.Hour {
		bad("api_keys.rate_limit.window", "must be between 1s and 1h, got %s", k.RateLimit.Window)
	}
	m := p.Mobile
	if m.AccessTokenTTL < 30*time.Second || m.AccessTokenTTL > time.Hour {
		bad("mobile.access_token_ttl", "must be between 30s and 1h, got %s", m.AccessTokenTTL)
	}
	if g := m.Grace(); g < 0 || g > time.Minute {
		bad("mobile.refresh_grace", "must be between 0s (off) and 1m, got %s", g)
	}
	if !slices.Contains([]string{"required", "refresh_only"}, m.DPoP) {
		bad("mobile.dpop", "must be required or refresh_only, got %q", m.DPoP)
	}
	for i, r := range k.Roles {
		if r == "" {
			bad(fmt.Sprintf("api_keys.roles[%d]", i), "is empty")
		}
	}
	return errors.Join(errs...)
}

// CheckMethods reports an error when, with these configured providers,
// nobody could log in: password off and every provider off. It lives
// apart from Validate because the policy alone does not know which
// providers are configured.
func (p *Policy) CheckMethods(prefix string, providerIDs []string) error {
	if p.MethodEnabled("password") || slices.ContainsFunc(providerIDs, p.MethodEnabled) {
		return nil
	}
	return fmt.Errorf("%s.methods: every login method is off; nobody could log in (enable password or a configured provider)", prefix)
}

// MethodEnabled reports whether the login method or provider id is on. A
// method the document does not name is on for configured providers and off
// for password (so an explicit methods: map without password disables it).
// A methods: key that is an option (IsMethodOption) is never a method.
func (p *Policy) MethodEnabled(id string) bool {
	if IsMethodOption(id) {
		return false
	}
	on, named := p.Methods[id]
	if !named {
		return id != "password"
	}
	return on
}

// PasswordEncryption is the methods: key that makes the login page
// encrypt the password in the browser (auth/pwcrypt) and refuse one sent
// in clear.
const PasswordEncryption = "password_encryption"

// PasswordReset is the methods: key that offers "Forgot password?": a
// single-use link emailed to the account (auth/reset). It needs the
// email section configured, and the password method on.
const PasswordReset = "password_reset"

// Passkey is the methods: key that offers "Sign in with a passkey" on
// the login page: a discoverable passkey with user verification logs in
// without a username or password, counting as both factors. Passkeys
// are registered as second factors (mfa.methods lists webauthn); this
// lets them stand alone. Off unless set.
const Passkey = "passkey"

// IsMethodOption reports whether a methods: key sets how a method works
// rather than naming one (password_encryption, password_reset, passkey):
// MethodEnabled never reports it on, and no provider may take it as its
// id.
func IsMethodOption(key string) bool {
	return key == PasswordEncryption || key == PasswordReset || key == Passkey
}

// PasswordlessPasskeys reports whether methods.passkey is on, with the
// passkeys it needs allowed.
func (p *Policy) PasswordlessPasskeys() bool {
	return p.Methods[Passkey] && p.MFAMethodAllowed("webauthn")
}

// EncryptPasswords reports whether methods.password_encryption is on.
func (p *Policy) EncryptPasswords() bool { return p.Methods[PasswordEncryption] }

// SelfServiceReset reports whether methods.password_reset is on, with
// the password method it resets.
func (p *Policy) SelfServiceReset() bool {
	return p.Methods[PasswordReset] && p.MethodEnabled("password")
}

// ParsePrefix accepts a CIDR or a single address (as a /32 or /128), with
// IPv4-mapped IPv6 reduced to IPv4.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	// A "/" here means a CIDR netip refused; ParseAddr would read
	// "fe80::1%eth0/64" as a zone of "eth0/64" and lose the prefix length.
	a, err := netip.ParseAddr(s)
	if err != nil || strings.Contains(s, "/") {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Parse decodes a policy document strictly (unknown keys are errors),
// fills defaults and validates it.
func Parse(doc []byte) (Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	p.SetDefaults()
	if err := p.Validate("policy"); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Marshal renders the policy as the YAML document stored in the directory.
func (p Policy) Marshal() ([]byte, error) {
	return yaml.Marshal(p)
}

// Equal reports whether two policies mean the same thing.
func Equal(a, b Policy) bool {
	x, err1 := a.Marshal()
	y, err2 := b.Marshal()
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
