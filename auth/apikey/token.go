// Package apikey is the API-key credential: the token format (a scanner-
// friendly prefix, a public id, a 256-bit secret and a checksum that
// refuses garbage before any lookup), the keyed hash the directory keeps
// instead of the secret, and the authenticator that turns a request's key
// into the owning user's identity, never more than that user may do.
package apikey

import (
	"crypto/rand"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
)

// Prefix starts every key, so secret scanners (GitHub's, gitleaks) can
// match leaked keys.
const Prefix = "gk_"

const (
	idLen       = 12 // public key id, base62 (71 bits: unguessable, not secret)
	secretLen   = 43 // base62 digits: 43·log2(62) ≈ 256.03 bits
	checksumLen = 6  // CRC32 in base62, as GitHub's tokens
	// TokenLen is the length of every key.
	TokenLen = len(Prefix) + idLen + 1 + secretLen + checksumLen
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed means the string is not a key: wrong shape, characters or
// checksum. It is decided without any store lookup.
var ErrMalformed = errors.New("apikey: not a well-formed API key")

func randomBase62(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("apikey: crypto/rand: " + err.Error())
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

func checksum(body string) string {
	sum := checksumOf(body)
	return string(sum[:])
}

// checksumOf is the CRC32 of body in base62, without allocating: Parse
// runs on every request that carries a key.
func checksumOf(body string) [checksumLen]byte {
	// crc32.ChecksumIEEE, byte by byte over the string (the library
	// takes a []byte, and converting copies).
	c := ^uint32(0)
	for i := 0; i < len(body); i++ {
		c = crc32.IEEETable[byte(c)^body[i]] ^ (c >> 8)
	}
	c = ^c
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[c%62]
		c /= 62
	}
	return out
}

// NewID returns a fresh public key id.
func NewID() string { return randomBase62(idLen) }

// Generate returns a new key for id and its secret part (what is hashed).
func Generate(id string) (token, secret string) {
	secret = randomBase62(secretLen)
	body := Prefix + id + "_" + secret
	return body + checksum(body), secret
}

// Parse splits a key into its id and secret, checking shape, alphabet and
// checksum; ErrMalformed otherwise.
func Parse(token string) (id, secret string, err error) {
	if len(token) != TokenLen || !strings.HasPrefix(token, Prefix) || token[len(Prefix)+idLen] != '_' {
		return "", "", ErrMalformed
	}
	for i := len(Prefix); i < len(token); i++ {
		if i == len(Prefix)+idLen {
			continue
		}
		if !isBase62(token[i]) {
			return "", "", ErrMalformed
		}
	}
	body, sum := token[:TokenLen-checksumLen], token[TokenLen-checksumLen:]
	if want := checksumOf(body); string(want[:]) != sum {
		return "", "", ErrMalformed
	}
	return token[len(Prefix) : len(Prefix)+idLen], body[len(Prefix)+idLen+1:], nil
}

// ValidID reports whether s has the shape of a key id.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	return true
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// Looks reports whether s is plausibly meant as a key (the prefix), so a
// key put where keys are never accepted (a URL) can be refused by name.
func Looks(s string) bool { return strings.HasPrefix(s, Prefix) }
