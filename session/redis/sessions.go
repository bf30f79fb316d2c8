package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
)

// getFields are read by a plain Get; listFields skip the sealed data.
var (
	getFields  = []string{"d", "u", "c", "t", "x", "m"}
	listFields = []string{"u", "c", "t", "x", "m"}
)

// Put writes the index entries (user, expiry) before the session in one
// pipeline: if the pipeline breaks half way, the worst left behind is an
// index entry for no session (pruned later), never a session DeleteUser
// or the sweep cannot find.
func (s *Store) Put(ctx context.Context, r session.Record) error {
	if err := validate(r); err != nil {
		return err
	}
	if !r.Expires.After(time.Now()) {
		// Redis would drop the key at once; doing it explicitly keeps an
		// expiry in the past away from the user index's TTL.
		return s.Delete(ctx, r.ID)
	}
	meta, err := json.Marshal(r.Meta)
	if err != nil {
		return fmt.Errorf("redis put session: %w", err)
	}
	key, x := s.sessionKey(r.ID), r.Expires.UnixMilli()
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT, and
		// Put runs once per login.
		indexAdd.Eval(ctx, p, []string{s.userKey(r.UserID)}, r.ID, x)
		p.ZAdd(ctx, s.dueKey(), goredis.Z{Score: float64(x), Member: r.ID})
		p.HSet(ctx, key, "d", r.Data, "u", r.UserID, "c", r.Created.UnixMilli(),
			"t", r.LastSeen.UnixMilli(), "x", x, "m", meta, "i", x)
		p.PExpireAt(ctx, key, r.Expires)
		return nil
	})
	return storeErr("put session", err)
}

func validate(r session.Record) error {
	switch {
	case r.ID == "":
		return errors.New("redis put session: empty id")
	case r.Expires.IsZero():
		return errors.New("redis put session: zero Expires would never expire")
	}
	return nil
}

// Get is one round trip: HMGET for a zero Touch, otherwise the getTouch
// script. The exception is a touch that moves the session's expiry past
// what its user index was last extended to (at most about once per idle
// period): that costs a second call, see getTouch.
func (s *Store) Get(ctx context.Context, id string, t session.Touch) (session.Record, error) {
	key := s.sessionKey(id)
	if t.Now.IsZero() {
		v, err := s.c.HMGet(ctx, key, getFields...).Result()
		if err != nil {
			return session.Record{}, storeErr("get session", err)
		}
		return decode(id, v)
	}
	v, err := getTouch.Run(ctx, s.c, []string{key}, t.Now.UnixMilli(),
		t.After.Milliseconds(), t.Idle.Milliseconds(), t.Absolute.Milliseconds(), t.Grace.Milliseconds()).Slice()
	if err != nil {
		return session.Record{}, storeErr("get session", err)
	}
	r, err := decode(id, v)
	if err != nil {
		return session.Record{}, err
	}
	if ext, _ := v[6].(int64); ext > 0 {
		err := indexAdd.Run(ctx, s.c, []string{s.userKey(r.UserID)}, id, ext).Err()
		if err != nil {
			return session.Record{}, storeErr("extend session index", err)
		}
	}
	return r, nil
}

// decode builds a Record from {d, u, c, t, x, m}; a nil x means the hash
// does not exist.
func decode(id string, v []any) (session.Record, error) {
	if len(v) < len(getFields) || v[4] == nil {
		return session.Record{}, session.ErrNotFound
	}
	var ms [3]int64
	for i := range ms {
		n, err := toInt(v[2+i])
		if err != nil {
			return session.Record{}, storeErr("decode session", err)
		}
		ms[i] = n
	}
	u, _ := v[1].(string)
	r := session.Record{ID: id, UserID: u, Created: time.UnixMilli(ms[0]),
		LastSeen: time.UnixMilli(ms[1]), Expires: time.UnixMilli(ms[2])}
	if d, ok := v[0].(string); ok {
		r.Data = []byte(d)
	}
	if m, _ := v[5].(string); m != "" {
		if err := json.Unmarshal([]byte(m), &r.Meta); err != nil {
			return session.Record{}, storeErr("decode session meta", err)
		}
	}
	return r, nil
}

// toInt reads a number that Redis returned as a bulk string (HMGET) or an
// integer (a Lua number).
func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("unexpected %T in session hash", v)
}

// Delete removes the session and its index entry.
func (s *Store) Delete(ctx context.Context, id string) error {
	userID, err := deleteSession.Run(ctx, s.c, []string{s.sessionKey(id)}, s.channel(), sessionEvent(id)).Text()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return storeErr("delete session", err)
	}
	return storeErr("delete session index", s.unindex(ctx, userID, id))
}

// unindex drops a deleted session from its user's index and the expiry
// index.
func (s *Store) unindex(ctx context.Context, userID, id string) error {
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, s.userKey(userID), id)
		p.ZRem(ctx, s.dueKey(), id)
		return nil
	})
	return err
}

// ListUser reads the index, then every listed session in one pipeline,
// and prunes ids whose session expired or now belongs to someone else.
func (s *Store) ListUser(ctx context.Context, userID string) ([]session.Record, error) {
	ukey := s.userKey(userID)
	idx, err := s.c.HGetAll(ctx, ukey).Result()
	if err != nil {
		return nil, storeErr("list sessions", err)
	}
	if len(idx) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(idx))
	cmds := make([]*goredis.SliceCmd, 0, len(idx))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for id := range idx {
			ids = append(ids, id)
			cmds = append(cmds, p.HMGet(ctx, s.sessionKey(id), listFields...))
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("list sessions", err)
	}
	var out []session.Record
	var stale []any
	for i, id := range ids {
		r, err := decode(id, append([]any{nil}, cmds[i].Val()...))
		switch {
		case errors.Is(err, session.ErrNotFound) || err == nil && r.UserID != userID:
			stale = append(stale, id, idx[id])
		case err != nil:
			return nil, err
		default:
			out = append(out, r)
		}
	}
	sortRecords(out)
	return out, s.prune(ctx, ukey, stale)
}

// DeleteUser deletes each indexed session still owned by the user, counts
// those that existed, and prunes the ids it saw from the index.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ukey := s.userKey(userID)
	idx, err := s.c.HGetAll(ctx, ukey).Result()
	if err != nil {
		return 0, storeErr("delete user sessions", err)
	}
	if len(idx) == 0 {
		return 0, nil
	}
	seen := make([]any, 0, 2*len(idx))
	cmds := make([]*goredis.Cmd, 0, len(idx))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for id, v := range idx {
			seen = append(seen, id, v)
			cmds = append(cmds, deleteOwned.Eval(ctx, p, []string{s.sessionKey(id)}, userID, s.channel(), sessionEvent(id)))
		}
		return nil
	})
	if err != nil {
		return 0, storeErr("delete user sessions", err)
	}
	n := 0
	ids := make([]any, 0, len(idx))
	for i, c := range cmds {
		if d, _ := c.Int64(); d == 1 {
			n++
		}
		ids = append(ids, seen[2*i])
	}
	if err := s.c.ZRem(ctx, s.dueKey(), ids...).Err(); err != nil {
		return n, storeErr("delete user sessions", err)
	}
	return n, s.prune(ctx, ukey, seen)
}

// prune removes (id, value) pairs from the user index.
func (s *Store) prune(ctx context.Context, ukey string, pairs []any) error {
	if len(pairs) == 0 {
		return nil
	}
	return storeErr("prune session index", indexPrune.Run(ctx, s.c, []string{ukey}, pairs...).Err())
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

// Claim runs deleteOwned (which also publishes the invalidation) and, when
// it deleted, drops the session from the user and expiry indexes.
func (s *Store) Claim(ctx context.Context, id, userID string) (bool, error) {
	n, err := deleteOwned.Run(ctx, s.c, []string{s.sessionKey(id)}, userID, s.channel(), sessionEvent(id)).Int64()
	if err != nil {
		return false, storeErr("claim session", err)
	}
	if n != 1 {
		return false, nil
	}
	return true, storeErr("claim session index", s.unindex(ctx, userID, id))
}

// Due reads the expiry index, then the listed sessions in one pipeline;
// ids whose session is gone (deleted, or dropped by its TTL) leave the
// index.
func (s *Store) Due(ctx context.Context, before time.Time, limit int) ([]session.Record, error) {
	if limit <= 0 {
		return nil, errors.New("redis due sessions: limit must be positive")
	}
	ids, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.dueKey(), Start: "-inf",
		Stop: strconv.FormatInt(before.UnixMilli(), 10), ByScore: true, Count: int64(limit)}).Result()
	if err != nil {
		return nil, storeErr("due sessions", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.SliceCmd, len(ids))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.sessionKey(id), listFields...)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("due sessions", err)
	}
	var out []session.Record
	var gone []any
	for i, id := range ids {
		r, err := decode(id, append([]any{nil}, cmds[i].Val()...))
		switch {
		case errors.Is(err, session.ErrNotFound):
			gone = append(gone, id)
		case err != nil:
			return nil, err
		default:
			out = append(out, r)
		}
	}
	if len(gone) > 0 {
		if err := s.c.ZRem(ctx, s.dueKey(), gone...).Err(); err != nil {
			return nil, storeErr("prune due sessions", err)
		}
	}
	return out, nil
}

// Reschedule updates the id's score only if it is still indexed (ZADD
// XX), so a session claimed meanwhile does not come back.
func (s *Store) Reschedule(ctx context.Context, id string, at time.Time) error {
	err := s.c.ZAddXX(ctx, s.dueKey(), goredis.Z{Score: float64(at.UnixMilli()), Member: id}).Err()
	return storeErr("reschedule session", err)
}
