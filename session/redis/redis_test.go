package redis

import (
	"bytes"
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

func TestRedis(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T, _ func() time.Time) session.Backend {
		return newTestStore(t)
	})
}

// newTestStore returns a Store on the test Redis under a fresh prefix; the
// caller closes it (RunTests does).
func newTestStore(t testing.TB, hooks ...goredis.Hook) *Store {
	c := goredis.NewClient(&goredis.Options{Addr: storetest.RedisAddr(t)})
	for _, h := range hooks {
		c.AddHook(h)
	}
	return NewWithClient(c, storetest.RedisPrefix(t))
}

// raw is a second client for inspecting what the Store wrote.
func raw(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: storetest.RedisAddr(t)})
	t.Cleanup(func() { c.Close() })
	return c
}

func testRecord(now time.Time) session.Record {
	return session.Record{
		ID: "s1", UserID: "u1", Data: []byte("\x01sealed-ciphertext\xff"),
		Created: now, LastSeen: now, Expires: now.Add(30 * time.Minute),
		Meta: session.Meta{ClientIP: "192.0.2.1", UserAgent: "test", Methods: []string{"pwd"}},
	}
}

// TestRedisKeyLayout reads the raw hash: d holds exactly the bytes Put got
// (sealing is the caller's job, so the store must add no cleartext copy),
// the other fields are as documented, and both keys carry expiries.
func TestRedisKeyLayout(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	defer s.Close()
	now := time.Now().Truncate(time.Millisecond)
	r := testRecord(now)
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	rc := raw(t)
	h, err := rc.HGetAll(ctx, s.sessionKey("s1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	x := strconv.FormatInt(r.Expires.UnixMilli(), 10)
	want := map[string]string{
		"d": string(r.Data), "u": "u1", "c": strconv.FormatInt(now.UnixMilli(), 10),
		"t": strconv.FormatInt(now.UnixMilli(), 10), "x": x, "i": x,
		"m": `{"ip":"192.0.2.1","ua":"test","amr":["pwd"]}`,
	}
	for f, v := range want {
		if h[f] != v {
			t.Errorf("field %s: got %q, want %q", f, h[f], v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("got fields %v, want exactly %d", h, len(want))
	}
	for f, v := range h {
		if f != "d" && bytes.Contains([]byte(v), r.Data) {
			t.Errorf("field %s repeats the session data", f)
		}
	}
	for _, key := range []string{s.sessionKey("s1"), s.userKey("u1")} {
		if got := rc.PExpireTime(ctx, key).Val(); got != 30*time.Minute+time.Duration(now.UnixMilli())*time.Millisecond {
			t.Errorf("%s: got PEXPIRETIME %v, want Expires", key, got)
		}
	}
	if got := rc.HGet(ctx, s.userKey("u1"), "s1").Val(); got != x {
		t.Errorf("index entry: got %q, want %q", got, x)
	}
}

// countHook counts commands and pipelines, i.e. round trips.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestRedisGetRoundTrips checks the hot-path budget: one call per Get,
// whether or not it touches, except the documented index extension.
func TestRedisGetRoundTrips(t *testing.T) {
	ctx := t.Context()
	h := &countHook{}
	s := newTestStore(t, h)
	defer s.Close()
	t0 := time.Now().Truncate(time.Millisecond)
	if err := s.Put(ctx, testRecord(t0)); err != nil { // Expires t0+30m
		t.Fatal(err)
	}
	touch := func(at time.Duration) session.Touch {
		return session.Touch{Now: t0.Add(at), After: time.Minute, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	}
	// Load the script so EVALSHA does not miss; a miss costs one EVAL more.
	if _, err := s.Get(ctx, "missing", touch(0)); err == nil {
		t.Fatal("Get(missing): got nil error")
	}
	tests := []struct {
		name        string
		touch       session.Touch
		wantCalls   int64
		wantExpires time.Duration
	}{
		{"zero touch", session.Touch{}, 1, 30 * time.Minute},
		{"touch, no write", touch(30 * time.Second), 1, 30 * time.Minute},
		{"touch writes, index extended", touch(2 * time.Minute), 2, 32 * time.Minute},
		{"touch writes within index headroom", touch(4 * time.Minute), 1, 34 * time.Minute},
	}
	for _, tt := range tests {
		h.n.Store(0)
		r, err := s.Get(ctx, "s1", tt.touch)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := h.n.Load(); got != tt.wantCalls {
			t.Errorf("%s: got %d round trips, want %d", tt.name, got, tt.wantCalls)
		}
		if want := t0.Add(tt.wantExpires); !r.Expires.Equal(want) {
			t.Errorf("%s: got Expires %v, want %v", tt.name, r.Expires, want)
		}
	}
}

// TestRedisIndexOutlivesTouchedSession: touches push a session's expiry
// past the one its index key got at Put; DeleteUser must still find it.
func TestRedisIndexOutlivesTouchedSession(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	defer s.Close()
	t0 := time.Now().Truncate(time.Millisecond)
	if err := s.Put(ctx, testRecord(t0)); err != nil {
		t.Fatal(err)
	}
	rc := raw(t)
	for at := 20 * time.Minute; at <= 3*time.Hour; at += 20 * time.Minute {
		tc := session.Touch{Now: t0.Add(at), After: time.Minute, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
		if _, err := s.Get(ctx, "s1", tc); err != nil {
			t.Fatalf("Get at +%v: %v", at, err)
		}
		sess := rc.PExpireTime(ctx, s.sessionKey("s1")).Val()
		if idx := rc.PExpireTime(ctx, s.userKey("u1")).Val(); idx < sess {
			t.Fatalf("at +%v: index expires at %v, before its session at %v", at, idx, sess)
		}
	}
	if n, err := s.DeleteUser(ctx, "u1"); err != nil || n != 1 {
		t.Errorf("DeleteUser = %d, %v; want 1, nil", n, err)
	}
}

// TestRedisIndexPruned: ids that no longer name one of the user's sessions
// leave the index when it is read, and Delete removes its own entry.
func TestRedisIndexPruned(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	defer s.Close()
	r := testRecord(time.Now())
	other := r
	other.ID = "s2"
	for _, rec := range []session.Record{r, other} {
		if err := s.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	moved := r
	moved.UserID = "u2"
	if err := s.Put(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	rc := raw(t)
	if got := rc.HKeys(ctx, s.userKey("u1")).Val(); len(got) != 1 || got[0] != "s1" {
		t.Fatalf("u1 index before ListUser: got %v, want [s1] (stale)", got)
	}
	if rs, err := s.ListUser(ctx, "u1"); err != nil || len(rs) != 0 {
		t.Fatalf("ListUser(u1) = %v, %v; want none", rs, err)
	}
	if got := rc.Exists(ctx, s.userKey("u1")).Val(); got != 0 {
		t.Errorf("u1 index after ListUser: got %d keys, want pruned away", got)
	}
}

func TestRedisCounterWindowNotExtended(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	defer s.Close()
	rc := raw(t)
	if _, err := s.Incr(ctx, "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	first := rc.PExpireTime(ctx, s.counterKey("k")).Val()
	if _, err := s.Incr(ctx, "k", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := rc.PExpireTime(ctx, s.counterKey("k")).Val(); got != first {
		t.Errorf("second Incr moved expiry from %v to %v; want unchanged", first, got)
	}
}

// TestRedisReserveWindowNotExtended: Reserve shares Incr's counter and
// its rule that only the first increment sets the window; a refused
// reservation leaves the key alone.
func TestRedisReserveWindowNotExtended(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	defer s.Close()
	rc := raw(t)
	r, err := s.Reserve(ctx, "k", 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first := rc.PExpireTime(ctx, s.counterKey("k")).Val()
	if r.Window != first.Milliseconds() {
		t.Errorf("Reserve: got window %d, want the key's PEXPIRETIME %d", r.Window, first.Milliseconds())
	}
	for range 2 {
		if _, err := s.Reserve(ctx, "k", 2, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := rc.PExpireTime(ctx, s.counterKey("k")).Val(); got != first {
		t.Errorf("later Reserves moved expiry from %v to %v; want unchanged", first, got)
	}
	if got := rc.Get(ctx, s.counterKey("k")).Val(); got != "2" {
		t.Errorf("counter: got %q, want \"2\"", got)
	}
}

// TestRedisWatermarkKey: a mark lives under w:<key> and each raise sets
// its TTL.
func TestRedisWatermarkKey(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	defer s.Close()
	rc := raw(t)
	if ok, err := s.SetIfGreater(ctx, "k", 41, time.Hour); !ok || err != nil {
		t.Fatalf("SetIfGreater: %v, %v", ok, err)
	}
	if ok, err := s.SetIfGreater(ctx, "k", 42, 2*time.Hour); !ok || err != nil {
		t.Fatalf("SetIfGreater: %v, %v", ok, err)
	}
	if got := rc.Get(ctx, s.markKey("k")).Val(); got != "42" {
		t.Errorf("mark: got %q, want \"42\"", got)
	}
	if ttl := rc.PTTL(ctx, s.markKey("k")).Val(); ttl <= time.Hour || ttl > 2*time.Hour {
		t.Errorf("mark TTL: got %v, want the last raise's 2h", ttl)
	}
}

func BenchmarkGet(b *testing.B) {
	s := newTestStore(b)
	defer s.Close()
	ctx := context.Background()
	start := time.Now().Truncate(time.Millisecond)
	r := testRecord(start)
	r.Data = make([]byte, 256)
	r.Expires = start.Add(time.Hour)
	if err := s.Put(ctx, r); err != nil {
		b.Fatal(err)
	}
	touch := func(i int, after time.Duration) session.Touch {
		return session.Touch{Now: start.Add(time.Duration(i) * time.Millisecond), After: after, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	}
	cases := []struct {
		name  string
		touch func(i int) session.Touch
	}{
		{"NoTouch", func(int) session.Touch { return session.Touch{} }},
		{"TouchNoWrite", func(i int) session.Touch { return touch(i, time.Hour) }},
		{"TouchWrite", func(i int) session.Touch { return touch(i, 0) }},
	}
	i := 0 // Now only moves forward, across runs too, or touches stop writing
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := s.Get(ctx, "s1", c.touch(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
