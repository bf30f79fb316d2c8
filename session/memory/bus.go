package memory

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

var _ nearcache.Bus = (*Store)(nil)

// busSub is one Subscribe call.
type busSub struct {
	replica string
	deliver func(nearcache.Event)
}

// Publish delivers e to every subscriber before it returns (a heartbeat
// only to its replica): the store is this process, so nothing is ever
// lost or late.
func (s *Store) Publish(_ context.Context, e nearcache.Event) error {
	s.busMu.Lock()
	subs := make([]busSub, 0, len(s.subs))
	for _, b := range s.subs {
		if e.Kind != nearcache.Heartbeat || nearcache.HeartbeatReplica(e) == b.replica {
			subs = append(subs, b)
		}
	}
	s.busMu.Unlock()
	for _, b := range subs {
		b.deliver(e)
	}
	return nil
}

// Subscribe registers deliver until ctx ends; lost is never called.
func (s *Store) Subscribe(ctx context.Context, replica string, deliver func(nearcache.Event), _ func(error)) {
	s.busMu.Lock()
	s.nextSub++
	key := s.nextSub
	if s.subs == nil {
		s.subs = map[int]busSub{}
	}
	s.subs[key] = busSub{replica: replica, deliver: deliver}
	s.busMu.Unlock()
	<-ctx.Done()
	s.busMu.Lock()
	delete(s.subs, key)
	s.busMu.Unlock()
}

// published tells every replica about sessions this store deleted.
func (s *Store) published(ids []string) {
	for _, id := range ids {
		s.Publish(context.Background(), nearcache.Event{Kind: nearcache.Session, ID: id})
	}
}
