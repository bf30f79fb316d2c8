package totp

import (
	"strings"
	"testing"
	"time"
)

// FuzzCheckRememberToken feeds arbitrary cookie values to the checker: it
// must never panic and never accept anything but the one real token.
func FuzzCheckRememberToken(f *testing.F) {
	k := ring(f, key("k1", 1))
	now := time.Unix(1_700_000_000, 0)
	valid := RememberToken(k, "user-1", 7, now.Add(-time.Minute), now.Add(time.Hour))
	for _, seed := range []string{valid, "", ".", "..", "AQ.AQ", valid + "x", strings.ToUpper(valid)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got := CheckRememberToken(k, token, "user-1", 7, now, time.Hour)
		if got && token != valid {
			t.Errorf("accepted a token that is not the issued one: %q", token)
		}
	})
}

// FuzzNormalizeRecoveryCode checks the normalizer's contract on any input:
// a result is 16 base32 characters, a fixed point, and what the hash uses.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, seed := range []string{"abcd-2345-efgh-67ij", "ABCD 2345 EFGH 67IJ", "", "abcd-2345-efgh-67i\u212a", "0000-1111-8888-9999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := NormalizeRecoveryCode(in)
		if !ok {
			if got != "" || HashRecoveryCode(in) != nil {
				t.Fatalf("NormalizeRecoveryCode(%q) refused but returned %q / a hash", in, got)
			}
			return
		}
		if len(got) != RecoveryCodeChars || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q, want 16 lower-case base32 characters", in, got)
		}
		if again, ok := NormalizeRecoveryCode(got); !ok || again != got {
			t.Fatalf("not a fixed point: %q → %q → (%q, %v)", in, got, again, ok)
		}
		if string(HashRecoveryCode(in)) != string(HashRecoveryCode(got)) {
			t.Fatalf("hash of %q differs from hash of its normal form", in)
		}
	})
}
