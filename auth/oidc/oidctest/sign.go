package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// idToken builds the ID token for a redeemed grant and signs it as the
// knobs say.
func (p *Provider) idToken(k Knobs, g grant, access string) (string, error) {
	payload, err := json.Marshal(p.claims(k, g, access))
	if err != nil {
		return "", fmt.Errorf("oidctest marshal claims: %w", err)
	}
	return p.sign(k, payload)
}

// claims is the ID token payload: the standard claims first, bent by the
// knobs, then the user's claims, then User.Extra on top.
func (p *Provider) claims(k Knobs, g grant, access string) map[string]any {
	now := p.now().Add(k.TimeOffset)
	c := map[string]any{
		"iss": p.Issuer, "sub": k.User.Subject, "aud": p.ClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(),
	}
	if k.Issuer != "" {
		c["iss"] = k.Issuer
	}
	if k.Audience != nil {
		c["aud"] = k.Audience
	}
	if k.AuthorizedParty != "" {
		c["azp"] = k.AuthorizedParty
	}
	nonce := g.nonce
	if k.Nonce != "" {
		nonce = k.Nonce
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if k.Expired {
		c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	}
	if k.NotYetValid {
		c["nbf"] = now.Add(time.Hour).Unix()
	}
	switch k.AtHash {
	case "":
		c["at_hash"] = AtHash(access)
	case AtHashOmit:
	default:
		c["at_hash"] = k.AtHash
	}
	addUser(c, k.User)
	return c
}

func addUser(c map[string]any, u User) {
	set := func(key string, v any, present bool) {
		if present {
			c[key] = v
		}
	}
	set("email", u.Email, u.Email != "")
	set("email_verified", u.EmailVerified, u.Email != "")
	set("hd", u.HostedDomain, u.HostedDomain != "")
	set("name", u.Name, u.Name != "")
	set("groups", u.Groups, u.Groups != nil)
	set("amr", u.AMR, u.AMR != nil)
	for key, v := range u.Extra {
		if v == nil {
			delete(c, key)
			continue
		}
		c[key] = v
	}
}

// AtHash is the at_hash of an access token for the SHA-256 algorithms
// (RS256, ES256, HS256): the left half of the digest, base64url.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// sign serialises payload as a compact JWS under the knobs' algorithm.
func (p *Provider) sign(k Knobs, payload []byte) (string, error) {
	return p.signTyped(k.Alg, k.UnknownKey, "JWT", payload)
}

// signTyped signs payload under alg with typ in the header ("" leaves
// typ out); unknown signs with a key the JWKS does not publish.
func (p *Provider) signTyped(alg string, unknown bool, typ string, payload []byte) (string, error) {
	var key jose.SigningKey
	switch alg {
	case "none":
		return unsigned(payload), nil
	case "HS256":
		key = jose.SigningKey{Algorithm: jose.HS256, Key: []byte(p.ClientSecret)}
	case "ES256":
		priv, err := p.signingKey(unknown, p.ecKey, func() (crypto.Signer, error) {
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		})
		if err != nil {
			return "", err
		}
		key = jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: ecKeyID}}
	case "", "RS256":
		priv, err := p.signingKey(unknown, p.rsaKey, func() (crypto.Signer, error) {
			return rsa.GenerateKey(rand.Reader, 2048)
		})
		if err != nil {
			return "", err
		}
		key = jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: rsaKeyID}}
	default:
		return "", fmt.Errorf("oidctest: unknown alg %q", alg)
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		return "", fmt.Errorf("oidctest new signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oidctest sign: %w", err)
	}
	return jws.CompactSerialize()
}

// signingKey returns the published key, or a fresh one nobody published
// when the test forges a signature.
func (p *Provider) signingKey(unknown bool, published crypto.Signer, fresh func() (crypto.Signer, error)) (crypto.Signer, error) {
	if !unknown {
		return published, nil
	}
	k, err := fresh()
	if err != nil {
		return nil, fmt.Errorf("oidctest generate forged key: %w", err)
	}
	return k, nil
}

// unsigned is an "alg":"none" JWT (RFC 7519 §6.1): header, payload, and
// an empty signature.
func unsigned(payload []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}
