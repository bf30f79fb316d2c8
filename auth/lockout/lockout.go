// Package lockout counts failed attempts (passwords per account and per
// client IP, second-factor codes per user) in the shared session store,
// so a limit holds across replicas and however many requests race.
//
// An attempt is reserved before the credential is checked, not counted
// after the check: Reserve takes one attempt from every key's budget
// atomically (session.Attempts), and once a key's budget for the window
// is spent, further attempts are refused unchecked. So at most Limit
// attempts per key and window ever reach the password hash or the code
// comparison, even when thirty arrive in the same millisecond on three
// replicas. What the check finds decides whether the attempt stays
// counted:
//
//   - a failure keeps it (Failed);
//   - a success resets the keys that ask for it (the account, the user's
//     second factor) and gives the attempt back to the others (the client
//     IP), so a success never counts against anyone (Succeeded);
//   - an attempt that was never checked (a store or directory outage, a
//     full hash queue, a refusal by another key) gives it back to every
//     key (Cancel).
//
// A refused attempt adds nothing to any counter, so hammering a locked
// account does not also lock out the office IP its user logs in from.
// Counters expire Window after their first attempt, so a lock ends by
// itself (NIST 800-63B 5.2.2, ASVS 6.3.1) and a malicious lockout lasts no
// longer than the window.
package lockout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/session"
)

// ErrLocked is what Reserve returns when a key's budget is spent. It
// wraps auth.ErrLockedOut, which the gateway answers with 429.
var ErrLocked = fmt.Errorf("lockout: too many attempts: %w", auth.ErrLockedOut)

// Store is the part of the session store a Limiter uses; the memory and
// Redis backends satisfy it.
type Store interface {
	session.Attempts
	Reset(ctx context.Context, key string) error
}

// Key is one budget: at most Limit attempts per window under Name.
type Key struct {
	Name  string
	Limit int
	// ResetOnSuccess clears the whole count when an attempt succeeds
	// (the right password proves the earlier failures were the user's
	// own); otherwise a success only gives its own attempt back.
	ResetOnSuccess bool
}

// Account is the budget of one login name, counted whether or not the
// account exists, so a lockout reveals nothing. name must already be
// normalised (lower case, trimmed) so spellings share a budget; it is
// hashed because usernames are personal data and keys are visible to
// whoever reads the store.
func Account(name string, limit int) Key {
	sum := sha256.Sum256([]byte(name))
	return Key{Name: "login:acct:" + hex.EncodeToString(sum[:16]), Limit: limit, ResetOnSuccess: true}
}

// ClientIP is the budget of one client address across every login name
// (credential stuffing). A success from the address never clears it, so
// an attacker cannot launder guesses through a login of their own.
func ClientIP(ip string, limit int) Key {
	return Key{Name: "login:ip:" + ip, Limit: limit}
}

// SecondFactor is the budget of one user's second-factor codes (TOTP and
// recovery codes together).
func SecondFactor(userID string, limit int) Key {
	return Key{Name: "mfa:" + userID, Limit: limit, ResetOnSuccess: true}
}

// Limiter reserves attempts. Safe for concurrent use.
type Limiter struct {
	store  Store
	window time.Duration
}

// New returns a Limiter whose counters live in store (the shared session
// store, so limits hold across replicas) and last window from their first
// attempt.
func New(store Store, window time.Duration) *Limiter {
	return &Limiter{store: store, window: window}
}

// Attempt is one reserved attempt; end it with exactly one of Failed,
// Succeeded or Cancel (later calls do nothing).
type Attempt struct {
	l     *Limiter
	keys  []Key
	taken []session.Reservation
	done  bool
}

// Reserve takes one attempt from each key's budget, in order, before the
// caller checks anything. When a key's budget is spent it gives back what
// it took from the earlier keys and returns ErrLocked; a store failure is
// returned wrapped (session.ErrUnavailable) and holds nothing either. Put
// the key an attacker most wants to outrun first (the account): a refusal
// there leaves the later keys untouched.
func (l *Limiter) Reserve(ctx context.Context, keys ...Key) (*Attempt, error) {
	a := &Attempt{l: l, keys: keys, taken: make([]session.Reservation, 0, len(keys))}
	for _, k := range keys {
		r, err := l.store.Reserve(ctx, k.Name, int64(k.Limit), l.window)
		if err == nil && !r.Taken {
			err = ErrLocked
		}
		if err != nil {
			if cerr := a.Cancel(ctx); cerr != nil {
				return nil, errors.Join(err, cerr)
			}
			return nil, err
		}
		a.taken = append(a.taken, r)
	}
	return a, nil
}

// Failed keeps the attempt counted. It reports whether this failure spent
// the last attempt of some key, so the caller can log that it locked.
func (a *Attempt) Failed() (locked bool) {
	if a.done {
		return false
	}
	a.done = true
	for i, r := range a.taken {
		if r.Count >= int64(a.keys[i].Limit) {
			locked = true
		}
	}
	return locked
}

// Succeeded resets the keys that ask for it and gives the attempt back to
// the others. It finishes even if ctx is cancelled meanwhile: a success
// left counted would lock the user out with their own logins.
func (a *Attempt) Succeeded(ctx context.Context) error {
	if a.done {
		return nil
	}
	a.done = true
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i, r := range a.taken {
		k := a.keys[i]
		var err error
		if k.ResetOnSuccess {
			err = a.l.store.Reset(ctx, k.Name)
		} else {
			err = a.l.store.Release(ctx, k.Name, r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("lockout: end attempt: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Cancel gives the attempt back to every key: it was never checked. It
// finishes even if ctx is cancelled meanwhile (a client that hung up while
// queued must not spend the account's budget).
func (a *Attempt) Cancel(ctx context.Context) error {
	if a.done {
		return nil
	}
	a.done = true
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i, r := range a.taken {
		if err := a.l.store.Release(ctx, a.keys[i].Name, r); err != nil {
			errs = append(errs, fmt.Errorf("lockout: give attempt back: %w", err))
		}
	}
	return errors.Join(errs...)
}
