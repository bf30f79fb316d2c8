// Package totp is the second factor: time-based one-time codes (RFC 6238)
// verified with replay protection, the enrolment material an
// authenticator app scans, single-use recovery codes, and the signed
// remember-this-device token that lets a browser skip the prompt.
//
// Codes are the authenticator-app defaults: 6 digits, SHA-1, 30-second
// steps, and one step of tolerance either side (RFC 6238 §5.2), so a code
// is good for about 90 seconds. The library pquerna/otp checks codes but
// neither stops replay nor says which step matched, so Verify computes the
// codes itself and records the accepted step in the session store.
//
// # Replay
//
// "A step is accepted only if it is newer than every step this user has
// used" (RFC 6238 §5.2: the verifier "MUST NOT accept the second attempt
// of the OTP after the successful validation has been issued for the
// first OTP"). A successful Verify raises the user's mark "totp:<user>"
// to the step with an atomic compare-and-set (session.Watermarks; a Lua
// script on Redis) and fails unless it raised it. So a second use of the
// same code, sequential or concurrent, on any replica, gets ErrReplayed,
// and so does a code of an older step that is still inside the window
// once a newer one was used (the step-N code an onlooker saw after the
// user logged in with the step-N+1 code). This also consumes the step
// used to confirm enrolment, provided the enrolment page verifies through
// the same Verifier and user id. Per-user attempt limits are the
// caller's, as for passwords (auth/lockout).
package totp

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

const (
	// Digits is the length of every code Verify accepts.
	Digits = 6
	// Period is the length of one time step.
	Period = 30 * time.Second
	// Skew is how many steps either side of now are accepted.
	Skew = 1
	// Algorithm is the HMAC hash of the codes we issue.
	Algorithm = "SHA1"
)

// markTTL outlives the longest time the marked step, or any older one,
// can still be accepted (its own period plus Skew periods after it) with
// a margin for clock differences between gateway replicas and the store;
// after that no step at or below the mark matches a code anyway.
const markTTL = (Skew*2 + 2) * Period

var (
	// ErrInvalidCode means the code is malformed or matches no step in
	// the window. Count it as a failed attempt.
	ErrInvalidCode = errors.New("totp: invalid code")
	// ErrReplayed means the code is right but its step is not newer than
	// the last one this user used. Treat it as a failed attempt too:
	// either an attacker replays an observed code or the user
	// double-submitted.
	ErrReplayed = errors.New("totp: code already used")
)

// Marks is the store Verify records each user's last accepted step in;
// session.Watermarks satisfies it.
type Marks interface {
	SetIfGreater(ctx context.Context, key string, value int64, ttl time.Duration) (bool, error)
}

// Verifier checks codes and remembers the last step each user used.
type Verifier struct {
	Marks Marks
	Now   func() time.Time // time.Now when nil
}

// Step is the RFC 6238 counter for t: whole periods since the Unix epoch.
// Times before the epoch are step 0.
func Step(t time.Time) uint64 {
	if t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix()) / uint64(Period/time.Second)
}

// Verify accepts code if it is exactly Digits ASCII digits, matches one of
// the steps now-Skew..now+Skew (server time only), and that step is newer
// than any step userID used before; it returns the step. Nothing is trimmed: a
// code with spaces, a sign, other lengths or non-ASCII digits is
// ErrInvalidCode without any HMAC being computed. A store failure is
// returned wrapped and must be treated as a refusal.
func (v *Verifier) Verify(ctx context.Context, userID string, secret []byte, code string) (uint64, error) {
	if !wellFormed(code) {
		return 0, ErrInvalidCode
	}
	if userID == "" || len(secret) == 0 {
		return 0, errors.New("totp verify: empty user id or secret")
	}
	if v.Marks == nil {
		return 0, errors.New("totp verify: no step store configured")
	}
	steps := matchingSteps(secret, code, v.now())
	if len(steps) == 0 {
		return 0, ErrInvalidCode
	}
	// Two steps of the window share a code about once in 10^6 logins;
	// trying each in turn, oldest first, keeps that user from a spurious
	// refusal without raising the mark further than needed.
	for _, step := range steps {
		ok, err := v.Marks.SetIfGreater(ctx, markKey(userID), int64(step), markTTL)
		if err != nil {
			return 0, fmt.Errorf("totp verify: record step: %w", err)
		}
		if ok {
			return step, nil
		}
	}
	return 0, ErrReplayed
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func markKey(userID string) string { return "totp:" + userID }

func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// matchingSteps compares code with every step of the window, all of them
// in constant time, so the response time does not tell which step (or
// whether any) matched.
func matchingSteps(secret []byte, code string, now time.Time) []uint64 {
	var steps []uint64
	c := Step(now)
	for d := -Skew; d <= Skew; d++ {
		if d < 0 && c < uint64(-d) {
			continue
		}
		step := c + uint64(d)
		want := Code(secret, step, Digits, Algorithm)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			steps = append(steps, step)
		}
	}
	return steps
}

// Code is the RFC 4226 HOTP value of secret at counter (for TOTP, the
// counter is Step(t)): HMAC with alg ("SHA1", "SHA256" or "SHA512"),
// dynamic truncation, then the low digits, zero-padded. It returns "" for
// an unknown alg or digits outside 1..10, which never equals a code.
func Code(secret []byte, counter uint64, digits int, alg string) string {
	newHash := hashFor(alg)
	if newHash == nil || digits < 1 || digits > 10 {
		return ""
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(newHash, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	value := uint64(binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff)
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(value%mod, 10)
	return strings.Repeat("0", digits-len(s)) + s
}

func hashFor(alg string) func() hash.Hash {
	switch alg {
	case "SHA1":
		return sha1.New
	case "SHA256":
		return sha256.New
	case "SHA512":
		return sha512.New
	}
	return nil
}
