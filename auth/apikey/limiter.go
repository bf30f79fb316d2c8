package apikey

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// limiter enforces a per-key rate limit over fixed windows counted in the
// shared store, so it holds across replicas, without a store round trip
// per request: a replica claims the window's budget in chunks (a
// twentieth of the limit) and spends them locally. Tokens a replica
// claimed and did not spend are lost at the window's end, so with several
// replicas a key may get fewer than the limit, never more.
type limiter struct {
	c  Counter
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	mu     sync.Mutex
	window int64 // index of the window the tokens belong to
	left   int64
}

func newLimiter(c Counter) *limiter { return &limiter{c: c, m: map[string]*bucket{}} }

// allow takes one token of key id's budget for the window holding now; it
// reports false, with the time until the next window, when none is left.
func (l *limiter) allow(ctx context.Context, id string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	idx := now.UnixNano() / int64(window)
	l.mu.Lock()
	b := l.m[id]
	if b == nil {
		if len(l.m) > 100000 {
			clear(l.m) // keys that stopped coming; each costs one claim to rebuild
		}
		b = &bucket{}
		l.m[id] = b
	}
	l.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.window == idx && b.left > 0 {
		b.left--
		return true, 0, nil
	}
	retry := time.Duration(int64(window) - now.UnixNano()%int64(window))
	if b.window == idx && b.left < 0 {
		return false, retry, nil // this replica already found the window spent
	}
	chunk := max(1, int64(limit)/20)
	n, err := l.c.IncrBy(ctx, "apikey:rate:"+id+":"+strconv.FormatInt(idx, 10), chunk, window)
	if err != nil {
		return false, 0, err
	}
	granted := chunk - max(0, n-int64(limit))
	b.window = idx
	if granted <= 0 {
		b.left = -1
		return false, retry, nil
	}
	b.left = granted - 1
	return true, 0, nil
}
