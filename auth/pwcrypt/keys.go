package pwcrypt

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// keySet is the keys one load found: the newest issues challenges, each
// decrypts the challenges issued under it.
type keySet struct {
	active *key
	byKID  map[string]*key
	loaded time.Time
}

type key struct {
	kid  string
	priv *rsa.PrivateKey
	spki string // standard base64 DER
}

// additionalData binds a sealed key to its kid, so a sealed key copied
// under another kid does not open.
func additionalData(kid string) []byte { return []byte("gatehouse password key " + kid) }

// reload reads the keys from the directory, storing the first one when
// there is none. Unless force is set, a load that another caller finished
// while this one waited is used as it is.
func (r *Ring) reload(ctx context.Context, force bool) (*keySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.set.Load(); s != nil && !force && r.o.Now().Sub(s.loaded) < ReloadInterval {
		return s, nil
	}
	ours, err := r.stored(ctx)
	if err != nil {
		return nil, err
	}
	if len(ours) == 0 {
		// Replicas starting together race here; the directory stores
		// one first key and the others read it.
		sk, err := newKey(r.o.Keyring, r.o.Now())
		if err != nil {
			return nil, err
		}
		if err := r.o.Keys.AddFirstSigningKey(ctx, sk); err != nil && !errors.Is(err, directory.ErrConflict) {
			return nil, fmt.Errorf("pwcrypt: store the first password key: %w", err)
		}
		if ours, err = r.stored(ctx); err != nil {
			return nil, err
		}
		if len(ours) == 0 {
			return nil, errNoKey
		}
	}
	now := r.o.Now()
	set := &keySet{byKID: map[string]*key{}, loaded: now}
	for i, sk := range ours { // oldest first
		if i+1 < len(ours) && now.Sub(ours[i+1].CreatedAt) > Overlap {
			continue // replaced long ago: no live challenge names it
		}
		k, err := r.open(ctx, sk)
		if err != nil {
			return nil, err
		}
		set.byKID[k.kid], set.active = k, k
	}
	r.set.Store(set)
	return set, nil
}

// stored lists the live password keys, oldest first.
func (r *Ring) stored(ctx context.Context) ([]directory.SigningKey, error) {
	all, err := r.o.Keys.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("pwcrypt: load password keys: %w", err)
	}
	return live(all), nil
}

func live(all []directory.SigningKey) []directory.SigningKey {
	var ours []directory.SigningKey
	for _, k := range all {
		if k.Alg == Alg && !k.Retired {
			ours = append(ours, k)
		}
	}
	return ours
}

// open unseals a stored key; one sealed under a secrets key that is no
// longer the active one is sealed again in place (best effort: it works
// either way).
func (r *Ring) open(ctx context.Context, sk directory.SigningKey) (*key, error) {
	der, stale, err := r.o.Keyring.Open(sk.Private, additionalData(sk.KID))
	if err != nil {
		return nil, fmt.Errorf("pwcrypt: password key %s does not open (sealed under a key no longer in secrets.key_file?); replace it: gatehouse password-key rotate", sk.KID)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	priv, ok := parsed.(*rsa.PrivateKey)
	if err != nil || !ok || priv.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("pwcrypt: password key %s is not an RSA key of at least %d bits", sk.KID, minKeyBits)
	}
	if stale {
		_ = r.o.Keys.UpdateSigningKey(ctx, sk.KID, r.o.Keyring.Seal(der, additionalData(sk.KID)))
	}
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("pwcrypt: password key %s: %w", sk.KID, err)
	}
	return &key{kid: sk.KID, priv: priv, spki: base64.StdEncoding.EncodeToString(spki)}, nil
}

// newKey generates a key and seals it for the directory.
func newKey(kr Keyring, now time.Time) (directory.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return directory.SigningKey{}, fmt.Errorf("pwcrypt: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return directory.SigningKey{}, fmt.Errorf("pwcrypt: encode key: %w", err)
	}
	kid := Thumbprint(&priv.PublicKey)
	return directory.SigningKey{KID: kid, Alg: Alg, Private: kr.Seal(der, additionalData(kid)), CreatedAt: now.UTC()}, nil
}

// Rotate stores a new password key and retires the keys replaced more than Overlap before now. Replicas
// issue challenges under the new key from their next reload (within 30
// seconds, or at once when one sees a challenge naming it); the key it
// replaces keeps decrypting until Overlap has passed.
func Rotate(ctx context.Context, keys directory.Keys, kr Keyring, now time.Time) (kid string, retired []string, err error) {
	sk, err := newKey(kr, now)
	if err != nil {
		return "", nil, err
	}
	if err := keys.AddSigningKey(ctx, sk); err != nil {
		return "", nil, fmt.Errorf("pwcrypt: store password key: %w", err)
	}
	all, err := keys.SigningKeys(ctx)
	if err != nil {
		return sk.KID, nil, fmt.Errorf("pwcrypt: load password keys: %w", err)
	}
	ours := live(all)
	for i := 0; i+1 < len(ours); i++ {
		if now.Sub(ours[i+1].CreatedAt) > Overlap {
			if err := keys.RetireSigningKey(ctx, ours[i].KID); err != nil {
				return sk.KID, retired, fmt.Errorf("pwcrypt: retire password key %s: %w", ours[i].KID, err)
			}
			retired = append(retired, ours[i].KID)
		}
	}
	return sk.KID, retired, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of pub, used as kid.
func Thumbprint(pub *rsa.PublicKey) string {
	b64 := base64.RawURLEncoding
	e := big.NewInt(int64(pub.E)).Bytes()
	canon := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, b64.EncodeToString(e), b64.EncodeToString(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// parsePublic reads a Challenge's PublicKey.
func parsePublic(spki string) (*rsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(spki)
	if err != nil {
		return nil, fmt.Errorf("pwcrypt: public key: %w", err)
	}
	parsed, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("pwcrypt: public key: %w", err)
	}
	pub, ok := parsed.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("pwcrypt: public key is not RSA")
	}
	return pub, nil
}
