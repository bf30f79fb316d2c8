// Package nearcache keeps a replica's local copies of verified credentials
// (sessions today; API keys and device tokens use the same Cache) coherent
// with every other replica, so the hot path can skip the shared store
// without serving something another replica has revoked.
//
// Every revocation is published on a Bus that all replicas subscribe to;
// each replica's Hub evicts what an event names the moment it arrives.
// Messages can be lost (a dropped connection, a Redis restart), so a Hub
// never trusts its caches on faith: it publishes a heartbeat to itself
// every Options.Heartbeat and trusts them only while its own latest
// heartbeat came back less than Options.MaxLag ago. A Bus delivers in
// publish order, so a heartbeat sent at T proves every event published
// before T has arrived. When the subscription breaks, the Hub empties its
// caches at once; while it is broken or lagging, Cache.Get answers nothing
// and callers read the store on every request, until heartbeats flow again.
//
// A store read races with a revocation of what it read: the event can
// arrive while the read is in flight and be applied before the stale
// result is cached. Cache.Ticket, taken before the read, catches that: Put
// stores nothing if any event (or a loss) arrived in between.
//
// Why pub/sub with explicit events rather than Redis 6's client-side
// caching (CLIENT TRACKING): most revocations do not map onto one key a
// replica has read ("every session of user U", "every API key", a
// directory change in PostgreSQL), tracking needs RESP3 push support that
// go-redis does not expose, and our own heartbeat on the same connection
// gives the liveness signal the fail-safe needs.
package nearcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind says what an Event names.
type Kind byte

const (
	Session Kind = 's' // one session, by id
	APIKey  Kind = 'k' // one API key, by key id
	Device  Kind = 'd' // one device token family, by id
	// User names every entry owned by the user, in every cache.
	User Kind = 'u'
	// All empties every cache (force-logout-all, an unknown event).
	All Kind = '*'
	// Heartbeat is a Hub's liveness probe; its ID is "<replica>/<unix
	// nanos sent>", and a Bus delivers it only to that replica.
	Heartbeat Kind = 'h'
)

// Event is one invalidation.
type Event struct {
	Kind Kind
	ID   string
}

// String is the wire form, "<kind>:<id>".
func (e Event) String() string { return string(e.Kind) + ":" + e.ID }

// ParseEvent reads the wire form. An event it cannot read is reported as
// an error; a Hub treats that as All, since what it named is unknown.
func ParseEvent(s string) (Event, error) {
	k, id, ok := strings.Cut(s, ":")
	if !ok || len(k) != 1 {
		return Event{}, fmt.Errorf("nearcache: malformed event %q", s)
	}
	switch Kind(k[0]) {
	case Session, APIKey, Device, User, All, Heartbeat:
		return Event{Kind: Kind(k[0]), ID: id}, nil
	}
	return Event{}, fmt.Errorf("nearcache: unknown event kind %q", k)
}

// HeartbeatReplica returns the replica a heartbeat is addressed to.
func HeartbeatReplica(e Event) string {
	r, _, _ := strings.Cut(e.ID, "/")
	return r
}

// Bus carries events between replicas. Both session backends implement
// it (in-process for memory, pub/sub for Redis), and publish the events
// for the deletions they make themselves, atomically with them.
type Bus interface {
	// Publish sends e to every subscriber; a Heartbeat only to the
	// replica it names.
	Publish(ctx context.Context, e Event) error
	// Subscribe delivers events published after it subscribed, in
	// publish order, until ctx ends. Whenever the subscription breaks it
	// calls lost (events may have been missed) and subscribes again.
	Subscribe(ctx context.Context, replica string, deliver func(Event), lost func(error))
}

// Options tune a Hub.
type Options struct {
	Now       func() time.Time // defaults to time.Now
	Heartbeat time.Duration    // default 100ms
	// MaxLag is how old the latest returned heartbeat may be before the
	// caches stop being trusted; default 3 heartbeats. It bounds how long
	// a silently lost event can be missed.
	MaxLag time.Duration
	Logger *slog.Logger
}

// Hub is one replica's end of the Bus: it owns the trust state and the
// caches it evicts from.
type Hub struct {
	bus     Bus
	replica string
	now     func() time.Time
	beat    time.Duration
	maxLag  time.Duration
	log     *slog.Logger

	subscribed atomic.Bool
	confirmed  atomic.Int64  // unix nanos: send time of the latest own heartbeat received
	gen        atomic.Uint64 // bumped by every event and every loss
	events     atomic.Uint64
	losses     atomic.Uint64

	mu     sync.Mutex
	caches []evicter
}

type evicter interface {
	evict(Event)
	clear()
}

// NewHub returns a Hub over bus; nothing is trusted until Run has
// received its first heartbeat.
func NewHub(bus Bus, o Options) *Hub {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 100 * time.Millisecond
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 3 * o.Heartbeat
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	rand.Read(b[:])
	return &Hub{bus: bus, replica: hex.EncodeToString(b[:]), now: o.Now, beat: o.Heartbeat, maxLag: o.MaxLag,
		log: o.Logger.With("component", "invalidation")}
}

// Run subscribes and sends heartbeats until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	go h.bus.Subscribe(ctx, h.replica, h.deliver, h.lost)
	t := time.NewTicker(h.beat)
	defer t.Stop()
	for {
		h.sendHeartbeat(ctx)
		select {
		case <-ctx.Done():
			h.subscribed.Store(false)
			h.flush()
			return
		case <-t.C:
		}
	}
}

func (h *Hub) sendHeartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, h.maxLag)
	defer cancel()
	id := h.replica + "/" + strconv.FormatInt(h.now().UnixNano(), 10)
	// A failed heartbeat needs no handling of its own: no heartbeat
	// comes back, and trust lapses after MaxLag.
	_ = h.bus.Publish(ctx, Event{Kind: Heartbeat, ID: id})
}

// Publish sends e to every replica, this one included.
func (h *Hub) Publish(ctx context.Context, e Event) error {
	if e.Kind == Heartbeat {
		return errors.New("nearcache: heartbeats are the Hub's own")
	}
	return h.bus.Publish(ctx, e)
}

// Trusted reports whether the caches may answer now.
func (h *Hub) Trusted() bool {
	c := h.confirmed.Load()
	return h.subscribed.Load() && c != 0 && h.now().UnixNano()-c <= int64(h.maxLag)
}

func (h *Hub) deliver(e Event) {
	if e.Kind == Heartbeat {
		h.heartbeat(e)
		return
	}
	h.events.Add(1)
	// The generation moves before any eviction, so a Put racing with
	// this event either sees the new generation or is evicted after.
	h.gen.Add(1)
	h.mu.Lock()
	caches := h.caches
	h.mu.Unlock()
	for _, c := range caches {
		if e.Kind == All {
			c.clear()
		} else {
			c.evict(e)
		}
	}
}

func (h *Hub) heartbeat(e Event) {
	replica, sent, _ := strings.Cut(e.ID, "/")
	if replica != h.replica {
		return
	}
	ns, err := strconv.ParseInt(sent, 10, 64)
	if err != nil {
		return
	}
	if !h.Trusted() {
		// Coming back from a loss or a lag: whatever was cached before is
		// suspect. (After a lag nothing was lost, since the bus keeps
		// order, but emptying is cheap and needs no argument.)
		h.flush()
		if h.confirmed.Load() != 0 {
			h.log.Info("invalidation channel live again; local caches back on")
		}
	}
	for {
		old := h.confirmed.Load()
		if ns <= old || h.confirmed.CompareAndSwap(old, ns) {
			break
		}
	}
	h.subscribed.Store(true)
}

func (h *Hub) lost(err error) {
	wasUp := h.subscribed.Swap(false)
	h.flush()
	h.losses.Add(1)
	if wasUp {
		h.log.Warn("invalidation channel lost; reading the session store on every request until it is back", "error", err)
	}
}

// flush empties every cache and moves the generation, so reads in flight
// cannot refill them with what they fetched before.
func (h *Hub) flush() {
	h.gen.Add(1)
	h.mu.Lock()
	caches := h.caches
	h.mu.Unlock()
	for _, c := range caches {
		c.clear()
	}
}

func (h *Hub) register(c evicter) {
	h.mu.Lock()
	h.caches = append(h.caches[:len(h.caches):len(h.caches)], c)
	h.mu.Unlock()
}

// State is what /readyz and the metrics report.
type State struct {
	Trusted bool
	// Lag is how old the latest returned heartbeat is; -1 before the first.
	Lag    time.Duration
	Events uint64 // invalidations received
	Losses uint64 // times the subscription broke
}

// State reports the channel's health.
func (h *Hub) State() State {
	s := State{Trusted: h.Trusted(), Lag: -1, Events: h.events.Load(), Losses: h.losses.Load()}
	if c := h.confirmed.Load(); c != 0 {
		s.Lag = time.Duration(h.now().UnixNano() - c)
	}
	return s
}

// Detail is the one-word state /readyz shows.
func (h *Hub) Detail() string {
	if h.Trusted() {
		return "live"
	}
	return "down: reading the store on every request"
}

// WriteMetrics writes the channel's metrics in the Prometheus text format.
func (h *Hub) WriteMetrics(w io.Writer) {
	s := h.State()
	up := 0
	if s.Trusted {
		up = 1
	}
	fmt.Fprintln(w, "# HELP gatehouse_invalidation_live 1 while the invalidation channel is live and local caches answer; 0 while every request reads the store.")
	fmt.Fprintln(w, "# TYPE gatehouse_invalidation_live gauge")
	fmt.Fprintf(w, "gatehouse_invalidation_live %d\n", up)
	fmt.Fprintln(w, "# HELP gatehouse_invalidation_lag_seconds Age of the latest heartbeat this replica received back (-1 before the first).")
	fmt.Fprintln(w, "# TYPE gatehouse_invalidation_lag_seconds gauge")
	fmt.Fprintf(w, "gatehouse_invalidation_lag_seconds %g\n", s.Lag.Seconds())
	fmt.Fprintln(w, "# HELP gatehouse_invalidation_events_total Invalidations received.")
	fmt.Fprintln(w, "# TYPE gatehouse_invalidation_events_total counter")
	fmt.Fprintf(w, "gatehouse_invalidation_events_total %d\n", s.Events)
	fmt.Fprintln(w, "# HELP gatehouse_invalidation_losses_total Times the invalidation subscription broke.")
	fmt.Fprintln(w, "# TYPE gatehouse_invalidation_losses_total counter")
	fmt.Fprintf(w, "gatehouse_invalidation_losses_total %d\n", s.Losses)
}
