package assertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// Issuer signs assertions with the newest active key kept in the
// directory, publishes every active key as a JWKS, and caches one signed
// token per session until it nears expiry.
type Issuer struct {
	keys   directory.Keys
	issuer string
	ttl    time.Duration
	now    func() time.Time

	ring atomic.Pointer[keyring]

	mu    sync.Mutex
	cache map[string]cachedToken
}

type keyring struct {
	kid    string
	signer *ecdsa.PrivateKey
	public map[string]*ecdsa.PublicKey
	jwks   []byte
}

type cachedToken struct {
	token  string
	expiry time.Time
}

// NewIssuer returns an Issuer whose tokens name issuer and live ttl.
func NewIssuer(keys directory.Keys, issuer string, ttl time.Duration, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: keys, issuer: issuer, ttl: ttl, now: now, cache: map[string]cachedToken{}}
}

// ActivationDelay is how long a new key is published before it signs:
// longer than the JWKS cache lifetime (max-age=300) and the replicas' key
// reload interval together.
const ActivationDelay = 6 * time.Minute

// GenerateKey creates a P-256 key and stores it; the next Reload makes it
// the signing key. Older keys stay published until retired, so tokens
// already issued keep verifying.
func GenerateKey(ctx context.Context, keys directory.Keys, now time.Time) (directory.SigningKey, error) {
	sk, err := newSigningKey(now)
	if err != nil {
		return sk, err
	}
	return sk, keys.AddSigningKey(ctx, sk)
}

func newSigningKey(now time.Time) (directory.SigningKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return directory.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return directory.SigningKey{}, err
	}
	return directory.SigningKey{KID: thumbprint(&k.PublicKey), Alg: "ES256", Private: der, CreatedAt: now.UTC()}, nil
}

// Reload reads the keys from the directory, generating the first one when
// there is none.
func (is *Issuer) Reload(ctx context.Context) error {
	stored, err := is.keys.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if !hasActive(stored) {
		// Only one of several replicas starting together stores its key;
		// the others get ErrConflict and read that one.
		sk, err := newSigningKey(is.now())
		if err != nil {
			return fmt.Errorf("create signing key: %w", err)
		}
		if err := is.keys.AddFirstSigningKey(ctx, sk); err != nil && !errors.Is(err, directory.ErrConflict) {
			return fmt.Errorf("create signing key: %w", err)
		}
		if stored, err = is.keys.SigningKeys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
	}
	ring := &keyring{public: map[string]*ecdsa.PublicKey{}}
	var set jwkSet
	now := is.now()
	for _, sk := range stored { // oldest first
		if sk.Retired || sk.Alg != "ES256" {
			continue
		}
		parsed, err := x509.ParsePKCS8PrivateKey(sk.Private)
		priv, ok := parsed.(*ecdsa.PrivateKey)
		// The curve check keeps a P-384 key stored under "ES256" from
		// reaching coords, which panics on anything but P-256.
		if err != nil || !ok || priv.Curve != elliptic.P256() {
			return fmt.Errorf("signing key %s: not a P-256 ECDSA PKCS#8 key", sk.KID)
		}
		ring.public[sk.KID] = &priv.PublicKey
		set.Keys = append(set.Keys, jwkOf(sk.KID, &priv.PublicKey))
		// Publish before use: a key signs only once it has been in the
		// JWKS for ActivationDelay, so every replica and every upstream
		// cache has had time to see it. The oldest key signs until then,
		// which also makes replicas that created keys at the same first
		// start agree on one.
		if ring.signer == nil || !sk.CreatedAt.Add(ActivationDelay).After(now) {
			ring.kid, ring.signer = sk.KID, priv
		}
	}
	if ring.jwks, err = json.Marshal(set); err != nil {
		return err
	}
	if old := is.ring.Swap(ring); old == nil || old.kid != ring.kid {
		is.mu.Lock()
		clear(is.cache)
		is.mu.Unlock()
	}
	return nil
}

// hasActive reports whether a key this issuer can sign with exists; keys
// of another algorithm do not count, or Reload would leave no signer.
func hasActive(keys []directory.SigningKey) bool {
	for _, k := range keys {
		if !k.Retired && k.Alg == "ES256" {
			return true
		}
	}
	return false
}

// JWKS returns the JSON Web Key Set of the active keys.
func (is *Issuer) JWKS() []byte { return is.ring.Load().jwks }

// PublicKeys returns the active keys by kid (for in-process verification).
func (is *Issuer) PublicKeys() map[string]*ecdsa.PublicKey { return is.ring.Load().public }

// Issuer returns the "iss" of every token.
func (is *Issuer) Issuer() string { return is.issuer }

// Token returns a valid token for session sid, signing only when the
// cached one has less than a fifth of its lifetime left.
func (is *Issuer) Token(sid string, fill func(*Claims)) (string, error) {
	now := is.now()
	is.mu.Lock()
	c, ok := is.cache[sid]
	is.mu.Unlock()
	if ok && c.expiry.Sub(now) > is.ttl/5 {
		return c.token, nil
	}
	ring := is.ring.Load()
	claims := &Claims{Issuer: is.issuer, Audience: Audience, Session: sid,
		IssuedAt: now.Unix(), NotBefore: now.Unix() - 1, Expiry: now.Add(is.ttl).Unix()}
	fill(claims)
	tok, err := Sign(ring.signer, ring.kid, claims)
	if err != nil {
		return "", err
	}
	is.mu.Lock()
	is.cache[sid] = cachedToken{token: tok, expiry: now.Add(is.ttl)}
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

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func jwkOf(kid string, pub *ecdsa.PublicKey) jwk {
	x, y := coords(pub)
	b64 := base64.RawURLEncoding
	return jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(x), Y: b64.EncodeToString(y), Kid: kid, Alg: "ES256", Use: "sig"}
}

// ParseJWKS turns a JWKS document into verification keys, accepting only
// P-256 EC keys.
func ParseJWKS(data []byte) (map[string]*ecdsa.PublicKey, error) {
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	out := map[string]*ecdsa.PublicKey{}
	b64 := base64.RawURLEncoding
	for _, k := range set.Keys {
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		if k.Kty != "EC" || k.Crv != "P-256" || err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			continue
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			continue // not on the curve
		}
		out[k.Kid] = pub
	}
	return out, nil
}

func coords(pub *ecdsa.PublicKey) (x, y []byte) {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(raw) != 65 {
		panic("assertion: not a P-256 public key") // keys are parsed and checked on load
	}
	return raw[1:33], raw[33:]
}

// thumbprint is the RFC 7638 JWK thumbprint, used as kid.
func thumbprint(pub *ecdsa.PublicKey) string {
	x, y := coords(pub)
	b64 := base64.RawURLEncoding
	canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(x), b64.EncodeToString(y))
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}
