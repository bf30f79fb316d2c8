// Package assertion issues and verifies X-Gatehouse-Assertion: a short-lived
// ES256 JWT stating who the request is, so an upstream can check the
// identity headers came from the gateway rather than trust the network.
// Signing costs tens of microseconds, so a token is signed once per session
// and reused until it nears expiry (Issuer.Token); the keys themselves
// are auth/signing's.
package assertion

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Claims is the assertion payload. Registered claim names follow RFC 7519;
// the rest mirror the X-Gatehouse-* headers.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"` // user id
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	Username  string   `json:"preferred_username"`
	Email     string   `json:"email,omitempty"`
	Role      string   `json:"role"`
	Groups    []string `json:"groups"`
	Methods   []string `json:"amr"`
	Session   string   `json:"sid"`
	// Perms is the caller's permission template and its features.
	Perms *Perms `json:"perms,omitempty"`
	// KeyID is the "kid" the token was verified with (not a claim).
	KeyID string `json:"-"`
}

// Perms is the "perms" claim.
type Perms struct {
	Template string   `json:"template"`
	Features []string `json:"features"`
}

// Audience is the fixed "aud" of every assertion, so a token minted for
// the upstream cannot be mistaken for some other kind of JWT.
const Audience = "gatehouse-upstream"

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// Sign returns the compact JWS of c signed by key under kid.
func Sign(key *ecdsa.PrivateKey, kid string, c *Claims) (string, error) {
	h, err := json.Marshal(header{Alg: "ES256", Typ: "JWT", Kid: kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64.EncodeToString(sig), nil
}

// Errors from Verify.
var (
	ErrMalformed  = errors.New("assertion: malformed")
	ErrSignature  = errors.New("assertion: bad signature")
	ErrExpired    = errors.New("assertion: expired or not yet valid")
	ErrUnknownKey = errors.New("assertion: unknown key id")
)

// Verify checks a token against the public keys by kid (from the JWKS),
// allowing only ES256, and returns its claims when the signature, issuer,
// audience and validity window (with leeway) all hold.
func Verify(token string, keys map[string]*ecdsa.PublicKey, issuer string, now time.Time, leeway time.Duration) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	b64 := base64.RawURLEncoding
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || len(sig) != 64 {
		return nil, ErrMalformed
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg != "ES256" {
		return nil, ErrMalformed
	}
	pub := keys[h.Kid]
	if pub == nil {
		return nil, ErrUnknownKey
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, ErrSignature
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, ErrMalformed
	}
	t := now.Unix()
	if c.Issuer != issuer || c.Audience != Audience {
		return nil, ErrSignature
	}
	if t+int64(leeway/time.Second) < c.NotBefore || t-int64(leeway/time.Second) >= c.Expiry {
		return nil, ErrExpired
	}
	c.KeyID = h.Kid
	return &c, nil
}
