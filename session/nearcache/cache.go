package nearcache

import (
	"sync"
	"time"
)

// Cache holds verified values of one Kind, each owned by a user, for as
// long as the Hub's channel is trusted and the entry is young enough.
type Cache[V any] struct {
	hub  *Hub
	kind Kind
	max  int

	mu sync.RWMutex
	m  map[string]entry[V]
}

type entry[V any] struct {
	owner   string
	v       V
	fetched time.Time
}

// NewCache returns a cache of kind registered with hub. Past max entries
// it is emptied whole, which costs one store read per active entry and
// nothing else.
func NewCache[V any](hub *Hub, kind Kind, max int) *Cache[V] {
	c := &Cache[V]{hub: hub, kind: kind, max: max, m: map[string]entry[V]{}}
	hub.register(c)
	return c
}

// Get returns the value cached under id when the channel is trusted and
// the entry is younger than maxAge.
func (c *Cache[V]) Get(id string, maxAge time.Duration) (V, bool) {
	var zero V
	if !c.hub.Trusted() {
		return zero, false
	}
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok {
		return zero, false
	}
	if age := c.hub.now().Sub(e.fetched); age < 0 || age >= maxAge {
		return zero, false
	}
	return e.v, true
}

// Ticket is taken before reading the store; see Put.
type Ticket struct {
	gen     uint64
	trusted bool
	at      time.Time
}

// Ticket records the channel's state before a store read.
func (c *Cache[V]) Ticket() Ticket {
	// Generation first: a loss between the two loads then shows up as a
	// changed generation at Put.
	g := c.hub.gen.Load()
	return Ticket{gen: g, trusted: c.hub.Trusted(), at: c.hub.now()}
}

// Put caches v, read from the store after t was taken, unless the channel
// was untrusted then or anything was invalidated since: the read may have
// raced with a revocation whose event is already applied.
func (c *Cache[V]) Put(t Ticket, id, owner string, v V) {
	if !t.trusted {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hub.gen.Load() != t.gen {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[id] = entry[V]{owner: owner, v: v, fetched: t.at}
}

// Evict drops id here (the publisher's own replica does not wait for its
// event to come back).
func (c *Cache[V]) Evict(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// EvictOwner drops every entry of owner here.
func (c *Cache[V]) EvictOwner(owner string) {
	c.evict(Event{Kind: User, ID: owner})
}

// Clear drops every entry here (a change somewhere that names no entry,
// learnt other than through an event).
func (c *Cache[V]) Clear() { c.clear() }

// Sweep drops entries older than maxAge, so values that stopped being
// asked for do not stay in memory.
func (c *Cache[V]) Sweep(maxAge time.Duration) {
	now := c.hub.now()
	c.mu.Lock()
	for id, e := range c.m {
		if now.Sub(e.fetched) >= maxAge {
			delete(c.m, id)
		}
	}
	c.mu.Unlock()
}

// Len reports how many entries are cached.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (c *Cache[V]) evict(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Kind {
	case c.kind:
		delete(c.m, e.ID)
	case User:
		for id, en := range c.m {
			if en.owner == e.ID {
				delete(c.m, id)
			}
		}
	}
}

func (c *Cache[V]) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
