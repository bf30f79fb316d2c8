package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

// listener subscribes to the backend's bus as one replica and records
// what arrives.
type listener struct {
	mu     sync.Mutex
	events []nearcache.Event
	losses int
}

func listen(t *testing.T, e env, replica string) *listener {
	t.Helper()
	l := &listener{}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.b.Subscribe(ctx, replica, func(ev nearcache.Event) {
			l.mu.Lock()
			l.events = append(l.events, ev)
			l.mu.Unlock()
		}, func(error) {
			l.mu.Lock()
			l.losses++
			l.mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	// Subscribing is asynchronous: publish heartbeats to ourselves until
	// one comes back, so everything published after this is seen.
	probe := nearcache.Event{Kind: nearcache.Heartbeat, ID: replica + "/probe"}
	eventually(t, "subscription live", func() (bool, error) {
		if err := e.b.Publish(e.ctx, probe); err != nil {
			return false, err
		}
		time.Sleep(5 * time.Millisecond)
		return l.has(probe), nil
	})
	return l
}

func (l *listener) has(want nearcache.Event) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.events, want)
}

func (l *listener) waitFor(t *testing.T, want ...nearcache.Event) {
	t.Helper()
	for _, w := range want {
		eventually(t, "event "+w.String()+" delivered", func() (bool, error) { return l.has(w), nil })
	}
}

// testBusDeletesPublish: every deletion the store makes reaches every
// subscriber as an event naming the session, so no replica keeps a copy.
func testBusDeletesPublish(t *testing.T, e env) {
	a, b := listen(t, e, "replica-a"), listen(t, e, "replica-b")
	put(t, e, record(e, "s1", "u1"))
	put(t, e, record(e, "s2", "u2"))
	put(t, e, record(e, "s3", "u2"))
	if err := e.b.Delete(e.ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.b.DeleteUser(e.ctx, "u2"); err != nil || n != 2 {
		t.Fatalf("DeleteUser: %d, %v", n, err)
	}
	want := []nearcache.Event{{Kind: nearcache.Session, ID: "s1"}, {Kind: nearcache.Session, ID: "s2"}, {Kind: nearcache.Session, ID: "s3"}}
	a.waitFor(t, want...)
	b.waitFor(t, want...)
}

// testBusPublish: a published event reaches every subscriber; a heartbeat
// only the replica it names.
func testBusPublish(t *testing.T, e env) {
	a, b := listen(t, e, "replica-a"), listen(t, e, "replica-b")
	user := nearcache.Event{Kind: nearcache.User, ID: "u1"}
	if err := e.b.Publish(e.ctx, user); err != nil {
		t.Fatal(err)
	}
	hbA := nearcache.Event{Kind: nearcache.Heartbeat, ID: "replica-a/1"}
	hbB := nearcache.Event{Kind: nearcache.Heartbeat, ID: "replica-b/2"}
	for _, hb := range []nearcache.Event{hbA, hbB} {
		if err := e.b.Publish(e.ctx, hb); err != nil {
			t.Fatal(err)
		}
	}
	a.waitFor(t, user, hbA)
	b.waitFor(t, user, hbB)
	if a.has(hbB) || b.has(hbA) {
		t.Fatal("a heartbeat reached a replica it does not name")
	}
}
