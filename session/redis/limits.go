package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
)

// Incr increments key; the first increment starts the window, in one
// script so a crash between INCR and PEXPIRE cannot leave an immortal key.
func (s *Store) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	return s.IncrBy(ctx, key, 1, window)
}

// IncrBy adds by to key, as Incr adds one.
func (s *Store) IncrBy(ctx context.Context, key string, by int64, window time.Duration) (int64, error) {
	if window <= 0 || by <= 0 {
		return 0, errors.New("redis incr: window and amount must be positive")
	}
	ms := max(window.Milliseconds(), 1)
	n, err := incrWindow.Run(ctx, s.c, []string{s.counterKey(key)}, ms, by).Int64()
	if err != nil {
		return 0, storeErr("incr", err)
	}
	return n, nil
}

// Count returns the counter's value, 0 if absent.
func (s *Store) Count(ctx context.Context, key string) (int64, error) {
	v, err := s.c.Get(ctx, s.counterKey(key)).Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, storeErr("count", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, storeErr("count", err)
	}
	return n, nil
}

// Reserve is one script: read, compare with limit, increment, so racing
// replicas cannot all pass the check.
func (s *Store) Reserve(ctx context.Context, key string, limit int64, window time.Duration) (session.Reservation, error) {
	if window <= 0 || limit <= 0 {
		return session.Reservation{}, errors.New("redis reserve: window and limit must be positive")
	}
	ms := max(window.Milliseconds(), 1)
	v, err := reserve.Run(ctx, s.c, []string{s.counterKey(key)}, limit, ms).Int64Slice()
	if err != nil {
		return session.Reservation{}, storeErr("reserve", err)
	}
	if len(v) != 3 {
		return session.Reservation{}, storeErr("reserve", fmt.Errorf("script returned %d values, want 3", len(v)))
	}
	return session.Reservation{Count: v[0], Taken: v[1] == 1, Window: v[2]}, nil
}

// Release gives back r's attempt if the key is still in r's window.
func (s *Store) Release(ctx context.Context, key string, r session.Reservation) error {
	if !r.Taken {
		return nil
	}
	return storeErr("release", release.Run(ctx, s.c, []string{s.counterKey(key)}, r.Window).Err())
}

// SetIfGreater compares and sets in one script.
func (s *Store) SetIfGreater(ctx context.Context, key string, value int64, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("redis set mark: ttl must be positive")
	}
	if value > maxMark || value < -maxMark {
		return false, errors.New("redis set mark: value out of range")
	}
	ms := max(ttl.Milliseconds(), 1)
	n, err := setIfGreater.Run(ctx, s.c, []string{s.markKey(key)}, value, ms).Int64()
	if err != nil {
		return false, storeErr("set mark", err)
	}
	return n == 1, nil
}

// maxMark is 2^53, the largest magnitude a Lua number holds exactly.
const maxMark = 1 << 53

// Reset deletes the counter.
func (s *Store) Reset(ctx context.Context, key string) error {
	return storeErr("reset", s.c.Del(ctx, s.counterKey(key)).Err())
}

// PutOnce is SET NX PX: atomic across replicas.
func (s *Store) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("redis put nonce: ttl must be positive")
	}
	ok, err := s.c.SetNX(ctx, s.nonceKey(key), value, max(ttl, time.Millisecond)).Result()
	if err != nil {
		return false, storeErr("put nonce", err)
	}
	return ok, nil
}

// Take is GETDEL, so two replicas racing for one nonce cannot both win;
// a missing key is session.ErrNotFound.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.GetDel(ctx, s.nonceKey(key)).Bytes()
	if err != nil {
		return nil, storeErr("take nonce", err)
	}
	return v, nil
}

// Peek reads the nonce's value and leaves it.
func (s *Store) Peek(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.Get(ctx, s.nonceKey(key)).Bytes()
	if err != nil {
		return nil, storeErr("peek nonce", err)
	}
	return v, nil
}

// SetValue is SET PX: the last writer wins.
func (s *Store) SetValue(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("redis set value: ttl must be positive")
	}
	return storeErr("set value", s.c.Set(ctx, s.valueKey(key), value, max(ttl, time.Millisecond)).Err())
}

// Value is GET; a missing key is session.ErrNotFound.
func (s *Store) Value(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.Get(ctx, s.valueKey(key)).Bytes()
	if err != nil {
		return nil, storeErr("get value", err)
	}
	return v, nil
}
