// Package password is local password login: argon2id hashing in the PHC
// string format, a bound on concurrent hashes so a login flood cannot
// exhaust memory and a bound on the queue waiting for them so it cannot
// hold every connection either, failed-attempt limits per account and per
// client IP (auth/lockout, reserved before the hash), and responses that
// do not reveal whether an account exists.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse-auth/gatehouse/auth"
)

// Params are argon2id cost parameters. Default is OWASP's second
// recommended set (ASVS 5.0 V11.4.2): t=2, m=19 MiB, p=1.
type Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// Default is the cost every new hash uses.
var Default = Params{Time: 2, Memory: 19 * 1024, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MinLength follows ASVS 6.2.1 (at least 8; 15 recommended).
	MinLength = 8
	// MaxLength bounds input length (ASVS 6.2.9 wants at least 64 allowed);
	// longer inputs are refused, never truncated.
	MaxLength = 1024
)

// ErrMalformedHash means a stored hash is not a PHC argon2id string.
var ErrMalformedHash = errors.New("password: malformed hash")

// ErrBusy means the hash queue is full: the caller is answered at once
// instead of waiting behind a flood. It wraps auth.ErrLockedOut, so the
// gateway answers 429 as for any other "too many attempts".
var ErrBusy = fmt.Errorf("password: too many logins waiting for a hash: %w", auth.ErrLockedOut)

// QueuedPerSlot is how many callers NewHasher lets wait for each hashing
// slot. At the production cost a hash takes tens of milliseconds, so a
// full queue clears in well under a second; anything beyond it is a flood.
const QueuedPerSlot = 8

// Hasher hashes and verifies with at most N hashes in flight and a
// bounded number of callers waiting; each hash costs 19 MiB, so the bound
// is also a memory bound, and the queue bound keeps a flood from holding
// every connection (and every honest login behind it) for minutes.
type Hasher struct {
	params    Params
	slots     chan struct{}
	waiting   atomic.Int64
	maxQueued int64
	dummy     string // verified against for unknown users, to equalise timing
}

// NewHasher returns a Hasher allowing maxConcurrent hashes at once and
// QueuedPerSlot*maxConcurrent callers waiting for one.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	return NewHasherQueue(p, maxConcurrent, QueuedPerSlot*max(1, maxConcurrent))
}

// NewHasherQueue is NewHasher with an explicit bound on waiting callers;
// a caller that finds maxQueued others waiting gets ErrBusy at once.
func NewHasherQueue(p Params, maxConcurrent, maxQueued int) *Hasher {
	h := &Hasher{params: p, slots: make(chan struct{}, max(1, maxConcurrent)), maxQueued: int64(max(0, maxQueued))}
	h.dummy = h.hash(randomBytes(24))
	return h
}

// Hash returns the PHC string for pw, waiting for a slot or ctx.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(pw)), nil
}

// Verify reports whether pw matches encoded. An empty encoded (unknown
// user, no local password) is verified against a dummy hash of the same
// cost and always fails, so it takes as long as a wrong password.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (bool, error) {
	if encoded == "" {
		encoded = h.dummy
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && encoded != h.dummy, nil
}

// NeedsRehash reports whether encoded was made with other parameters.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.params
}

// acquire takes a slot: at once if one is free, else by joining the
// queue unless it is full.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxQueued {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password hash: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

func (h *Hasher) hash(pw []byte) string {
	salt := randomBytes(saltLen)
	key := argon2.IDKey(pw, salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, ErrMalformedHash
	}
	// Refuse parameters that would let a planted hash exhaust memory or CPU.
	if p.Time < 1 || p.Time > 10 || p.Memory < 8*1024 || p.Memory > 256*1024 || p.Threads < 1 || p.Threads > 4 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}

// CheckNew enforces the rules for a password being set (ASVS 6.2): a
// length window and valid UTF-8, and nothing else — no composition rules.
func CheckNew(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	case n < MinLength:
		return fmt.Errorf("password must be at least %d characters (15 or more recommended)", MinLength)
	case len(pw) > MaxLength:
		return fmt.Errorf("password must be at most %d bytes", MaxLength)
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
