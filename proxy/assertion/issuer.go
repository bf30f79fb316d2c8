package assertion

import (
	"context"
	"crypto/ecdsa"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/signing"
)

// Issuer signs assertions with the signing key ring's current key and
// caches one signed token per session until it nears expiry, so the hot
// path signs once per session rather than once per request.
type Issuer struct {
	ring   *signing.Ring
	issuer string
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	token  string
	expiry time.Time
	gen    uint64
}

// NewIssuer returns an Issuer whose tokens name issuer and live ttl.
func NewIssuer(ring *signing.Ring, issuer string, ttl time.Duration, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{ring: ring, issuer: issuer, ttl: ttl, now: now, cache: map[string]cachedToken{}}
}

// Reload re-reads the keys; tokens signed by a key that no longer signs
// are dropped from the cache.
func (is *Issuer) Reload(ctx context.Context) error {
	changed, err := is.ring.Reload(ctx)
	if err != nil {
		return err
	}
	if changed {
		is.mu.Lock()
		clear(is.cache)
		is.mu.Unlock()
	}
	return nil
}

// JWKS returns the JSON Web Key Set of the active keys.
func (is *Issuer) JWKS() []byte { return is.ring.JWKS() }

// PublicKeys returns the active keys by kid (for in-process verification).
func (is *Issuer) PublicKeys() map[string]*ecdsa.PublicKey { return is.ring.PublicKeys() }

// Issuer returns the "iss" of every token.
func (is *Issuer) Issuer() string { return is.issuer }

// Token returns a valid token for session sid, signing only when the
// cached one has less than a fifth of its lifetime left or was made under
// another generation gen of what fill reads (the access table: a changed
// template must reach the upstream at the next request, not at expiry).
func (is *Issuer) Token(sid string, gen uint64, fill func(*Claims)) (string, error) {
	now := is.now()
	is.mu.Lock()
	c, ok := is.cache[sid]
	is.mu.Unlock()
	if ok && c.gen == gen && c.expiry.Sub(now) > is.ttl/5 {
		return c.token, nil
	}
	kid, key := is.ring.Signer()
	claims := &Claims{Issuer: is.issuer, Audience: Audience, Session: sid,
		IssuedAt: now.Unix(), NotBefore: now.Unix() - 1, Expiry: now.Add(is.ttl).Unix()}
	fill(claims)
	tok, err := Sign(key, kid, claims)
	if err != nil {
		return "", err
	}
	is.mu.Lock()
	is.cache[sid] = cachedToken{token: tok, expiry: now.Add(is.ttl), gen: gen}
	is.mu.Unlock()
	return tok, nil
}

// Forget drops a session's token (logout, revocation).
func (is *Issuer) Forget(sid string) {
	is.mu.Lock()
	delete(is.cache, sid)
	is.mu.Unlock()
}

// Sweep drops expired tokens; the server calls it periodically.
func (is *Issuer) Sweep() {
	now := is.now()
	is.mu.Lock()
	for sid, c := range is.cache {
		if !c.expiry.After(now) {
			delete(is.cache, sid)
		}
	}
	is.mu.Unlock()
}
