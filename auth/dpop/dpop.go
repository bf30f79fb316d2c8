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
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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

	keys sync.Map // raw JWK JSON → *jwkEntry
}

type jwkEntry struct {
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

// Verify checks proof for a request with method and target URL (the
// request as the client addressed it: scheme, host and path), and, when
// accessToken is not empty, that the proof's ath is that token's hash.
func (v *Verifier) Verify(ctx context.Context, proof, method, target, accessToken string) (Proof, error) {
	if proof == "" || len(proof) > maxProof || strings.Count(proof, ".") != 2 {
		return Proof{}, invalid("not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(proof, Algorithms)
	if err != nil {
		return Proof{}, invalid("%v", err)
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, invalid("one signature expected")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return Proof{}, invalid("typ must be dpop+jwt")
	}
	if h.JSONWebKey == nil {
		return Proof{}, invalid("the header carries no jwk")
	}
	if !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return Proof{}, invalid("the jwk must be a valid public key (private members refused)")
	}
	if h.KeyID != "" || len(h.JSONWebKey.Certificates) > 0 {
		// Only the embedded key counts; no kid or chain to confuse a verifier.
		return Proof{}, invalid("kid and x5c are not allowed")
	}
	// The payload is read before the signature is checked only to refuse
	// cheaply; nothing in it is trusted until Verify below succeeds.
	var c claims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
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
	jkt, err := v.thumbprint(h.JSONWebKey)
	if err != nil {
		return Proof{}, invalid("%v", err)
	}
	if _, err := jws.Verify(h.JSONWebKey); err != nil {
		return Proof{}, invalid("signature: %v", err)
	}
	// Single use, keyed by the key too, so two clients' jti cannot
	// collide; remembered for twice the window, longer than any iat can
	// keep a proof acceptable.
	fresh, err := v.Replay.PutOnce(ctx, "dpop:jti:"+jkt+":"+c.JTI, nil, 2*v.Window)
	if err != nil {
		return Proof{}, fmt.Errorf("dpop: replay cache: %w", err)
	}
	if !fresh {
		return Proof{}, invalid("jti was used before (replay)")
	}
	return Proof{JKT: jkt, JTI: c.JTI, IAT: iat}, nil
}

// thumbprint returns the key's RFC 7638 thumbprint, remembered per key so
// a device's every request does not hash its key again.
func (v *Verifier) thumbprint(k *jose.JSONWebKey) (string, error) {
	raw, err := k.MarshalJSON()
	if err != nil {
		return "", err
	}
	if e, ok := v.keys.Load(string(raw)); ok {
		return e.(*jwkEntry).thumbprint, nil
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	e := &jwkEntry{thumbprint: base64.RawURLEncoding.EncodeToString(tp)}
	v.keys.Store(string(raw), e)
	return e.thumbprint, nil
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
