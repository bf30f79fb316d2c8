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

// Put writes the index entry before the session in one pipeline: if the
// pipeline breaks half way, the worst left behind is an index entry for no
// session (pruned later), never a session DeleteUser cannot find.
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
	return storeErr("delete session index", s.c.HDel(ctx, s.userKey(userID), id).Err())
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
	for _, c := range cmds {
		if d, _ := c.Int64(); d == 1 {
			n++
		}
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
