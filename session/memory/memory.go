// Package memory is the in-process session backend: the default for a
// single gateway instance. It implements session.Backend with maps under one
// lock, expires entries by an injected clock, and runs a janitor that purges
// what has expired so memory stays proportional to live sessions.
//
// Ownership of byte slices: Put and PutOnce copy what they are given, and
// Get copies Data and Meta.Methods out again, so no caller ever shares a
// slice with the store. That is one copy per Get; the alternative, handing
// out the stored slice as "read-only", would let one buggy caller corrupt
// every later reader's session, which is not worth a few hundred bytes.
package memory

import (
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// janitorInterval bounds how long expired entries occupy memory. Lookups
// ignore them already, so this only trades a little memory for less
// locking.
const janitorInterval = time.Minute

var _ session.Backend = (*Store)(nil)

// Store is an in-memory session.Backend. Create it with New and stop its
// janitor with Close; it keeps working after Close, only unpurged.
type Store struct {
	now func() time.Time

	mu       sync.RWMutex
	sessions map[string]session.Record
	// lookAgain holds Reschedule's times: a record the sweep found
	// not yet ended is not due before then, even while its Expires says
	// it is (a policy that now allows longer), so it cannot fill every
	// batch ahead of the records that are ended.
	lookAgain map[string]time.Time
	users     map[string]map[string]struct{} // userID → session ids
	counters  map[string]counter
	nonces    map[string]nonce
	values    map[string]nonce
	marks     map[string]mark

	busMu   sync.Mutex
	subs    map[int]busSub
	nextSub int

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type counter struct {
	n       int64
	expires time.Time
}

type mark struct {
	v       int64
	expires time.Time
}

type nonce struct {
	value   []byte
	expires time.Time
}

// New returns a Store whose expiry decisions use now (time.Now if nil) and
// starts its janitor.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{
		now:       now,
		sessions:  make(map[string]session.Record),
		lookAgain: make(map[string]time.Time),
		users:     make(map[string]map[string]struct{}),
		counters:  make(map[string]counter),
		nonces:    make(map[string]nonce),
		values:    make(map[string]nonce),
		marks:     make(map[string]mark),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go s.janitor(janitorInterval)
	return s
}

// Close stops the janitor and waits for it. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

func (s *Store) janitor(every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.purge()
		}
	}
}

// purge drops every expired session, counter, nonce and mark.
func (s *Store) purge() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.sessions {
		if expired(r.Expires, now) {
			s.remove(id, r.UserID)
		}
	}
	for k, c := range s.counters {
		if expired(c.expires, now) {
			delete(s.counters, k)
		}
	}
	for k, n := range s.nonces {
		if expired(n.expires, now) {
			delete(s.nonces, k)
		}
	}
	for k, v := range s.values {
		if expired(v.expires, now) {
			delete(s.values, k)
		}
	}
	for k, m := range s.marks {
		if expired(m.expires, now) {
			delete(s.marks, k)
		}
	}
}

// expired reports whether a deadline has been reached: an entry is gone at
// the instant of its deadline, not one tick after, matching Redis.
func expired(deadline, now time.Time) bool {
	return !now.Before(deadline)
}
