package totp

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

func ring(t testing.TB, keys ...secret.Key) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func key(id string, fill byte) secret.Key {
	return secret.Key{ID: id, Bytes: bytes.Repeat([]byte{fill}, secret.KeySize)}
}

// tamper flips one bit in the decoded part i (0 payload, 1 mac) of token.
func tamper(t *testing.T, token string, part, index int) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err != nil {
		t.Fatal(err)
	}
	b[index] ^= 1
	parts[part] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// month is the remember_device policy the tokens in these tests are
// issued and checked under unless a case says otherwise.
const month = 30 * 24 * time.Hour

func TestRememberToken(t *testing.T) {
	k := ring(t, key("k1", 1))
	now := time.Unix(1_700_000_000, 0)
	expires := now.Add(month)
	token := RememberToken(k, "user-1", 7, now, expires)
	other := ring(t, key("k1", 2))

	tests := []struct {
		name   string
		ring   *secret.Keyring
		token  string
		userID string
		stamp  int64
		now    time.Time
		want   bool
	}{
		{"valid", k, token, "user-1", 7, now, true},
		{"valid just before expiry", k, token, "user-1", 7, expires.Add(-time.Second), true},
		{"remembered device cookie for another user", k, token, "user-2", 7, now, false},
		{"user id prefix", k, token, "user-", 7, now, false},
		{"older stamp (2FA reset since)", k, token, "user-1", 8, now, false},
		{"newer stamp", k, token, "user-1", 6, now, false},
		{"expired", k, token, "user-1", 7, expires, false},
		{"tampered payload user id", k, tamper(t, token, 0, 25), "user-1", 7, now, false},
		{"tampered payload stamp", k, tamper(t, token, 0, 8), "user-1", 7, now, false},
		{"tampered payload issue time", k, tamper(t, token, 0, 16), "user-1", 7, now, false},
		{"tampered payload expiry", k, tamper(t, token, 0, 20), "user-1", 7, now, false},
		{"tampered mac", k, tamper(t, token, 1, 20), "user-1", 7, now, false},
		{"tampered mac key id", k, tamper(t, token, 1, 1), "user-1", 7, now, false},
		{"minted by another keyring", other, token, "user-1", 7, now, false},
		{"no mac", k, strings.Split(token, ".")[0], "user-1", 7, now, false},
		{"empty mac", k, strings.Split(token, ".")[0] + ".", "user-1", 7, now, false},
		{"extra part", k, token + ".x", "user-1", 7, now, false},
		{"padded base64", k, strings.Replace(token, ".", "=.", 1), "user-1", 7, now, false},
		{"line break inside (decoder would skip it)", k, token[:10] + "\r\n" + token[10:], "user-1", 7, now, false},
		{"empty", k, "", "user-1", 7, now, false},
		{"garbage", k, "!!!.???", "user-1", 7, now, false},
		{"huge", k, strings.Repeat("A", 5000) + "." + strings.Repeat("A", 50), "user-1", 7, now, false},
		{"empty user id", k, RememberToken(k, "", 7, now, expires), "", 7, now, false},
		{"version 1 token (no issue time)", k, rememberTokenV1(k, "user-1", 7, expires), "user-1", 7, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckRememberToken(tt.ring, tt.token, tt.userID, tt.stamp, tt.now, month); got != tt.want {
				t.Errorf("CheckRememberToken = %v, want %v", got, tt.want)
			}
		})
	}
}

// rememberTokenV1 makes a token in the old layout (no issue time), as
// browsers still carry from before the upgrade, with a valid MAC.
func rememberTokenV1(k *secret.Keyring, userID string, stamp int64, expires time.Time) string {
	payload := make([]byte, 17, 17+len(userID))
	payload[0] = 1
	binary.BigEndian.PutUint64(payload[1:9], uint64(stamp))
	binary.BigEndian.PutUint64(payload[9:17], uint64(expires.Unix()))
	payload = append(payload, userID...)
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(k.MAC(rememberPurpose, payload))
}

// TestRememberCookieOutlivesShortenedPolicy: an admin cuts remember_device
// from 30 days to one (say after a laptop theft). A cookie issued under
// the 30-day policy must stop skipping 2FA once it is a day old, not keep
// working for the rest of its month; turning the feature off ends it at
// once.
func TestRememberCookieOutlivesShortenedPolicy(t *testing.T) {
	k := ring(t, key("k1", 1))
	issued := time.Unix(1_700_000_000, 0)
	token := RememberToken(k, "user-1", 7, issued, issued.Add(month))
	day := 24 * time.Hour
	tests := []struct {
		name   string
		at     time.Time
		policy time.Duration
		want   bool
	}{
		{"old policy, 2 days old", issued.Add(2 * day), month, true},
		{"policy cut to 1 day, token 2 days old", issued.Add(2 * day), day, false},
		{"policy cut to 1 day, token 1 day old to the second", issued.Add(day), day, false},
		{"policy cut to 1 day, token 23 hours old", issued.Add(23 * time.Hour), day, true},
		{"policy lengthened: the token's own expiry still holds", issued.Add(month), 2 * month, false},
		{"feature turned off", issued.Add(time.Minute), 0, false},
		{"negative policy", issued.Add(time.Minute), -day, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckRememberToken(k, token, "user-1", 7, tt.at, tt.policy); got != tt.want {
				t.Errorf("CheckRememberToken = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRememberTokenSignedForAnotherPurpose: a MAC the keyring made for some
// other purpose over the same bytes must not pass as a remember token.
func TestRememberTokenSignedForAnotherPurpose(t *testing.T) {
	k := ring(t, key("k1", 1))
	expires := time.Unix(1_800_000_000, 0)
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(RememberToken(k, "u", 1, expires.Add(-month), expires), ".")[0])
	forged := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(k.MAC("csrf", payload))
	if CheckRememberToken(k, forged, "u", 1, expires.Add(-time.Hour), month) {
		t.Error("token signed for purpose csrf accepted as remember-device")
	}
}

func TestRememberTokenAfterKeyRotation(t *testing.T) {
	old := ring(t, key("k1", 1))
	now := time.Unix(1_700_000_000, 0)
	token := RememberToken(old, "user-1", 3, now, now.Add(time.Hour))

	rotated := ring(t, key("k2", 2), key("k1", 1))
	if !CheckRememberToken(rotated, token, "user-1", 3, now, month) {
		t.Error("old token after adding a new active key = false, want true while k1 is in the ring")
	}
	fresh := RememberToken(rotated, "user-1", 3, now, now.Add(time.Hour))
	if !CheckRememberToken(rotated, fresh, "user-1", 3, now, month) {
		t.Error("token from the rotated ring = false, want true")
	}
	retired := ring(t, key("k2", 2))
	if CheckRememberToken(retired, token, "user-1", 3, now, month) {
		t.Error("old token after removing k1 = true, want false")
	}
	if !CheckRememberToken(retired, fresh, "user-1", 3, now, month) {
		t.Error("new token after removing k1 = false, want true")
	}
}
