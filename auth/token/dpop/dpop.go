// Package dpop verifies DPoP proofs (RFC 9449): the signed JWT a client
// sends with each request to show it holds the private key a token is
// bound to. It checks everything §4.3 asks, cheapest first, so garbage
// costs no signature verification: the shape and header (typ dpop+jwt,
// an asymmetric alg from the allowlist, a public JWK only), the claims
// (htm, htu without query and fragment, iat inside the window, jti, ath
// when a token is presented, the server's nonce when one is required),
// then the signature, then jti single use in the shared store, so a proof
// replayed on another replica is refused too.
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms are the proof signature algorithms accepted: asymmetric
// only (none and HMAC can never prove possession of a key pair).
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.PS256, jose.RS256}

// ErrInvalidProof is wrapped by every refusal; the message says which
// check failed (safe to log: it holds no key or token).
var ErrInvalidProof = errors.New("dpop: invalid proof")

// UseNonceError asks the client to retry with Nonce (error
// "use_dpop_nonce", RFC 9449 §8).
type UseNonceError struct{ Nonce string }

func (e *UseNonceError) Error() string { return "dpop: use_dpop_nonce" }

// Replay remembers jti values; the session store's PutOnce.
type Replay interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
}

// Verifier checks proofs. Safe for concurrent use.
type Verifier struct {
	// Window bounds how far iat may lie from now, either way.
	Window time.Duration
	Replay Replay
	Now    func() time.Time
	// Nonce, when set, returns the nonce a proof must carry now and
	// whether a proof carrying got is still acceptable (the previous
	// nonce during a rotation); nil means nonces are not required.
	Nonce func(got string) (current string, ok bool)

	mu   sync.RWMutex
	keys map[string]*jwkEntry // raw JWK JSON → parsed key
}

type jwkEntry struct {
	pub        any
	thumbprint string
}

// Proof is what a verified proof established.
type Proof struct {
	// JKT is the base64url SHA-256 thumbprint (RFC 7638) of the key: what
	// a bound token's cnf.jkt must equal.
	JKT string
	JTI string
	IAT time.Time
}

type claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	ATH   string `json:"ath"`
	Nonce string `json:"nonce"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidProof, fmt.Sprintf(format, args...))
}

// maxProof bounds the header value (a proof is a few hundred bytes; an
// RSA key makes it about 1.5 KB).
const maxProof = 8 << 10

// header is the proof's JOSE header. Parsed here rather than by go-jose
// so the key can be looked up by its raw JSON and parsed (by go-jose)
// only the first time a device shows it.
type header struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Kid  string          `json:"kid"`
	X5C  json.RawMessage `json:"x5c"`
	Crit json.RawMessage `json:"crit"`
}

// Verify checks proof for a request with method and target URL (the
// request as the client addressed it: scheme, host and path), and, when
// accessToken is not empty, that the proof's ath is that token's hash.
func (v *Verifier) Verify(ctx context.Context, proof, method, target, accessToken string) (Proof, error) {
	if proof == "" || len(proof) > maxProof {
		return Proof{}, invalid("not a compact JWS")
	}
	h64, rest, ok1 := strings.Cut(proof, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return Proof{}, invalid("not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return Proof{}, invalid("header: %v", err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Proof{}, invalid("header: %v", err)
	}
	if h.Typ != "dpop+jwt" {
		return Proof{}, invalid("typ must be dpop+jwt")
	}
	if !slices.Contains(Algorithms, jose.SignatureAlgorithm(h.Alg)) {
		return Proof{}, invalid("alg %q is not an accepted asymmetric algorithm", h.Alg)
	}
	if h.Kid != "" || len(h.X5C) > 0 || len(h.Crit) > 0 {
		// Only the embedded key counts; no kid or chain to confuse a verifier.
		return Proof{}, invalid("kid, x5c and crit are not allowed")
	}
	if len(h.JWK) == 0 {
		return Proof{}, invalid("the header carries no jwk")
	}
	k, err := v.key(h.JWK)
	if err != nil {
		return Proof{}, err
	}
	// The claims are read before the signature is checked only to refuse
	// cheaply; nothing in them is trusted until the signature verifies.
	pb, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return Proof{}, invalid("claims: %v", err)
	}
	var c claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return Proof{}, invalid("claims: %v", err)
	}
	if c.JTI == "" || len(c.JTI) > 128 {
		return Proof{}, invalid("jti missing or too long")
	}
	if c.HTM != method {
		return Proof{}, invalid("htm %q does not match the request's method", c.HTM)
	}
	if !sameTarget(c.HTU, target) {
		return Proof{}, invalid("htu does not match the request's URL")
	}
	if c.IAT == nil {
		return Proof{}, invalid("iat missing")
	}
	now := v.Now()
	iat := time.Unix(*c.IAT, 0)
	if d := now.Sub(iat); d > v.Window || d < -v.Window {
		return Proof{}, invalid("iat is outside the %s window", v.Window)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if c.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return Proof{}, invalid("ath does not match the access token")
		}
	}
	if v.Nonce != nil {
		if cur, ok := v.Nonce(c.Nonce); !ok {
			return Proof{}, &UseNonceError{Nonce: cur}
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		return Proof{}, invalid("signature: %v", err)
	}
	if err := verifySignature(jose.SignatureAlgorithm(h.Alg), k.pub, proof[:len(h64)+1+len(p64)], sig); err != nil {
		return Proof{}, err
	}
	// Single use, keyed by the key too, so two clients' jti cannot
	// collide; remembered for twice the window, longer than any iat can
	// keep a proof acceptable.
	fresh, err := v.Replay.PutOnce(ctx, "dpop:jti:"+k.thumbprint+":"+c.JTI, nil, 2*v.Window)
	if err != nil {
		return Proof{}, fmt.Errorf("dpop: replay cache: %w", err)
	}
	if !fresh {
		return Proof{}, invalid("jti was used before (replay)")
	}
	return Proof{JKT: k.thumbprint, JTI: c.JTI, IAT: iat}, nil
}

// maxKeys bounds the key cache; past it the cache starts over.
const maxKeys = 100000

// key returns the parsed public key and its thumbprint for a header's
// raw jwk, parsing with go-jose the first time.
func (v *Verifier) key(raw []byte) (*jwkEntry, error) {
	v.mu.RLock()
	e := v.keys[string(raw)]
	v.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return nil, invalid("jwk: %v", err)
	}
	if !k.IsPublic() || !k.Valid() {
		return nil, invalid("the jwk must be a valid public key (private members refused)")
	}
	if k.KeyID != "" || len(k.Certificates) > 0 {
		return nil, invalid("the jwk must not carry kid or x5c")
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("jwk: %v", err)
	}
	e = &jwkEntry{pub: k.Key, thumbprint: base64.RawURLEncoding.EncodeToString(tp)}
	v.mu.Lock()
	if v.keys == nil || len(v.keys) >= maxKeys {
		v.keys = map[string]*jwkEntry{}
	}
	v.keys[string(raw)] = e
	v.mu.Unlock()
	return e, nil
}

// verifySignature checks a JWS signature over input with pub for alg; the
// key's type (and curve) must be the algorithm's.
func verifySignature(alg jose.SignatureAlgorithm, pub any, input string, sig []byte) error {
	bad := invalid("signature does not verify")
	hashed := func(h crypto.Hash) []byte {
		d := h.New()
		d.Write([]byte(input))
		return d.Sum(nil)
	}
	switch alg {
	case jose.ES256, jose.ES384, jose.ES512:
		k, ok := pub.(*ecdsa.PublicKey)
		want := map[jose.SignatureAlgorithm]struct {
			curve elliptic.Curve
			hash  crypto.Hash
		}{jose.ES256: {elliptic.P256(), crypto.SHA256}, jose.ES384: {elliptic.P384(), crypto.SHA384}, jose.ES512: {elliptic.P521(), crypto.SHA512}}[alg]
		if !ok || k.Curve != want.curve {
			return invalid("alg %s does not fit the jwk", alg)
		}
		size := (want.curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return bad
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, hashed(want.hash), r, s) {
			return bad
		}
	case jose.EdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return invalid("alg %s does not fit the jwk", alg)
		}
		if !ed25519.Verify(k, []byte(input), sig) {
			return bad
		}
	case jose.RS256, jose.PS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k.N.BitLen() < 2048 {
			return invalid("alg %s needs an RSA key of at least 2048 bits", alg)
		}
		var err error
		if alg == jose.RS256 {
			err = rsa.VerifyPKCS1v15(k, crypto.SHA256, hashed(crypto.SHA256), sig)
		} else {
			err = rsa.VerifyPSS(k, crypto.SHA256, hashed(crypto.SHA256), sig, nil)
		}
		if err != nil {
			return bad
		}
	default:
		return invalid("alg %q is not accepted", alg)
	}
	return nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public key, as
// cnf.jkt carries it.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	pub := k.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// sameTarget compares htu with the request URL per RFC 9449 §4.3: query
// and fragment ignored, scheme and host case-insensitive, the default port
// implied.
func sameTarget(htu, target string) bool {
	a, err1 := url.Parse(htu)
	b, err2 := url.Parse(target)
	if err1 != nil || err2 != nil || a.Scheme == "" || a.Host == "" {
		return false
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b)) && path(a) == path(b)
}

func path(u *url.URL) string {
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Hostname() + ":443"
	case "http":
		return u.Hostname() + ":80"
	}
	return u.Host
}
