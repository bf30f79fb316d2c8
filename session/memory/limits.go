package memory

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// Incr adds one to key; the first increment fixes the window's end, later
// ones do not move it, so a steady trickle of failures still resets.
func (s *Store) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	return s.IncrBy(ctx, key, 1, window)
}

// IncrBy adds by to key, as Incr adds one.
func (s *Store) IncrBy(_ context.Context, key string, by int64, window time.Duration) (int64, error) {
	if window <= 0 || by <= 0 {
		return 0, errors.New("memory incr: window and amount must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || expired(c.expires, now) {
		c = counter{expires: now.Add(window)}
	}
	c.n += by
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

// Reserve is Incr that refuses to go past limit, under the same lock as
// every other counter operation. The window's end identifies the window.
func (s *Store) Reserve(_ context.Context, key string, limit int64, window time.Duration) (session.Reservation, error) {
	if window <= 0 || limit <= 0 {
		return session.Reservation{}, errors.New("memory reserve: window and limit must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || expired(c.expires, now) {
		c = counter{expires: now.Add(window)}
	}
	if c.n >= limit {
		return session.Reservation{Count: c.n, Window: c.expires.UnixNano()}, nil
	}
	c.n++
	s.counters[key] = c
	return session.Reservation{Count: c.n, Taken: true, Window: c.expires.UnixNano()}, nil
}

// Release gives back r's attempt if r's window is still the live one.
func (s *Store) Release(_ context.Context, key string, r session.Reservation) error {
	if !r.Taken {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || expired(c.expires, now) || c.expires.UnixNano() != r.Window || c.n <= 0 {
		return nil
	}
	c.n--
	s.counters[key] = c
	return nil
}

// SetIfGreater raises the mark under key to value, if that is a raise.
func (s *Store) SetIfGreater(_ context.Context, key string, value int64, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("memory set mark: ttl must be positive")
	}
	if value > maxMark || value < -maxMark {
		return false, errors.New("memory set mark: value out of range")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.marks[key]; ok && !expired(m.expires, now) && m.v >= value {
		return false, nil
	}
	s.marks[key] = mark{v: value, expires: now.Add(ttl)}
	return true, nil
}

// maxMark is the largest magnitude session.Watermarks promises to compare
// exactly; the memory store enforces it too, so both backends refuse the
// same inputs.
const maxMark = 1 << 53

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

// Peek returns a copy of the live value under key.
func (s *Store) Peek(_ context.Context, key string) ([]byte, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.nonces[key]
	if !ok || expired(n.expires, now) {
		return nil, session.ErrNotFound
	}
	return append([]byte{}, n.value...), nil
}

// SetValue stores a copy of value, replacing what was under key.
func (s *Store) SetValue(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("memory set value: ttl must be positive")
	}
	now := s.now()
	s.mu.Lock()
	s.values[key] = nonce{value: append([]byte{}, value...), expires: now.Add(ttl)}
	s.mu.Unlock()
	return nil
}

// Value returns a copy of the live value under key.
func (s *Store) Value(_ context.Context, key string) ([]byte, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.values[key]
	if !ok || expired(v.expires, now) {
		return nil, session.ErrNotFound
	}
	return append([]byte{}, v.value...), nil
}
