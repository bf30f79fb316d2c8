// Package signing is the gateway's ES256 key ring: the keys it signs
// identity assertions (and, later, mobile tokens) with, kept in the
// directory, sealed at rest with the secrets key ring, rotated with
// publish-before-use, and published as a JWKS. It lives under auth/ so a
// token service can use it without depending on the HTTP front.
package signing

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
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// ActivationDelay is how long a new key is published before it signs:
// longer than the JWKS cache lifetime (max-age=300) and the replicas' key
// reload interval together.
const ActivationDelay = 6 * time.Minute

// Sealer encrypts private keys at rest (auth/secret.Keyring).
type Sealer interface {
	Seal(plaintext, ad []byte) []byte
	Open(sealed, ad []byte) (plaintext []byte, stale bool, err error)
}

// Ring holds the active keys as last read from the directory. Safe for
// concurrent use; Reload swaps the whole set at once.
type Ring struct {
	keys directory.Keys
	seal Sealer // nil: keys are stored and read unsealed (tests)
	now  func() time.Time
	set  atomic.Pointer[keySet]
	// Unsealed lists the kids of keys found stored in clear (written by a
	// version before keys were sealed), for the operator's attention.
	unsealed atomic.Pointer[[]string]
}

type keySet struct {
	kid    string
	signer *ecdsa.PrivateKey
	public map[string]*ecdsa.PublicKey
	jwks   []byte
}

// New returns a Ring over keys; sealer seals private keys at rest.
func New(keys directory.Keys, sealer Sealer, now func() time.Time) *Ring {
	if now == nil {
		now = time.Now
	}
	return &Ring{keys: keys, seal: sealer, now: now}
}

// additionalData binds a sealed key to its kid, so a sealed key copied
// under another kid does not open.
func additionalData(kid string) []byte { return []byte("gatehouse signing key " + kid) }

// Generate creates a P-256 key, seals it and stores it; the next Reload
// of every replica publishes it, and it signs once ActivationDelay has
// passed. Older keys stay published until retired, so tokens already
// issued keep verifying.
func Generate(ctx context.Context, keys directory.Keys, sealer Sealer, now time.Time) (directory.SigningKey, error) {
	sk, err := newKey(sealer, now)
	if err != nil {
		return sk, err
	}
	return sk, keys.AddSigningKey(ctx, sk)
}

func newKey(sealer Sealer, now time.Time) (directory.SigningKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return directory.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return directory.SigningKey{}, err
	}
	kid := Thumbprint(&k.PublicKey)
	if sealer != nil {
		der = sealer.Seal(der, additionalData(kid))
	}
	return directory.SigningKey{KID: kid, Alg: "ES256", Private: der, CreatedAt: now.UTC()}, nil
}

// Reload reads the keys from the directory, generating the first one when
// there is none. changed reports that the signing key is another one than
// before (token caches must be dropped).
func (r *Ring) Reload(ctx context.Context) (changed bool, err error) {
	stored, err := r.keys.SigningKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("load signing keys: %w", err)
	}
	if !hasActive(stored) {
		// Only one of several replicas starting together stores its key;
		// the others get ErrConflict and read that one.
		sk, err := newKey(r.seal, r.now())
		if err != nil {
			return false, fmt.Errorf("create signing key: %w", err)
		}
		if err := r.keys.AddFirstSigningKey(ctx, sk); err != nil && !errors.Is(err, directory.ErrConflict) {
			return false, fmt.Errorf("create signing key: %w", err)
		}
		if stored, err = r.keys.SigningKeys(ctx); err != nil {
			return false, fmt.Errorf("load signing keys: %w", err)
		}
	}
	set := &keySet{public: map[string]*ecdsa.PublicKey{}}
	var doc jwkSet
	var unsealed []string
	now := r.now()
	for _, sk := range stored { // oldest first
		if sk.Retired && sk.Alg == "ES256" {
			// A retired key neither signs nor is published, but a copy
			// of the database must not yield it either.
			if kid := r.sealRetired(ctx, sk); kid != "" {
				unsealed = append(unsealed, kid)
			}
			continue
		}
		if sk.Retired || sk.Alg != "ES256" {
			continue
		}
		priv, der, reseal, err := r.open(sk)
		if err != nil {
			return false, err
		}
		if reseal {
			// Stored in clear by an older version, or sealed under a key
			// no longer active: seal it again where it is. If that fails
			// the key still works and is reported.
			if err := r.keys.UpdateSigningKey(ctx, sk.KID, r.seal.Seal(der, additionalData(sk.KID))); err != nil {
				unsealed = append(unsealed, sk.KID)
			}
		}
		set.public[sk.KID] = &priv.PublicKey
		doc.Keys = append(doc.Keys, jwkOf(sk.KID, &priv.PublicKey))
		// Publish before use: a key signs only once it has been in the
		// JWKS for ActivationDelay, so every replica and every upstream
		// cache has had time to see it. The oldest key signs until then,
		// which also makes replicas that created keys at the same first
		// start agree on one.
		if set.signer == nil || !sk.CreatedAt.Add(ActivationDelay).After(now) {
			set.kid, set.signer = sk.KID, priv
		}
	}
	if set.jwks, err = json.Marshal(doc); err != nil {
		return false, err
	}
	r.unsealed.Store(&unsealed)
	old := r.set.Swap(set)
	return old == nil || old.kid != set.kid, nil
}

// sealRetired seals a retired key found in clear (or under an old secrets
// key) where it is; it returns the kid when that could not be done.
func (r *Ring) sealRetired(ctx context.Context, sk directory.SigningKey) string {
	if r.seal == nil {
		return ""
	}
	_, der, reseal, err := r.open(sk)
	if err != nil || !reseal {
		return "" // sealed already, or not a key at all: nothing to protect
	}
	if err := r.keys.UpdateSigningKey(ctx, sk.KID, r.seal.Seal(der, additionalData(sk.KID))); err != nil {
		return sk.KID
	}
	return ""
}

// open returns a stored key's private key and its DER; reseal reports a
// key stored unsealed (by a version before sealing) or sealed under a key
// that is no longer the active one, which still works.
func (r *Ring) open(sk directory.SigningKey) (priv *ecdsa.PrivateKey, der []byte, reseal bool, err error) {
	der = sk.Private
	if r.seal != nil {
		if plain, stale, err := r.seal.Open(sk.Private, additionalData(sk.KID)); err == nil {
			der, reseal = plain, stale
		} else {
			reseal = true
		}
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	priv, ok := parsed.(*ecdsa.PrivateKey)
	// The curve check keeps a P-384 key stored under "ES256" from
	// reaching coords, which panics on anything but P-256. A sealed key
	// the key ring cannot open ends here too.
	if err != nil || !ok || priv.Curve != elliptic.P256() {
		return nil, nil, false, fmt.Errorf("signing key %s: not a P-256 ECDSA PKCS#8 key (or sealed under a key no longer in secrets.key_file)", sk.KID)
	}
	return priv, der, reseal, nil
}

// hasActive reports whether a key the ring can sign with exists; keys of
// another algorithm do not count, or Reload would leave no signer.
func hasActive(keys []directory.SigningKey) bool {
	for _, k := range keys {
		if !k.Retired && k.Alg == "ES256" {
			return true
		}
	}
	return false
}

// Signer returns the key that signs now and its kid.
func (r *Ring) Signer() (kid string, key *ecdsa.PrivateKey) {
	s := r.set.Load()
	return s.kid, s.signer
}

// JWKS returns the JSON Web Key Set of the active keys.
func (r *Ring) JWKS() []byte { return r.set.Load().jwks }

// PublicKeys returns the active keys by kid (for in-process verification).
func (r *Ring) PublicKeys() map[string]*ecdsa.PublicKey { return r.set.Load().public }

// Unsealed lists the kids of active keys found in clear (or under an old
// key) that could not be sealed again in place; `gatehouse keys rotate`
// and then `keys retire` replaces them.
func (r *Ring) Unsealed() []string {
	if p := r.unsealed.Load(); p != nil {
		return *p
	}
	return nil
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
		panic("signing: not a P-256 public key") // keys are parsed and checked on load
	}
	return raw[1:33], raw[33:]
}

// Thumbprint is the RFC 7638 JWK thumbprint, used as kid.
func Thumbprint(pub *ecdsa.PublicKey) string {
	x, y := coords(pub)
	b64 := base64.RawURLEncoding
	canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(x), b64.EncodeToString(y))
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}
