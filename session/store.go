// Package session is the session model and its storage contract: the Store
// interface the memory and Redis backends implement, the cookie ticket that
// names a session, the sealing that keeps a stored session useless without
// its cookie, and the idle/absolute expiry rules.
//
// The design follows oauth2-proxy's ticket: the cookie carries a public id
// and a 256-bit secret; the store keeps, under the id, the session sealed
// with a key derived from the secret. Whoever reads the store (a Redis dump,
// a replica, a backup) learns ids and metadata but cannot decrypt a session
// or build a cookie for one.
package session

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

var (
	// ErrNotFound means no live record exists under the id: never created,
	// revoked, or expired by the store's TTL.
	ErrNotFound = errors.New("session: not found")
	// ErrUnavailable wraps a store outage. Callers fail closed on it.
	ErrUnavailable = errors.New("session: store unavailable")
)

// Record is what a backend keeps for one session. Data is sealed and opaque
// to the backend; the other fields are plain because the backend itself
// maintains them (LastSeen, TTL) or lists them (Meta).
type Record struct {
	ID       string
	UserID   string
	Data     []byte    // sealed session; see Seal
	Created  time.Time // login time; basis of the absolute lifetime
	LastSeen time.Time // last recorded use; basis of the idle timeout
	// Expires is when the backend may forget the record: the earlier of the
	// absolute deadline and LastSeen+idle timeout, recomputed on each touch.
	Expires time.Time
	Meta    Meta
}

// Meta is the non-secret description of a session that lists and audit
// show: enough for a user to recognise "that's my phone" and revoke it.
type Meta struct {
	ClientIP  string   `json:"ip,omitempty"`
	UserAgent string   `json:"ua,omitempty"`
	Methods   []string `json:"amr,omitempty"`
	// Client is the OAuth client of a mobile device's login; empty for a
	// browser session. Device lists are the records that have one.
	Client string `json:"cl,omitempty"`
	// Provider is the identity provider of a federated login, and
	// IdPSession its session (auth.IdPSessionKey of the OIDC sid): what
	// a back-channel logout from the provider matches.
	Provider   string `json:"idp,omitempty"`
	IdPSession string `json:"isid,omitempty"`
	// Pending marks a half-authenticated session (a step still owed),
	// whose shorter lifetime a sweep must apply without opening Data.
	Pending bool `json:"p,omitempty"`
}

// Touch says how a Get may refresh LastSeen in the same round trip. The
// backend writes LastSeen=Now only when Now-LastSeen >= After and the record
// is not already idle past Idle; it then moves Expires to
// min(Created+Absolute, Now+Idle) + Grace, and returns the record as
// written. A record whose Expires is at or before Now is gone. A zero Touch
// never writes.
//
// Grace keeps a record a while past its deadline so that the gateway, not
// the store's TTL, is the one to end it, and can tell the user why ("timed
// out" rather than a bare login page). A record in its grace period is
// never touched, so it cannot come back to life.
type Touch struct {
	Now      time.Time
	After    time.Duration
	Idle     time.Duration
	Absolute time.Duration
	Grace    time.Duration
}

// Store keeps session records. Every method must be safe for concurrent use
// and must report backend outages wrapped in ErrUnavailable so the gateway
// can fail closed.
type Store interface {
	// Put creates or replaces the record and indexes it under its UserID.
	Put(ctx context.Context, r Record) error
	// Get returns the record (without touching unless t says so), or
	// ErrNotFound. It costs at most one round trip to the backend.
	Get(ctx context.Context, id string, t Touch) (Record, error)
	// Delete removes the record; deleting a missing record is not an error.
	Delete(ctx context.Context, id string) error
	// ListUser returns the user's live records, Data omitted.
	ListUser(ctx context.Context, userID string) ([]Record, error)
	// DeleteUser removes every record of the user and reports how many.
	DeleteUser(ctx context.Context, userID string) (int, error)
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Claim deletes the record if it still belongs to userID and has not
	// expired, as Delete does, and reports whether this call deleted it:
	// of several replicas (or a replica and the sweeper) ending one
	// session, exactly one gets true, and only that one reports the end.
	Claim(ctx context.Context, id, userID string) (bool, error)
	// Due returns up to limit live records (Data omitted), earliest
	// first, whose Expires was at or before `before` when they were last
	// indexed (Put, Reschedule). A touch may have moved Expires later
	// since, so the caller checks each again. Index entries of records
	// that no longer exist are dropped.
	Due(ctx context.Context, before time.Time, limit int) ([]Record, error)
	// Reschedule indexes a live record again at `at`, so Due returns it
	// only then; a missing record is not an error.
	Reschedule(ctx context.Context, id string, at time.Time) error
}

// Counter keeps short-lived counters for rate limits (failed logins per
// account and per client IP) in the same store as sessions, so limits hold
// across replicas.
type Counter interface {
	// Incr adds one to key and returns the new value. The first increment
	// starts a window: the key disappears window after it was created.
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	// IncrBy adds by (positive) as Incr adds one: rate limiters claim
	// their budget in chunks, one round trip per chunk.
	IncrBy(ctx context.Context, key string, by int64, window time.Duration) (int64, error)
	// Count returns the current value, 0 if absent.
	Count(ctx context.Context, key string) (int64, error)
	// Reset deletes key.
	Reset(ctx context.Context, key string) error
}

// Nonces keeps one-time values: OIDC state, SAML request ids, used TOTP
// steps, replayed-assertion ids. Each is consumed at most once, atomically,
// even across replicas.
type Nonces interface {
	// PutOnce stores value under key for ttl unless key exists; it reports
	// whether it stored. Use it both to record "seen" (replay caches) and to
	// create a transaction.
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Take returns and deletes the value under key, or ErrNotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// Peek returns the value under key without deleting it, or
	// ErrNotFound: a check that must not use up what it checks.
	Peek(ctx context.Context, key string) ([]byte, error)
}

// Values keeps short-lived named values that are read many times and
// replaced, unlike Nonces: which user a provider session logged in, so a
// back-channel logout naming only that session finds the user again on
// every retry.
type Values interface {
	// SetValue stores a copy of value under key for ttl, replacing what
	// was there.
	SetValue(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Value returns the value under key, or ErrNotFound; it does not
	// delete it.
	Value(ctx context.Context, key string) ([]byte, error)
}

// Attempts is a budget of attempts per key, kept in the same counters as
// Counter (Count reads it, Reset clears it). auth/lockout takes an attempt
// before checking a credential, so that however many requests race, no
// more than the limit are ever checked in one window, on any replica; it
// gives back an attempt that must not count (a success, an outage).
type Attempts interface {
	// Reserve adds one to key unless its count has already reached limit
	// (then it adds nothing), in one atomic step. The first addition
	// starts the window, as Incr does. limit must be positive.
	Reserve(ctx context.Context, key string, limit int64, window time.Duration) (Reservation, error)
	// Release subtracts one from key when r was taken and the key is
	// still in the window r was taken in and above zero. An attempt
	// reserved in a window that has ended is never taken off the next
	// one, so a release cannot hand an attacker an extra attempt.
	Release(ctx context.Context, key string, r Reservation) error
}

// Reservation is the outcome of Attempts.Reserve.
type Reservation struct {
	Count  int64 // the counter after the call
	Taken  bool  // false: the budget was spent and nothing was added
	Window int64 // identifies the counter's window; opaque, for Release
}

// Watermarks keeps one rising number per key, such as the last TOTP time
// step each user spent: a value at or below the mark is refused, so an
// older one-time code cannot be used after a newer one (RFC 6238 §5.2).
type Watermarks interface {
	// SetIfGreater stores value under key for ttl when the key is absent
	// or holds a smaller value, atomically across replicas, and reports
	// whether it stored. Values must lie within ±2^53 (Redis compares
	// them as Lua numbers, which are doubles).
	SetIfGreater(ctx context.Context, key string, value int64, ttl time.Duration) (bool, error)
}

// Backend is everything a session backend provides; the memory and Redis
// packages both satisfy it and run the same conformance suite
// (session/storetest). Its Bus carries invalidations between replicas;
// Delete and DeleteUser publish a nearcache.Session event for every
// session they remove, atomically with the removal.
type Backend interface {
	Store
	Counter
	Attempts
	Nonces
	Values
	Watermarks
	nearcache.Bus
	Close() error
}
