// Package pwcrypt is the login page's password encryption (the policy's
// methods.password_encryption): the gateway's RSA key pair that browsers
// encrypt the password to, and the one-time challenge that makes each
// ciphertext good for one login only.
//
// The page gets a challenge: a random 128-bit nonce, an expiry and the
// key id, authenticated with a MAC of the secrets key ring so any replica
// can check it was issued by the gateway without storing anything when the
// page is served. The browser encrypts JSON {"password", "nonce"} (the
// nonce being the whole challenge) with a fresh AES-256-GCM key and wraps
// that key with RSA-OAEP-SHA-256 under the gateway's public key (the JWE
// construction RSA-OAEP-256 + A256GCM; a bare RSA-OAEP block of a
// 3072-bit key holds 318 bytes, less than the 1024-byte passwords the
// gateway accepts). Open checks, cheapest first: the challenge's shape,
// MAC and expiry, then the key, the decryption and that the ciphertext
// names that same challenge, and only then spends the nonce in the shared
// session store with PutOnce (the SET NX that DPoP's jti replay cache
// uses), so a replayed ciphertext is refused on every replica and nothing
// is consumed by a submission that was refused before.
//
// Private keys are generated on first need, sealed with the secrets key
// ring and stored in the directory's key table beside the signing keys,
// under the algorithm name RSA-OAEP-256 (the signing ring ignores keys of
// another algorithm). Rotate adds a newer key: challenges name their key,
// so the one before keeps decrypting the challenges issued under it until
// they expire, and each replica starts issuing under the new one at its
// next reload.
package pwcrypt

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

const (
	// Alg names the gateway's password keys in the directory's key table.
	Alg = "RSA-OAEP-256"
	// KeyBits is the size of a new key. 3072-bit RSA is rated for use
	// beyond 2030 (NIST SP 800-57 part 1, 128-bit strength) and takes a
	// fraction of a second to generate; 2048 is the floor a stored key
	// must meet.
	KeyBits    = 3072
	minKeyBits = 2048
	// ChallengeTTL is how long a login page's challenge stays good.
	ChallengeTTL = 5 * time.Minute
	// Overlap is how long a key keeps decrypting after a newer one was
	// stored: a challenge's lifetime plus a replica's reload interval,
	// with room to spare. Rotate retires keys replaced longer ago.
	Overlap = 15 * time.Minute
	// ReloadInterval bounds how long a replica issues challenges under a
	// key after another was made the newest.
	ReloadInterval = 30 * time.Second
	// maxPlaintext bounds the decrypted JSON: a 1024-byte password with
	// every byte escaped, and the challenge.
	maxPlaintext = 8 << 10
	// maxCiphertext bounds the field before it is decoded.
	maxCiphertext = 16 << 10
)

// Refused is a submission the gateway will not accept. Reason is a stable
// snake_case word for the audit log; it says nothing about the password.
type Refused struct{ Reason string }

func (e *Refused) Error() string { return "pwcrypt: refused: " + e.Reason }

// The refusals Open answers with; callers tell them apart with errors.Is.
// Any other error is an outage of the directory or the session store.
var (
	ErrMalformed      = &Refused{"malformed"}         // not a challenge or ciphertext at all
	ErrForged         = &Refused{"challenge_forged"}  // the challenge's MAC does not verify
	ErrExpired        = &Refused{"challenge_expired"} // the challenge is too old
	ErrUnknownKey     = &Refused{"unknown_key"}       // no key of that id decrypts any more
	ErrUndecryptable  = &Refused{"undecryptable"}     // altered, or made for another key
	ErrWrongChallenge = &Refused{"wrong_challenge"}   // the ciphertext names another challenge
	ErrReplayed       = &Refused{"challenge_replayed"}
)

// Keyring seals private keys at rest and authenticates challenges
// (auth/secret.Keyring).
type Keyring interface {
	Seal(plaintext, ad []byte) []byte
	Open(sealed, ad []byte) (plaintext []byte, stale bool, err error)
	MAC(purpose string, data []byte) []byte
	VerifyMAC(purpose string, data, mac []byte) bool
}

// Nonces spends a challenge once across replicas: the session store's
// PutOnce (session.Nonces).
type Nonces interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
}

// Options are a Ring's parts.
type Options struct {
	Keys    directory.Keys
	Keyring Keyring
	Nonces  Nonces
	Now     func() time.Time // nil: time.Now
}

// Challenge is what the login page carries.
type Challenge struct {
	// Token is posted back as is; the browser also puts it in the
	// encrypted JSON as "nonce".
	Token string
	KID   string
	// PublicKey is the key's SubjectPublicKeyInfo DER in standard
	// base64, as WebCrypto's importKey("spki") takes it.
	PublicKey string
	Expires   time.Time
}

// Ring holds the password keys as last read from the directory. Safe for
// concurrent use.
type Ring struct {
	o   Options
	mu  sync.Mutex // one load (and first-key generation) at a time
	set atomic.Pointer[keySet]
}

// New returns a Ring; it reads the directory at first use, not here.
func New(o Options) *Ring {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Ring{o: o}
}

// Challenge issues a fresh challenge under the newest key, creating the
// first key when there is none.
func (r *Ring) Challenge(ctx context.Context) (Challenge, error) {
	set, err := r.current(ctx)
	if err != nil {
		return Challenge{}, err
	}
	t := token{kid: set.active.kid, expires: r.o.Now().Add(ChallengeTTL).Unix()}
	rand.Read(t.nonce[:])
	return Challenge{Token: t.encode(r.o.Keyring), KID: t.kid, PublicKey: set.active.spki, Expires: time.Unix(t.expires, 0)}, nil
}

// Open returns the password a browser encrypted for challenge, spending
// the challenge. A submission the gateway refuses is a *Refused (ErrExpired,
// ErrReplayed…); any other error is an outage, and the caller fails closed.
func (r *Ring) Open(ctx context.Context, challenge, ciphertext string) (string, error) {
	t, err := parseToken(challenge, r.o.Keyring)
	if err != nil {
		return "", err
	}
	now := r.o.Now()
	exp := time.Unix(t.expires, 0)
	if !now.Before(exp) {
		return "", ErrExpired
	}
	k, err := r.key(ctx, t.kid)
	if err != nil {
		return "", err
	}
	msg, err := k.decrypt(ciphertext)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(msg.Nonce), []byte(challenge)) != 1 {
		return "", ErrWrongChallenge
	}
	// Remembered a minute past the expiry, so replicas whose clocks
	// differ a little cannot accept it again either.
	fresh, err := r.o.Nonces.PutOnce(ctx, "pwcrypt:"+base64.RawURLEncoding.EncodeToString(t.nonce[:]), nil, exp.Sub(now)+time.Minute)
	if err != nil {
		return "", fmt.Errorf("pwcrypt: spend challenge: %w", err)
	}
	if !fresh {
		return "", ErrReplayed
	}
	return msg.Password, nil
}

// current is the key set, read again when it is older than ReloadInterval.
func (r *Ring) current(ctx context.Context) (*keySet, error) {
	if s := r.set.Load(); s != nil && r.o.Now().Sub(s.loaded) < ReloadInterval {
		return s, nil
	}
	return r.reload(ctx, false)
}

// key finds kid's key, reading the directory again when this replica does
// not know it yet (another one rotated).
func (r *Ring) key(ctx context.Context, kid string) (*key, error) {
	set, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	if k := set.byKID[kid]; k != nil {
		return k, nil
	}
	if set, err = r.reload(ctx, true); err != nil {
		return nil, err
	}
	if k := set.byKID[kid]; k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// message is the browser's plaintext.
type message struct {
	Password string `json:"password"`
	Nonce    string `json:"nonce"`
}

// decrypt opens a ciphertext field: base64url of the RSA-OAEP-wrapped
// AES-256 key (one modulus long), the 12-byte GCM nonce, and the
// AES-GCM ciphertext with its tag.
func (k *key) decrypt(field string) (message, error) {
	if len(field) > maxCiphertext {
		return message{}, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(field)
	n := k.priv.Size()
	if err != nil || len(raw) < n+12+16 {
		return message{}, ErrMalformed
	}
	cek, err := rsa.DecryptOAEP(sha256.New(), nil, k.priv, raw[:n], nil)
	if err != nil || len(cek) != 32 {
		return message{}, ErrUndecryptable
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return message{}, ErrUndecryptable
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return message{}, ErrUndecryptable
	}
	plain, err := gcm.Open(nil, raw[n:n+12], raw[n+12:], nil)
	if err != nil || len(plain) > maxPlaintext {
		return message{}, ErrUndecryptable
	}
	var m message
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || dec.More() {
		return message{}, ErrMalformed
	}
	return m, nil
}

// Encrypt is what the login page's script does (proxy/web/pwcrypt.js), for
// clients and tests: it encrypts password for the challenge.
func Encrypt(c Challenge, password string) (string, error) {
	pub, err := parsePublic(c.PublicKey)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(message{Password: password, Nonce: c.Token})
	if err != nil {
		return "", err
	}
	cek := make([]byte, 32)
	rand.Read(cek)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	iv := make([]byte, gcm.NonceSize())
	rand.Read(iv)
	out := append(append(wrapped, iv...), gcm.Seal(nil, iv, plain, nil)...)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// errNoKey is a directory holding no password key after one was stored.
var errNoKey = errors.New("pwcrypt: no password key in the directory")
