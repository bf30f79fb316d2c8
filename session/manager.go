package session

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Manager creates, loads and revokes sessions on top of a Store. It owns
// sealing and a small revocation-aware local cache: a replica answers from
// memory for at most CacheTTL (kept under one second) before it asks the
// store again, so a session revoked on any replica stops working everywhere
// within CacheTTL while the hot path mostly makes no store round trip.
type Manager struct {
	store         Store
	now           func() time.Time
	cacheTTL      time.Duration
	touchFraction int
	grace         time.Duration

	mu    sync.RWMutex
	cache map[string]*cached
}

type cached struct {
	secret  [32]byte
	sess    *Session
	fetched time.Time
}

// maxCached bounds the local cache; past it the cache is dropped whole,
// which costs one store read per active session and nothing else.
const maxCached = 100_000

// Options configure a Manager.
type Options struct {
	Now           func() time.Time // defaults to time.Now
	CacheTTL      time.Duration    // 0 disables the local cache
	TouchFraction int              // see TouchAfter; defaults to 20
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
	return &Manager{store: store, now: o.Now, cacheTTL: o.CacheTTL, touchFraction: o.TouchFraction, grace: o.Grace, cache: map[string]*cached{}}
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
		Meta: Meta{ClientIP: s.ClientIP, UserAgent: s.Agent, Methods: s.Identity.Methods},
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
		if err := m.store.Delete(ctx, t.ID); err != nil {
			return nil, err
		}
		return nil, &ExpiredError{Reason: r}
	}
	return s, nil
}

func (m *Manager) cachedOrFetch(ctx context.Context, t Ticket, now time.Time, l Limits) (*Session, error) {
	if m.cacheTTL > 0 {
		m.mu.RLock()
		c := m.cache[t.ID]
		m.mu.RUnlock()
		if c != nil && now.Sub(c.fetched) < m.cacheTTL && now.Sub(c.fetched) >= 0 {
			if subtle.ConstantTimeCompare(c.secret[:], t.Secret[:]) != 1 {
				return nil, ErrNotFound
			}
			return c.sess, nil
		}
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
	if m.cacheTTL > 0 {
		m.mu.Lock()
		if len(m.cache) >= maxCached {
			clear(m.cache)
		}
		m.cache[t.ID] = &cached{secret: t.Secret, sess: s, fetched: now}
		m.mu.Unlock()
	}
	return s, nil
}

// Revoke ends one session everywhere.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	m.forget(id)
	return m.store.Delete(ctx, id)
}

// RevokeUser ends every session of the user and reports how many.
func (m *Manager) RevokeUser(ctx context.Context, userID string) (int, error) {
	m.mu.Lock()
	for id, c := range m.cache {
		if c.sess.Identity.UserID == userID {
			delete(m.cache, id)
		}
	}
	m.mu.Unlock()
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
	now := m.now()
	m.mu.Lock()
	for id, c := range m.cache {
		if now.Sub(c.fetched) >= m.cacheTTL {
			delete(m.cache, id)
		}
	}
	m.mu.Unlock()
}

func (m *Manager) forget(id string) {
	if m.cacheTTL > 0 {
		m.mu.Lock()
		delete(m.cache, id)
		m.mu.Unlock()
	}
}

// Authenticated reports whether every required step is done, so the
// session may reach the upstream.
func (s *Session) Authenticated() bool { return s != nil && s.Pending == "" }
