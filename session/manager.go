package session

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

// Manager creates, loads and revokes sessions on top of a Store. It owns
// sealing and a local cache of loaded sessions kept coherent across
// replicas by a nearcache.Hub: every deletion the store makes is
// published, every replica evicts on arrival, and the cache answers only
// while the Hub's channel is live. The hot path then makes no store round
// trip, and a revoked session stops working everywhere as fast as the
// channel delivers.
type Manager struct {
	store         Store
	now           func() time.Time
	cacheTTL      time.Duration
	touchFraction int
	grace         time.Duration
	cache         *nearcache.Cache[*cached] // nil: no cache
}

type cached struct {
	secret [32]byte
	sess   *Session
}

// maxCached bounds the local cache; past it the cache is dropped whole,
// which costs one store read per active session and nothing else.
const maxCached = 100_000

// Options configure a Manager.
type Options struct {
	Now func() time.Time // defaults to time.Now
	// Hub keeps the local cache coherent; without one (or with a zero
	// CacheTTL) every Load reads the store.
	Hub *nearcache.Hub
	// CacheTTL bounds how long a cached session answers before the store
	// is read again (and LastSeen touched); it is further capped at the
	// touch interval, so the idle timeout stays as accurate as without a
	// cache.
	CacheTTL      time.Duration
	TouchFraction int // see TouchAfter; defaults to 20
	// Grace is how long the store keeps a session past its deadline so
	// the gateway can still say why it ended (see Touch); default 1h.
	Grace time.Duration
}

// NewManager returns a Manager over store.
func NewManager(store Store, o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TouchFraction == 0 {
		o.TouchFraction = 20
	}
	if o.Grace == 0 {
		o.Grace = time.Hour
	}
	m := &Manager{store: store, now: o.Now, cacheTTL: o.CacheTTL, touchFraction: o.TouchFraction, grace: o.Grace}
	if o.Hub != nil && o.CacheTTL > 0 {
		m.cache = nearcache.NewCache[*cached](o.Hub, nearcache.Session, maxCached)
	}
	return m
}

// Create stores a new session for id under a fresh ticket and returns the
// ticket. Callers rotating a session (login, 2FA completion) Revoke the old
// ticket's id themselves, after Create succeeds.
func (m *Manager) Create(ctx context.Context, s *Session, l Limits) (Ticket, error) {
	t := NewTicket()
	now := m.now()
	s.ID, s.Created, s.LastSeen = t.ID, now, now
	plain, err := json.Marshal(s)
	if err != nil {
		return Ticket{}, fmt.Errorf("encode session: %w", err)
	}
	sealed, err := t.Seal(plain)
	if err != nil {
		return Ticket{}, err
	}
	expires := now.Add(l.Absolute)
	if l.Idle > 0 && l.Idle < l.Absolute {
		expires = now.Add(l.Idle)
	}
	if s.Pending != "" && l.Pending > 0 {
		expires = now.Add(min(l.Pending, l.Absolute))
	}
	rec := Record{
		ID: t.ID, UserID: s.Identity.UserID, Data: sealed,
		Created: now, LastSeen: now, Expires: expires.Add(m.grace),
		Meta: Meta{ClientIP: s.ClientIP, UserAgent: s.Agent, Methods: s.Identity.Methods,
			Provider: s.Identity.Provider, IdPSession: s.Identity.IdPSession, Pending: s.Pending != ""},
	}
	if s.Device != nil {
		rec.Meta.Client = s.Device.Client
	}
	if err := m.store.Put(ctx, rec); err != nil {
		return Ticket{}, err
	}
	return t, nil
}

// Load returns the live session named by the cookie value. Errors:
// ErrMalformed (not our cookie), ErrNotFound (unknown or revoked),
// *ExpiredError (ended now, and deleted), or a wrapped ErrUnavailable.
func (m *Manager) Load(ctx context.Context, cookie string, l Limits) (*Session, error) {
	t, err := ParseTicket(cookie)
	if err != nil {
		return nil, err
	}
	now := m.now()
	s, err := m.cachedOrFetch(ctx, t, now, l)
	if err != nil {
		return nil, err
	}
	if r := Check(s.Created, s.LastSeen, now, s.Pending != "", l); r != "" {
		m.forget(t.ID)
		// A claim that deleted the session but failed to tidy its
		// indexes still ended it: report it, or nobody will.
		claimed, err := m.store.Claim(ctx, t.ID, s.Identity.UserID)
		if err != nil && !claimed {
			return nil, err
		}
		return nil, &ExpiredError{Reason: r, ID: s.ID, UserID: s.Identity.UserID, Again: !claimed}
	}
	return s, nil
}

// sweepRounds bounds one EndDue: batches of records a changed policy
// keeps alive come back from Due on the memory store (which has no index
// to reschedule), and must not make a sweep loop.
const sweepRounds = 10

// EndDue ends the sessions whose deadline under l passed without anyone
// presenting them, and calls ended for each one this call ended: without
// it, a user who closes the browser is never reported as timed out (the
// store would drop the record silently at the end of its grace). Each
// end is claimed in the store (Store.Claim), so of the replicas sweeping
// and the requests arriving late, exactly one reports it. It returns how
// many sessions it ended.
func (m *Manager) EndDue(ctx context.Context, l Limits, batch int, ended func(Record, Reason)) (int, error) {
	now := m.now()
	n := 0
	for range sweepRounds {
		recs, err := m.store.Due(ctx, now.Add(m.grace), batch)
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			reason := Check(r.Created, r.LastSeen, now, r.Meta.Pending, l)
			if reason == "" {
				// Touched since it was indexed, or the policy now allows
				// longer: look again once its grace has begun.
				if err := m.store.Reschedule(ctx, r.ID, maxTime(r.Expires, now.Add(m.grace+time.Minute))); err != nil {
					return n, err
				}
				continue
			}
			m.forget(r.ID)
			claimed, err := m.store.Claim(ctx, r.ID, r.UserID)
			if claimed { // even with an index error: the session is gone
				n++
				ended(r, reason)
			}
			if err != nil {
				return n, err
			}
		}
		if len(recs) < batch {
			break
		}
	}
	return n, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (m *Manager) cachedOrFetch(ctx context.Context, t Ticket, now time.Time, l Limits) (*Session, error) {
	var tk nearcache.Ticket
	if m.cache != nil {
		if c, ok := m.cache.Get(t.ID, m.maxAge(l)); ok {
			if subtle.ConstantTimeCompare(c.secret[:], t.Secret[:]) != 1 {
				return nil, ErrNotFound
			}
			return c.sess, nil
		}
		tk = m.cache.Ticket()
	}
	rec, err := m.store.Get(ctx, t.ID, Touch{Now: now, After: TouchAfter(l.Idle, m.touchFraction), Idle: l.Idle, Absolute: l.Absolute, Grace: m.grace})
	if err != nil {
		return nil, err
	}
	plain, err := t.Open(rec.Data)
	if err != nil {
		// The id exists but the secret is wrong: a forged or tampered
		// cookie. Indistinguishable from an unknown session to the caller.
		return nil, ErrNotFound
	}
	s := new(Session)
	if err := json.Unmarshal(plain, s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	s.ID, s.Created, s.LastSeen = rec.ID, rec.Created, rec.LastSeen
	if m.cache != nil {
		m.cache.Put(tk, t.ID, rec.UserID, &cached{secret: t.Secret, sess: s})
	}
	return s, nil
}

// maxAge is how long a cached session may answer under limits l: the
// cache TTL, but no longer than the touch interval, so LastSeen in the
// store lags real use by no more than it would without a cache.
func (m *Manager) maxAge(l Limits) time.Duration {
	a := m.cacheTTL
	if ta := TouchAfter(l.Idle, m.touchFraction); ta > 0 && ta < a {
		a = ta
	}
	return a
}

// Revoke ends one session everywhere.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	m.forget(id)
	return m.store.Delete(ctx, id)
}

// RevokeUser ends every session of the user and reports how many.
func (m *Manager) RevokeUser(ctx context.Context, userID string) (int, error) {
	if m.cache != nil {
		m.cache.EvictOwner(userID)
	}
	return m.store.DeleteUser(ctx, userID)
}

// RevokeUserBefore ends the user's sessions created before t (a
// revocation recorded at t must not end a login made after it).
func (m *Manager) RevokeUserBefore(ctx context.Context, userID string, t time.Time) (int, error) {
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if r.Created.Before(t) {
			if err := m.Revoke(ctx, r.ID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// RevokeUserExcept ends every session of the user but keep (none kept
// when keep is empty): what a change of the user's factors does to the
// sessions that did not make it (ASVS 7.4.3).
func (m *Manager) RevokeUserExcept(ctx context.Context, userID, keep string) (int, error) {
	if keep == "" {
		return m.RevokeUser(ctx, userID)
	}
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if r.ID == keep {
			continue
		}
		if err := m.Revoke(ctx, r.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// List returns the user's live sessions' metadata.
func (m *Manager) List(ctx context.Context, userID string) ([]Record, error) {
	return m.store.ListUser(ctx, userID)
}

// Sweep drops cache entries older than the cache TTL; the server calls it
// periodically so sessions that stopped arriving do not stay in memory.
func (m *Manager) Sweep() {
	if m.cache != nil {
		m.cache.Sweep(m.cacheTTL)
	}
}

// forget evicts id here at once; the store's delete publishes the event
// that evicts it on the other replicas.
func (m *Manager) forget(id string) {
	if m.cache != nil {
		m.cache.Evict(id)
	}
}

// Authenticated reports whether every required step is done, so the
// session may reach the upstream.
func (s *Session) Authenticated() bool { return s != nil && s.Pending == "" }
