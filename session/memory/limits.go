package memory

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// Incr adds one to key; the first increment fixes the window's end, later
// ones do not move it, so a steady trickle of failures still resets.
func (s *Store) Incr(_ context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, errors.New("memory incr: window must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || expired(c.expires, now) {
		c = counter{expires: now.Add(window)}
	}
	c.n++
	s.counters[key] = c
	return c.n, nil
}

// Count returns the counter's value, 0 when absent or its window is over.
func (s *Store) Count(_ context.Context, key string) (int64, error) {
	now := s.now()
	s.mu.RLock()
	c, ok := s.counters[key]
	s.mu.RUnlock()
	if !ok || expired(c.expires, now) {
		return 0, nil
	}
	return c.n, nil
}

// Reset deletes the counter.
func (s *Store) Reset(_ context.Context, key string) error {
	s.mu.Lock()
	delete(s.counters, key)
	s.mu.Unlock()
	return nil
}

// PutOnce stores a copy of value unless a live value is under key.
func (s *Store) PutOnce(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("memory put nonce: ttl must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nonces[key]; ok && !expired(n.expires, now) {
		return false, nil
	}
	s.nonces[key] = nonce{value: append([]byte{}, value...), expires: now.Add(ttl)}
	return true, nil
}

// Take removes and returns the value. The stored copy leaves the store
// with it, so it is handed over without copying again.
func (s *Store) Take(_ context.Context, key string) ([]byte, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nonces[key]
	if !ok {
		return nil, session.ErrNotFound
	}
	delete(s.nonces, key)
	if expired(n.expires, now) {
		return nil, session.ErrNotFound
	}
	return n.value, nil
}
