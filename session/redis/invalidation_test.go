package redis

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/nearcache"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// counter counts the commands a client sends.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() != "publish" { // heartbeats
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// replica is one gateway's session layer: its own Redis client (named,
// so the test can kill its subscription), Hub and Manager.
type replica struct {
	store *Store
	hub   *nearcache.Hub
	m     *session.Manager
	cmds  *counter
	name  string
}

const (
	testBeat   = 10 * time.Millisecond
	testMaxLag = 50 * time.Millisecond
)

func newReplica(t *testing.T, prefix, name string) *replica {
	t.Helper()
	r := &replica{cmds: &counter{}, name: prefix + name}
	c := goredis.NewClient(&goredis.Options{Addr: storetest.RedisAddr(t), ClientName: r.name})
	c.AddHook(r.cmds)
	r.store = NewWithClient(c, prefix)
	r.hub = nearcache.NewHub(r.store, nearcache.Options{Heartbeat: testBeat, MaxLag: testMaxLag})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; r.store.Close() })
	r.m = session.NewManager(r.store, session.Options{Hub: r.hub, CacheTTL: 30 * time.Second})
	waitTrusted(t, r.hub, true)
	return r
}

func waitTrusted(t *testing.T, h *nearcache.Hub, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.Trusted() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hub Trusted never became %v", want)
		}
	}
}

// killSubscription drops r's pub/sub connection from the server side, as
// a Redis restart or a proxy timeout would.
func killSubscription(t *testing.T, r *replica) {
	t.Helper()
	admin := raw(t)
	list, err := admin.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+r.name+" ") || !strings.Contains(line, "cmd=subscribe") && !strings.Contains(line, "sub=2") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(t.Context(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no subscription of %s to kill in:\n%s", r.name, list)
	}
}

var limits = session.Limits{Absolute: time.Hour, Idle: 30 * time.Minute}

func login(t *testing.T, r *replica, user string) string {
	t.Helper()
	tk, err := r.m.Create(t.Context(), &session.Session{Identity: auth.Identity{UserID: user, Username: user}}, limits)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Encode()
}

// TestInvalidationAcrossReplicas: replica B answers a session from its
// cache with no Redis command; a logout on A, and "end every session of
// the user" on A, are refused on B as soon as the event arrives.
func TestInvalidationAcrossReplicas(t *testing.T) {
	prefix := storetest.RedisPrefix(t)
	a, b := newReplica(t, prefix, "a"), newReplica(t, prefix, "b")
	cookie := login(t, a, "u1")
	if _, err := b.m.Load(t.Context(), cookie, limits); err != nil {
		t.Fatal(err)
	}
	before := b.cmds.n.Load()
	for range 100 {
		if _, err := b.m.Load(t.Context(), cookie, limits); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.cmds.n.Load() - before; n != 0 {
		t.Fatalf("100 cached loads sent %d Redis commands, want 0", n)
	}
	s, _ := session.ParseTicket(cookie)
	if err := a.m.Revoke(t.Context(), s.ID); err != nil {
		t.Fatal(err)
	}
	refusedSoon(t, b, cookie)

	c1, c2 := login(t, a, "u2"), login(t, a, "u2")
	for _, c := range []string{c1, c2} {
		if _, err := b.m.Load(t.Context(), c, limits); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.m.RevokeUser(t.Context(), "u2"); err != nil {
		t.Fatal(err)
	}
	refusedSoon(t, b, c1)
	refusedSoon(t, b, c2)
}

// refusedSoon waits for the event (well under a second on loopback).
func refusedSoon(t *testing.T, r *replica, cookie string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		_, err := r.m.Load(t.Context(), cookie, limits)
		if errors.Is(err, session.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked session still accepted on the other replica after 1s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSubscriptionLossFailsSafe kills replica B's subscription while
// requests flow through it, and revokes during the gap, when B cannot
// hear the event: B stops trusting its cache, refuses the revoked
// session by reading Redis, keeps serving live sessions, and turns its
// cache back on by itself once heartbeats return.
func TestSubscriptionLossFailsSafe(t *testing.T) {
	prefix := storetest.RedisPrefix(t)
	a, b := newReplica(t, prefix, "a"), newReplica(t, prefix, "b")
	live, doomed := login(t, a, "alice"), login(t, a, "bob")
	for _, c := range []string{live, doomed} {
		if _, err := b.m.Load(t.Context(), c, limits); err != nil {
			t.Fatal(err)
		}
	}

	// Requests flow through B for the whole test; none may fail.
	ctx, stop := context.WithCancel(t.Context())
	flowErr := make(chan error, 1)
	var served atomic.Int64
	go func() {
		defer close(flowErr)
		for ctx.Err() == nil {
			if _, err := b.m.Load(ctx, live, limits); err != nil && ctx.Err() == nil {
				flowErr <- err
				return
			}
			served.Add(1)
		}
	}()

	killSubscription(t, b)
	waitTrusted(t, b.hub, false)
	// Revoke during the gap, straight in the store, whose event B misses.
	s, _ := session.ParseTicket(doomed)
	if err := a.store.Delete(t.Context(), s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Load(t.Context(), doomed, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoked during the gap: got %v, want ErrNotFound", err)
	}
	waitTrusted(t, b.hub, true)
	if _, err := b.m.Load(t.Context(), doomed, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoked during the gap, after the channel came back: got %v", err)
	}
	stop()
	if err := <-flowErr; err != nil {
		t.Fatalf("a live session failed while the channel was down: %v", err)
	}
	if served.Load() == 0 {
		t.Fatal("no request flowed")
	}
	// The cache is back on: loads after the first make no Redis command.
	if _, err := b.m.Load(t.Context(), live, limits); err != nil {
		t.Fatal(err)
	}
	before := b.cmds.n.Load()
	if _, err := b.m.Load(t.Context(), live, limits); err != nil {
		t.Fatal(err)
	}
	if n := b.cmds.n.Load() - before; n != 0 {
		t.Fatalf("cache did not come back on: a load sent %d commands", n)
	}
	if st := b.hub.State(); st.Losses == 0 {
		t.Fatalf("state does not show the loss: %+v", st)
	}
}

// TestRevokeRightAfterKillIsRefusedWithinMaxLag is the race the heartbeat
// exists for: the revocation is published before B has noticed that its
// subscription died. B may answer from cache only until it notices or
// until its latest heartbeat is MaxLag old, whichever comes first.
func TestRevokeRightAfterKillIsRefusedWithinMaxLag(t *testing.T) {
	prefix := storetest.RedisPrefix(t)
	a, b := newReplica(t, prefix, "a"), newReplica(t, prefix, "b")
	cookie := login(t, a, "carol")
	if _, err := b.m.Load(t.Context(), cookie, limits); err != nil {
		t.Fatal(err)
	}
	killSubscription(t, b)
	s, _ := session.ParseTicket(cookie)
	if err := a.store.Delete(t.Context(), s.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	time.Sleep(testMaxLag)
	if _, err := b.m.Load(t.Context(), cookie, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("%s after the revocation: got %v, want ErrNotFound", time.Since(revoked), err)
	}
}

// TestMalformedEventEmptiesCaches: an event nobody can read may have named
// anything, so every cache is emptied.
func TestMalformedEventEmptiesCaches(t *testing.T) {
	prefix := storetest.RedisPrefix(t)
	a := newReplica(t, prefix, "a")
	cookie := login(t, a, "dave")
	if _, err := a.m.Load(t.Context(), cookie, limits); err != nil {
		t.Fatal(err)
	}
	if err := raw(t).Publish(t.Context(), prefix+"inv", "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for a.hub.State().Events == 0 {
		if time.Now().After(deadline) {
			t.Fatal("malformed event never delivered")
		}
		time.Sleep(time.Millisecond)
	}
	before := a.cmds.n.Load()
	if _, err := a.m.Load(t.Context(), cookie, limits); err != nil {
		t.Fatal(err)
	}
	if a.cmds.n.Load() == before {
		t.Fatal("cache survived an unreadable event")
	}
}
