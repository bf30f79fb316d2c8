package nearcache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeBus delivers synchronously, and can drop heartbeats (a lagging
// channel) or break the subscription (a lost one).
type fakeBus struct {
	mu        sync.Mutex
	subs      map[string]func(Event)
	lost      map[string]func(error)
	dropBeats bool
}

func newFakeBus() *fakeBus {
	return &fakeBus{subs: map[string]func(Event){}, lost: map[string]func(error){}}
}

func (b *fakeBus) Publish(_ context.Context, e Event) error {
	b.mu.Lock()
	var targets []func(Event)
	for r, d := range b.subs {
		if e.Kind == Heartbeat && (b.dropBeats || HeartbeatReplica(e) != r) {
			continue
		}
		targets = append(targets, d)
	}
	b.mu.Unlock()
	for _, d := range targets {
		d(e)
	}
	return nil
}

func (b *fakeBus) Subscribe(ctx context.Context, replica string, deliver func(Event), lost func(error)) {
	b.mu.Lock()
	b.subs[replica], b.lost[replica] = deliver, lost
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	delete(b.subs, replica)
	b.mu.Unlock()
}

// breakAll reports a lost subscription to every replica; events published
// until heal are lost.
func (b *fakeBus) breakAll() map[string]func(Event) {
	b.mu.Lock()
	subs, lost := b.subs, b.lost
	b.subs = map[string]func(Event){}
	b.mu.Unlock()
	for _, l := range lost {
		l(errors.New("connection reset"))
	}
	return subs
}

func (b *fakeBus) heal(subs map[string]func(Event)) {
	b.mu.Lock()
	b.subs = subs
	b.mu.Unlock()
}

func (b *fakeBus) setDropBeats(v bool) {
	b.mu.Lock()
	b.dropBeats = v
	b.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const beat = 5 * time.Millisecond

func runHub(t *testing.T, bus Bus, clk *clock) *Hub {
	t.Helper()
	h := NewHub(bus, Options{Now: clk.Now, Heartbeat: beat, MaxLag: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitTrusted(t, h, true)
	return h
}

func waitTrusted(t *testing.T, h *Hub, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.Trusted() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Trusted never became %v", want)
		}
	}
}

func fill(c *Cache[string], id, owner string) {
	c.Put(c.Ticket(), id, owner, "value of "+id)
}

func TestNothingTrustedBeforeTheFirstHeartbeat(t *testing.T) {
	clk := &clock{t: time.Now()}
	h := NewHub(newFakeBus(), Options{Now: clk.Now})
	c := NewCache[string](h, Session, 10)
	fill(c, "s1", "u1")
	if _, ok := c.Get("s1", time.Hour); ok || c.Len() != 0 || h.Trusted() {
		t.Fatal("a hub that never heard itself cached or answered")
	}
}

func TestEventsEvict(t *testing.T) {
	clk := &clock{t: time.Now()}
	bus := newFakeBus()
	h := runHub(t, bus, clk)
	sessions := NewCache[string](h, Session, 10)
	keys := NewCache[string](h, APIKey, 10)
	fill(sessions, "s1", "u1")
	fill(sessions, "s2", "u1")
	fill(sessions, "s3", "u2")
	fill(keys, "k1", "u1")
	fill(keys, "s3", "u3") // same id, other kind: a session event must not touch it
	if v, ok := sessions.Get("s1", time.Hour); !ok || v != "value of s1" {
		t.Fatalf("cached value not served: %q %v", v, ok)
	}
	h.Publish(t.Context(), Event{Kind: Session, ID: "s3"})
	if _, ok := sessions.Get("s3", time.Hour); ok {
		t.Fatal("session event did not evict")
	}
	if _, ok := keys.Get("s3", time.Hour); !ok {
		t.Fatal("session event evicted an API key with the same id")
	}
	h.Publish(t.Context(), Event{Kind: User, ID: "u1"})
	for _, id := range []string{"s1", "s2"} {
		if _, ok := sessions.Get(id, time.Hour); ok {
			t.Fatalf("user event left %s", id)
		}
	}
	if _, ok := keys.Get("k1", time.Hour); ok {
		t.Fatal("user event left the user's API key")
	}
	h.Publish(t.Context(), Event{Kind: All})
	if keys.Len() != 0 || sessions.Len() != 0 {
		t.Fatal("All left entries")
	}
	if err := h.Publish(t.Context(), Event{Kind: Heartbeat, ID: "x/1"}); err == nil {
		t.Fatal("Publish accepted a forged heartbeat")
	}
}

func TestEntriesAgeOut(t *testing.T) {
	clk := &clock{t: time.Now()}
	h := runHub(t, newFakeBus(), clk)
	c := NewCache[string](h, Session, 10)
	fill(c, "s1", "u1")
	if _, ok := c.Get("s1", 30*time.Millisecond); !ok {
		t.Fatal("fresh entry missed")
	}
	clk.Advance(30 * time.Millisecond)
	if _, ok := c.Get("s1", 30*time.Millisecond); ok {
		t.Fatal("entry served at its max age")
	}
	c.Sweep(30 * time.Millisecond)
	if c.Len() != 0 {
		t.Fatal("Sweep kept an old entry")
	}
}

// TestReadRacingARevocationIsNotCached: the event for what a store read
// returned arrives before the read's result is cached; Put must not bring
// the revoked value back.
func TestReadRacingARevocationIsNotCached(t *testing.T) {
	clk := &clock{t: time.Now()}
	h := runHub(t, newFakeBus(), clk)
	c := NewCache[string](h, Session, 10)
	tk := c.Ticket() // the read starts
	h.Publish(t.Context(), Event{Kind: Session, ID: "s1"})
	c.Put(tk, "s1", "u1", "stale") // the read's result
	if _, ok := c.Get("s1", time.Hour); ok {
		t.Fatal("a value read before its revocation arrived was cached")
	}
}

// TestLostSubscription: a broken subscription empties the caches at once
// and nothing is served or cached until heartbeats come back; events
// published in the gap are lost, which is why.
func TestLostSubscription(t *testing.T) {
	clk := &clock{t: time.Now()}
	bus := newFakeBus()
	h := runHub(t, bus, clk)
	c := NewCache[string](h, Session, 10)
	fill(c, "s1", "u1")
	subs := bus.breakAll()
	if h.Trusted() || c.Len() != 0 {
		t.Fatal("a lost subscription left the cache trusted or full")
	}
	h.Publish(t.Context(), Event{Kind: Session, ID: "s1"}) // lost
	fill(c, "s1", "u1")                                    // a read while down
	if _, ok := c.Get("s1", time.Hour); ok {
		t.Fatal("served while the channel was down")
	}
	tk := c.Ticket() // a read that started while down and ends after
	bus.heal(subs)
	waitTrusted(t, h, true)
	c.Put(tk, "s1", "u1", "read while down")
	if _, ok := c.Get("s1", time.Hour); ok {
		t.Fatal("a value read while the channel was down was cached after it came back")
	}
	fill(c, "s1", "u1")
	if _, ok := c.Get("s1", time.Hour); !ok {
		t.Fatal("cache did not come back on by itself")
	}
	if s := h.State(); s.Losses != 1 || !s.Trusted {
		t.Fatalf("state %+v", s)
	}
}

// TestLaggingChannelIsNotTrusted: heartbeats stop coming back (the
// connection looks open but delivers nothing); after MaxLag the cache is
// bypassed, and when they return it is emptied and trusted again.
func TestLaggingChannelIsNotTrusted(t *testing.T) {
	clk := &clock{t: time.Now()}
	bus := newFakeBus()
	h := runHub(t, bus, clk)
	c := NewCache[string](h, Session, 10)
	fill(c, "s1", "u1")
	bus.setDropBeats(true)
	time.Sleep(3 * beat) // let any heartbeat in flight land
	clk.Advance(time.Second + time.Millisecond)
	if _, ok := c.Get("s1", time.Hour); ok || h.Trusted() {
		t.Fatal("served from cache past MaxLag without a heartbeat")
	}
	if d := h.Detail(); d == "live" {
		t.Fatalf("Detail %q while lagging", d)
	}
	bus.setDropBeats(false)
	waitTrusted(t, h, true)
	if c.Len() != 0 {
		t.Fatal("entries from before the lag survived it")
	}
}

func TestOtherReplicasHeartbeatsIgnored(t *testing.T) {
	clk := &clock{t: time.Now()}
	h := NewHub(newFakeBus(), Options{Now: clk.Now})
	h.deliver(Event{Kind: Heartbeat, ID: "someone-else/" + "1"})
	if h.Trusted() {
		t.Fatal("trusted on another replica's heartbeat")
	}
}

func TestParseEvent(t *testing.T) {
	for _, s := range []string{"s:abc", "u:user-1", "*:", "k:gk1", "d:dev", "h:r/1"} {
		e, err := ParseEvent(s)
		if err != nil || e.String() != s {
			t.Errorf("ParseEvent(%q) = %v, %v", s, e, err)
		}
	}
	for _, s := range []string{"", "s", "x:1", "ss:1", ":1"} {
		if _, err := ParseEvent(s); err == nil {
			t.Errorf("ParseEvent(%q) accepted", s)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{"s:abc", "u:", "*:", "h:r/1", "zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEvent(s)
		if err == nil && e.String() != s {
			t.Fatalf("round trip %q -> %q", s, e.String())
		}
	})
}
