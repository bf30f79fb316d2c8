// Package saml is the SAML 2.0 login method (ADFS and any SAML IdP) as an
// SP: SP-initiated login with the HTTP-Redirect binding, responses on the
// HTTP-POST binding, verified by crewjam/saml's ServiceProvider (used
// directly, not samlsp, whose stateless JWT session and Domain cookie do
// not fit our session rules).
//
// On top of crewjam it adds what the library leaves to the caller: the
// request id is kept server-side under a random RelayState and consumed
// once; an assertion id is remembered until expiry so a replayed response
// is refused; the audience restriction is mandatory; only one assertion
// per response; a size cap before any parsing; IdP-initiated login off
// unless a provider enables it, and even then only for responses that
// answer no request. StartBound also ties a login to the browser that
// began it (login CSRF). The identity is read only from the assertion
// crewjam returns after verifying it, never from the raw XML.
//
// The package also owns a saml provider's configuration: Section is its
// keys in a providers[] entry, with their defaults and the one validation
// both `check-config` and `serve` run, and Section.Open reads the files
// and builds the provider as an auth.RedirectLogin (subject choice,
// AuthnContext read for IdP MFA, refusals worded for the user, the user
// found by auth/federation).
//
// crewjam keeps its clock tolerances (MaxClockSkew, MaxIssueDelay) and its
// clock (TimeNow) in package-level variables, which cannot differ per
// provider. This package widens the tolerances once, to the most a
// provider may configure, and repeats every time check with each
// provider's own Config.ClockSkew and clock, so two providers with
// different skews each get their own. The connector's clock also drives
// certificate validity and the replay cache; crewjam's outer checks read
// crewsaml.TimeNow (time.Now unless a test pins it).
package saml

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// The sentinels a caller branches on. Every refusal from ACS wraps exactly
// one of them in an *Error; the client should see the same "login failed"
// page for all of them, and the log gets Error.Error().
var (
	// ErrUnsolicited: the response answers no login this gateway started
	// (unknown, expired or already used RelayState) and IdP-initiated login
	// is off for the provider.
	ErrUnsolicited = errors.New("saml: unsolicited response")
	// ErrReplay: the assertion was already used to log in.
	ErrReplay = errors.New("saml: assertion replayed")
	// ErrAudience: the assertion is not restricted to our entity id.
	ErrAudience = errors.New("saml: assertion not for this service provider")
	// ErrInvalidResponse: anything else wrong with the response (signature,
	// issuer, times, InResponseTo, recipient, size, XML shape, IdP status).
	ErrInvalidResponse = errors.New("saml: invalid response")
	// ErrNoIdentity: the verified assertion names nobody (no NameID, UPN or
	// email), or names two people at once in one claim.
	ErrNoIdentity = errors.New("saml: assertion carries no usable identity")
)

// Error is a refused response. Kind is one of the sentinels above; Reason
// is the library's private explanation, kept for the log only. Neither ever
// holds the response XML: crewjam's InvalidResponseError carries the whole
// document in its Response field, so only its PrivateErr is kept.
type Error struct {
	Kind   error
	Reason error
}

func (e *Error) Error() string {
	if e.Reason == nil {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Reason.Error()
}

// Unwrap exposes both, so errors.Is works for the sentinel and for a
// library cause (crewsaml.ErrBadStatus via errors.As, say).
func (e *Error) Unwrap() []error {
	if e.Reason == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Reason}
}

// refuse builds an *Error of kind with a formatted reason.
func refuse(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Reason: fmt.Errorf(format, args...)}
}

// errAudienceMismatch is returned from the audience hook inside crewjam, so
// that a wrong-audience assertion is refused per assertion (and a response
// cannot pair it with another), then recognised again on the way out.
var errAudienceMismatch = errors.New("audience restriction missing or not ours")

// DefaultClockSkew is the leeway on NotBefore/NotOnOrAfter and on the age
// of IssueInstant (on top of 90 s for the browser's trip) when the
// provider sets none. crewjam's own default is 180 s.
const DefaultClockSkew = 90 * time.Second

// maxClockSkew bounds Config.ClockSkew; the replay cache's reasoning
// (maxReplayTTL) assumes it.
const maxClockSkew = 10 * time.Minute

// Config is one SAML provider. URLs are the gateway's public ones:
// https://gw/.gatehouse/saml/{id}/acs and .../metadata.
type Config struct {
	ID                  string // provider id ("adfs")
	EntityID            string // SP entity id; defaults to MetadataURL
	ACSURL, MetadataURL string
	IDPMetadata         []byte // pinned IdP metadata XML
	// PinnedCerts, when set, are the only IdP signing certificates to
	// trust: metadata fetched from a URL must list no other, so a tampered
	// download cannot slip in an attacker's key.
	PinnedCerts []*x509.Certificate
	// AllowSHA1 accepts signatures over SHA-1 (refused by default: SHA-1
	// collisions are practical). Only for IdPs that cannot sign SHA-256.
	AllowSHA1         bool
	SPCert            *x509.Certificate
	SPKey             crypto.Signer // RSA (what ADFS verifies) or ECDSA
	AllowIDPInitiated bool
	// ClockSkew is this provider's leeway on the assertion's times (see
	// the package doc); zero means DefaultClockSkew.
	ClockSkew time.Duration
}

func (c Config) withDefaults() Config {
	if c.EntityID == "" {
		c.EntityID = c.MetadataURL
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("id: required"))
	}
	if _, err := absoluteURL(c.ACSURL); err != nil {
		errs = append(errs, fmt.Errorf("acs url: %w", err))
	}
	if _, err := absoluteURL(c.MetadataURL); err != nil {
		errs = append(errs, fmt.Errorf("metadata url: %w", err))
	}
	if c.SPCert == nil || c.SPKey == nil {
		errs = append(errs, errors.New("sp_cert_file and sp_key_file: both required"))
	} else if !samePublicKey(c.SPCert.PublicKey, c.SPKey.Public()) {
		errs = append(errs, errors.New("sp_cert_file: certificate does not match sp_key_file"))
	}
	if err := checkClockSkew(c.ClockSkew); err != nil {
		errs = append(errs, fmt.Errorf("clock_skew: %w", err))
	}
	return errors.Join(errs...)
}

func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// Connector runs one SAML provider. It is safe for concurrent use.
type Connector struct {
	id                string
	v                 *verifier
	tx                Transactions
	ssoURL            string
	allowIDPInitiated bool
}

// New checks cfg, parses the pinned IdP metadata (refusing metadata with
// no signing certificate or no HTTP-Redirect SSO endpoint) and builds the
// crewjam ServiceProvider. tx keeps pending logins and seen assertion ids;
// in a cluster it must be the shared store (session.Nonces satisfies it).
// now defaults to time.Now.
func New(cfg Config, tx Transactions, now func() time.Time) (*Connector, error) {
	cfg = cfg.withDefaults()
	if now == nil {
		now = time.Now
	}
	if tx == nil {
		return nil, fmt.Errorf("saml provider %q: no transaction store", cfg.ID)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("saml provider %q: %w", cfg.ID, err)
	}
	method, err := signatureMethod(cfg.SPKey)
	if err != nil {
		return nil, fmt.Errorf("saml provider %q: sp_key_file: %w", cfg.ID, err)
	}
	v, err := newVerifier(verifierConfig{
		IDPMetadata: cfg.IDPMetadata, PinnedCerts: cfg.PinnedCerts, AllowSHA1: cfg.AllowSHA1, EntityID: cfg.EntityID, ACSURL: cfg.ACSURL,
		Key: cfg.SPKey, Now: now, Skew: cfg.ClockSkew,
	})
	if err != nil {
		return nil, fmt.Errorf("saml provider %q: %w", cfg.ID, err)
	}
	md, _ := absoluteURL(cfg.MetadataURL) // checked by validate
	v.sp.MetadataURL, v.sp.Certificate, v.sp.SignatureMethod = *md, cfg.SPCert, method
	c := &Connector{id: cfg.ID, v: v, tx: tx, allowIDPInitiated: cfg.AllowIDPInitiated}
	if c.ssoURL = v.sp.GetSSOBindingLocation(crewsaml.HTTPRedirectBinding); c.ssoURL == "" {
		return nil, fmt.Errorf("saml provider %q: idp metadata: no HTTP-Redirect SingleSignOnService", cfg.ID)
	}
	return c, nil
}

// ID is the provider id the connector was configured with.
func (c *Connector) ID() string { return c.id }

// signatureMethod picks how AuthnRequests are signed (the Redirect
// binding's SigAlg); metadata then says AuthnRequestsSigned.
func signatureMethod(k crypto.Signer) (string, error) {
	switch k.(type) {
	case *rsa.PrivateKey:
		return dsig.RSASHA256SignatureMethod, nil
	case *ecdsa.PrivateKey:
		return dsig.ECDSASHA256SignatureMethod, nil
	}
	return "", fmt.Errorf("key type %T: want RSA or ECDSA", k)
}
