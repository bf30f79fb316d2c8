package pwcrypt

import (
	"encoding/base64"
	"encoding/binary"
)

// A challenge token is base64url (unpadded) of
//
//	version (1) | expires, Unix seconds (8) | nonce (16) | len(kid) (1) | kid | MAC
//
// where MAC is the secrets key ring's MAC of everything before it (its
// key id and an HMAC-SHA256 under a subkey for this purpose only).
const (
	tokenVersion = 1
	macPurpose   = "password-challenge"
	headerLen    = 1 + 8 + 16 + 1
	maxKIDLen    = 64
	// maxMACLen is the key ring's longest MAC: a 64-byte key id, its
	// length byte and 32 bytes.
	maxMACLen   = 1 + 64 + 32
	maxTokenLen = (headerLen + maxKIDLen + maxMACLen + 2) / 3 * 4
)

type token struct {
	expires int64
	nonce   [16]byte
	kid     string
}

func (t token) payload() []byte {
	b := make([]byte, 0, headerLen+len(t.kid))
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(t.expires))
	b = append(b, t.nonce[:]...)
	b = append(b, byte(len(t.kid)))
	return append(b, t.kid...)
}

func (t token) encode(kr Keyring) string {
	p := t.payload()
	return base64.RawURLEncoding.EncodeToString(append(p, kr.MAC(macPurpose, p)...))
}

// parseToken reads a challenge and checks its MAC: ErrMalformed for
// anything that is not a token, ErrForged for one the gateway did not
// make.
func parseToken(s string, kr Keyring) (token, error) {
	if len(s) > maxTokenLen {
		return token{}, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < headerLen || raw[0] != tokenVersion {
		return token{}, ErrMalformed
	}
	n := int(raw[headerLen-1])
	if n == 0 || n > maxKIDLen || len(raw) < headerLen+n {
		return token{}, ErrMalformed
	}
	t := token{expires: int64(binary.BigEndian.Uint64(raw[1:9])), kid: string(raw[headerLen : headerLen+n])}
	copy(t.nonce[:], raw[9:25])
	if !validKID(t.kid) {
		return token{}, ErrMalformed
	}
	mac := raw[headerLen+n:]
	if len(mac) == 0 || len(mac) > maxMACLen || !kr.VerifyMAC(macPurpose, raw[:headerLen+n], mac) {
		return token{}, ErrForged
	}
	return t, nil
}

// validKID allows the base64url alphabet of a thumbprint.
func validKID(kid string) bool {
	for _, c := range []byte(kid) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
