package totp

import (
	"bytes"
	"encoding/hex"
	"regexp"
	"testing"
)

var recoveryFormat = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

func TestNewRecoveryCodes(t *testing.T) {
	plain, hashes := NewRecoveryCodes(10)
	if len(plain) != 10 || len(hashes) != 10 {
		t.Fatalf("got %d codes and %d hashes, want 10 and 10", len(plain), len(hashes))
	}
	seen := map[string]bool{}
	for i, code := range plain {
		if !recoveryFormat.MatchString(code) {
			t.Errorf("code %q does not look like xxxx-xxxx-xxxx-xxxx in lower-case base32", code)
		}
		if seen[code] {
			t.Errorf("code %q appears twice", code)
		}
		seen[code] = true
		if !bytes.Equal(hashes[i], HashRecoveryCode(code)) {
			t.Errorf("hash %d does not match HashRecoveryCode(code %d)", i, i)
		}
		if len(hashes[i]) != 32 {
			t.Errorf("hash %d is %d bytes, want 32", i, len(hashes[i]))
		}
	}
	if p, h := NewRecoveryCodes(0); len(p) != 0 || len(h) != 0 {
		t.Errorf("NewRecoveryCodes(0) = %d codes, want none", len(p))
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	const canonical = "abcd2345efgh67ij"
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"abcd-2345-efgh-67ij", canonical, true},
		{canonical, canonical, true},
		{"ABCD-2345-EFGH-67IJ", canonical, true},
		{"AbCd 2345 eFgH 67iJ", canonical, true},
		{"  abcd-2345-efgh-67ij\t", canonical, true},
		{"abcd--2345--efgh--67ij", canonical, true},
		{"abcd-2345-efgh-67i", "", false},        // 15 chars
		{"abcd-2345-efgh-67ija", "", false},      // 17 chars
		{"abcd-2345-efgh-67i0", "", false},       // 0 is not base32
		{"abcd-2345-efgh-67i1", "", false},       // nor 1
		{"abcd-2345-efgh-67i8", "", false},       // nor 8
		{"abcd_2345_efgh_67ij", "", false},       // underscore
		{"abcd-2345-efgh-67i\u212a", "", false},  // Kelvin sign folds to k in Unicode
		{"abcd-2345-efgh-67ij\u200b", "", false}, // zero-width space
		{"abcd-2345-efgh-67ｊ", "", false},        // full-width j
		{"", "", false},
		{"----------------------------", "", false},
		{"abcd-2345-efgh-67ij" + string(make([]byte, 60)), "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeRecoveryCode(%q) = (%q, %v), want (%q, %v)", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHashRecoveryCode(t *testing.T) {
	// SHA-256("abcd2345efgh67ij"): pinned, because stored hashes must keep
	// matching after upgrades.
	const want = "52eb641a667ba1308a94ed1239e316efb81ab6236069825e376934b5abf36247"
	got := HashRecoveryCode("ABCD 2345-efgh-67ij")
	if !bytes.Equal(got, HashRecoveryCode("abcd2345efgh67ij")) {
		t.Error("hashes of two spellings of one code differ")
	}
	if hex.EncodeToString(got) != want {
		t.Errorf("HashRecoveryCode = %x, want %s", got, want)
	}
	if h := HashRecoveryCode("not a code"); h != nil {
		t.Errorf("HashRecoveryCode(invalid) = %x, want nil", h)
	}
}
