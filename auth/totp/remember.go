package totp

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// rememberPurpose separates remember-device MACs from every other use of
// the keyring.
const rememberPurpose = "remember-device"

// rememberVersion starts the payload so its layout can change. Version 1
// carried no issue time; its tokens are refused, which costs each
// remembered browser one 2FA prompt after the upgrade.
const rememberVersion = 2

// rememberHeader is the fixed part of the payload before the user id.
const rememberHeader = 25

// maxRememberToken bounds what CheckRememberToken decodes; a real token
// is well under 200 bytes.
const maxRememberToken = 1024

var b64 = base64.RawURLEncoding.Strict()

// RememberToken is the value of a remember-this-device cookie: proof that
// this browser passed 2FA as userID at issued. It binds the user's
// security stamp, so bumping the stamp (2FA reset or removed, password
// changed) revokes every token at once, and carries its issue time and
// expiry, kept to the second, so a later, shorter policy applies to it
// too.
//
// Format: base64url(payload) "." base64url(mac), payload = version byte |
// stamp (8 bytes) | issued Unix seconds (8 bytes) | expiry Unix seconds
// (8 bytes) | userID. The payload is signed, not encrypted: it reveals
// the opaque user id and two times, nothing else.
func RememberToken(k *secret.Keyring, userID string, stamp int64, issued, expires time.Time) string {
	payload := make([]byte, rememberHeader, rememberHeader+len(userID))
	payload[0] = rememberVersion
	binary.BigEndian.PutUint64(payload[1:9], uint64(stamp))
	binary.BigEndian.PutUint64(payload[9:17], uint64(issued.Unix()))
	binary.BigEndian.PutUint64(payload[17:25], uint64(expires.Unix()))
	payload = append(payload, userID...)
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(k.MAC(rememberPurpose, payload))
}

// CheckRememberToken reports whether token was made by RememberToken with
// a key still in k, for this userID and exactly this stamp, and at now is
// both before its own expiry and younger than maxAge, the lifetime the
// policy gives remembered devices now: shortening the policy shortens
// the tokens already out there. A maxAge of zero or less (the feature is
// off) refuses every token. Anything malformed is false; it never panics.
func CheckRememberToken(k *secret.Keyring, token, userID string, stamp int64, now time.Time, maxAge time.Duration) bool {
	if maxAge <= 0 || len(token) > maxRememberToken || userID == "" || !tokenChars(token) {
		return false
	}
	p64, m64, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, err := b64.DecodeString(p64)
	if err != nil || len(payload) < rememberHeader || payload[0] != rememberVersion {
		return false
	}
	mac, err := b64.DecodeString(m64)
	if err != nil || !k.VerifyMAC(rememberPurpose, payload, mac) {
		return false
	}
	gotStamp := int64(binary.BigEndian.Uint64(payload[1:9]))
	issued := time.Unix(int64(binary.BigEndian.Uint64(payload[9:17])), 0)
	expires := int64(binary.BigEndian.Uint64(payload[17:25]))
	return string(payload[rememberHeader:]) == userID && gotStamp == stamp &&
		now.Unix() < expires && now.Before(issued.Add(maxAge))
}

// tokenChars allows only the base64url alphabet and the dot. The decoder
// would skip '\r' and '\n', letting many strings stand for one token;
// refusing them keeps each token's spelling unique.
func tokenChars(s string) bool {
	for i := range len(s) {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}
