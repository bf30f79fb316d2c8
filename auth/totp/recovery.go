package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// RecoveryCodeChars is the length of a normalized recovery code: 16 base32
// characters, 80 random bits.
const RecoveryCodeChars = 16

// maxRecoveryInput bounds what NormalizeRecoveryCode scans, so a huge
// form value costs nothing.
const maxRecoveryInput = 64

var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewRecoveryCodes returns n distinct codes to show the user once, as
// "xxxx-xxxx-xxxx-xxxx" in lower case, and their hashes to store.
func NewRecoveryCodes(n int) (plain []string, hashes [][]byte) {
	seen := make(map[string]bool, n)
	for len(plain) < n {
		raw := make([]byte, RecoveryCodeChars*5/8)
		rand.Read(raw)
		code := recoveryEncoding.EncodeToString(raw)
		if seen[code] { // 2^-80 per pair; cheap to rule out anyway
			continue
		}
		seen[code] = true
		plain = append(plain, code[0:4]+"-"+code[4:8]+"-"+code[8:12]+"-"+code[12:16])
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return plain, hashes
}

// NormalizeRecoveryCode returns the canonical form of a typed code: lower
// case, without the spaces and dashes people add or leave out. It reports
// false unless exactly RecoveryCodeChars characters of the base32 alphabet
// (a–z, 2–7, either case) remain. Lookalikes such as 0, 1 or 8 are refused
// rather than guessed at, and only ASCII letters are case-folded, so no
// Unicode character (the Kelvin sign, say) can fold into a valid code.
func NormalizeRecoveryCode(s string) (string, bool) {
	if len(s) > maxRecoveryInput {
		return "", false
	}
	var b strings.Builder
	b.Grow(RecoveryCodeChars)
	for i := range len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '2' && c <= '7':
		default:
			return "", false
		}
		if b.Len() == RecoveryCodeChars {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != RecoveryCodeChars {
		return "", false
	}
	return b.String(), true
}

// HashRecoveryCode is what the directory stores and looks codes up by:
// SHA-256 of the normalized code, or nil when code does not normalize
// (nil never equals a stored hash). A fast unsalted hash is enough here,
// unlike for passwords: each code is 80 uniformly random bits, so even
// with a leaked hash a guess costs 2^79 SHA-256 on average, and salt buys
// nothing against tables for inputs nobody chose. An unsalted hash also
// lets the directory find a code with one indexed lookup.
func HashRecoveryCode(code string) []byte {
	n, ok := NormalizeRecoveryCode(code)
	if !ok {
		return nil
	}
	sum := sha256.Sum256([]byte(n))
	return sum[:]
}
