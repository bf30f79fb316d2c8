package memory

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// Put stores a private copy of r, replacing any record under r.ID. A record
// whose Expires has already passed is not stored; one under the same id is
// removed, as Redis does for a PEXPIREAT in the past.
func (s *Store) Put(_ context.Context, r session.Record) error {
	if err := validate(r); err != nil {
		return err
	}
	now := s.now()
	r.Data = bytes.Clone(r.Data)
	r.Meta.Methods = cloneStrings(r.Meta.Methods)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sessions[r.ID]; ok {
		s.remove(r.ID, old.UserID)
	}
	if expired(r.Expires, now) {
		return nil
	}
	s.sessions[r.ID] = r
	ids := s.users[r.UserID]
	if ids == nil {
		ids = make(map[string]struct{})
		s.users[r.UserID] = ids
	}
	ids[r.ID] = struct{}{}
	return nil
}

func validate(r session.Record) error {
	switch {
	case r.ID == "":
		return errors.New("memory put session: empty id")
	case r.Expires.IsZero():
		return errors.New("memory put session: zero Expires would never expire")
	}
	return nil
}

// Get takes only the read lock unless t asks for a write, so concurrent
// requests of logged-in users do not serialise on each other.
func (s *Store) Get(_ context.Context, id string, t session.Touch) (session.Record, error) {
	now := s.now()
	s.mu.RLock()
	r, ok := s.sessions[id]
	s.mu.RUnlock()
	if !ok || gone(r, now, t) {
		return session.Record{}, session.ErrNotFound
	}
	if touchDue(r, t) {
		return s.touch(id, t, now)
	}
	return export(r), nil
}

// touch re-reads under the write lock because another Get may have touched
// or someone deleted the record since the read lock was released.
func (s *Store) touch(id string, t session.Touch, now time.Time) (session.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok || gone(r, now, t) {
		return session.Record{}, session.ErrNotFound
	}
	if touchDue(r, t) {
		r.LastSeen = t.Now
		r.Expires = minTime(r.Created.Add(t.Absolute), t.Now.Add(t.Idle)).Add(t.Grace)
		if expired(r.Expires, t.Now) {
			s.remove(id, r.UserID)
			return session.Record{}, session.ErrNotFound
		}
		s.sessions[id] = r
	}
	return export(r), nil
}

// gone reports whether r has expired by the store's clock or by the
// caller's, so a Get never returns what the caller already considers dead.
func gone(r session.Record, now time.Time, t session.Touch) bool {
	return expired(r.Expires, now) || (!t.Now.IsZero() && expired(r.Expires, t.Now))
}

// touchDue is the rule documented on session.Touch.
func touchDue(r session.Record, t session.Touch) bool {
	if t.Now.IsZero() {
		return false
	}
	since := t.Now.Sub(r.LastSeen)
	return since >= t.After && since < t.Idle
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// export copies the slices of a stored record; the stored ones are never
// written in place, so copying after the lock is released is safe.
func export(r session.Record) session.Record {
	r.Data = bytes.Clone(r.Data)
	r.Meta.Methods = cloneStrings(r.Meta.Methods)
	return r
}

// cloneStrings returns nil for an empty slice so a round trip through the
// store looks the same as through Redis's JSON (omitempty).
func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// Delete removes the record; a missing one is not an error.
func (s *Store) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	r, ok := s.sessions[id]
	if ok {
		s.remove(id, r.UserID)
	}
	s.mu.Unlock()
	if ok {
		s.published([]string{id})
	}
	return nil
}

// ListUser returns the user's live records without Data, oldest first.
func (s *Store) ListUser(_ context.Context, userID string) ([]session.Record, error) {
	now := s.now()
	s.mu.RLock()
	var out []session.Record
	for id := range s.users[userID] {
		r := s.sessions[id]
		if expired(r.Expires, now) {
			continue
		}
		r.Data = nil
		r.Meta.Methods = cloneStrings(r.Meta.Methods)
		out = append(out, r)
	}
	s.mu.RUnlock()
	sortRecords(out)
	return out, nil
}

// sortRecords orders by login time so a "your sessions" page is stable.
func sortRecords(rs []session.Record) {
	slices.SortFunc(rs, func(a, b session.Record) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// DeleteUser removes all of the user's records and counts the live ones:
// expired records were already gone as far as callers could tell.
func (s *Store) DeleteUser(_ context.Context, userID string) (int, error) {
	now := s.now()
	s.mu.Lock()
	n := 0
	var ids []string
	for id := range s.users[userID] {
		if !expired(s.sessions[id].Expires, now) {
			n++
		}
		s.remove(id, userID)
		ids = append(ids, id)
	}
	s.mu.Unlock()
	s.published(ids)
	return n, nil
}

// Ping always succeeds: the store is this process.
func (s *Store) Ping(context.Context) error { return nil }

// remove deletes a session and its index entry; the caller holds mu.
func (s *Store) remove(id, userID string) {
	delete(s.sessions, id)
	delete(s.lookAgain, id)
	ids := s.users[userID]
	delete(ids, id)
	if len(ids) == 0 {
		delete(s.users, userID)
	}
}

// Claim deletes a live record of userID and reports whether it did.
func (s *Store) Claim(_ context.Context, id, userID string) (bool, error) {
	now := s.now()
	s.mu.Lock()
	r, ok := s.sessions[id]
	ok = ok && r.UserID == userID && !expired(r.Expires, now)
	if ok {
		s.remove(id, userID)
	}
	s.mu.Unlock()
	if ok {
		s.published([]string{id})
	}
	return ok, nil
}

// Due scans every record: the memory store keeps Expires current on each
// touch, so it needs no index, and a scan of 100,000 records every sweep
// costs milliseconds.
func (s *Store) Due(_ context.Context, before time.Time, limit int) ([]session.Record, error) {
	if limit <= 0 {
		return nil, errors.New("memory due sessions: limit must be positive")
	}
	now := s.now()
	type due struct {
		at time.Time // when the sweep should look: Expires, or later when rescheduled
		r  session.Record
	}
	s.mu.RLock()
	var all []due
	for _, r := range s.sessions {
		at := r.Expires
		if again := s.lookAgain[r.ID]; again.After(at) {
			at = again
		}
		if !expired(r.Expires, now) && !at.After(before) {
			r.Data = nil
			r.Meta.Methods = cloneStrings(r.Meta.Methods)
			all = append(all, due{at, r})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b due) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.r.ID, b.r.ID)
	})
	out := make([]session.Record, 0, min(len(all), limit))
	for _, d := range all[:min(len(all), limit)] {
		out = append(out, d.r)
	}
	return out, nil
}

// Reschedule keeps a live record out of Due until at (Due otherwise
// reads each record's current Expires, which a touch keeps current).
func (s *Store) Reschedule(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	if _, ok := s.sessions[id]; ok {
		s.lookAgain[id] = at
	}
	s.mu.Unlock()
	return nil
}
