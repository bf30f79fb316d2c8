package redis

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

var _ nearcache.Bus = (*Store)(nil)

// Pub/sub timing. silence is how long a subscription may receive nothing
// before it is pinged (a Hub's own heartbeats arrive every 100ms, so
// silence already means trouble); backoff bounds resubscription attempts.
const (
	silence    = time.Second
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// channel carries invalidations to every replica; each replica's
// heartbeats go to a channel of its own, so N replicas do not each
// receive N heartbeat streams. Both are subscribed on one connection,
// which Redis delivers in publish order: a heartbeat that comes back
// proves every invalidation published before it has arrived.
func (s *Store) channel() string { return s.prefix + "inv" }

func (s *Store) heartbeatChannel(replica string) string { return s.prefix + "inv:hb:" + replica }

func sessionEvent(id string) string {
	return nearcache.Event{Kind: nearcache.Session, ID: id}.String()
}

// Publish sends e with PUBLISH. The store's own deletions publish from
// inside their scripts instead, atomically with the delete.
func (s *Store) Publish(ctx context.Context, e nearcache.Event) error {
	ch := s.channel()
	if e.Kind == nearcache.Heartbeat {
		ch = s.heartbeatChannel(nearcache.HeartbeatReplica(e))
	}
	return storeErr("publish invalidation", s.c.Publish(ctx, ch, e.String()).Err())
}

// Subscribe listens until ctx ends, resubscribing (with backoff) after
// every failure and reporting each one to lost.
func (s *Store) Subscribe(ctx context.Context, replica string, deliver func(nearcache.Event), lost func(error)) {
	backoff := minBackoff
	for ctx.Err() == nil {
		confirmed, err := s.subscribeOnce(ctx, replica, deliver)
		if ctx.Err() != nil {
			return
		}
		lost(storeErr("invalidation subscription", err))
		if confirmed {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// subscribeOnce runs one subscription until it fails; confirmed reports
// whether Redis acknowledged it first.
func (s *Store) subscribeOnce(ctx context.Context, replica string, deliver func(nearcache.Event)) (confirmed bool, err error) {
	ps := s.c.Subscribe(ctx)
	defer ps.Close()
	// A blocked read does not watch ctx; closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, s.channel(), s.heartbeatChannel(replica)); err != nil {
		return false, err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, silence)
		if err != nil {
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil && !pinged {
				// Quiet is not proof of death: ask once. No answer either
				// means a connection that only looks open; start afresh.
				if err := ps.Ping(ctx); err != nil {
					return confirmed, err
				}
				pinged = true
				continue
			}
			return confirmed, err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			confirmed = true
		case *goredis.Message:
			e, err := nearcache.ParseEvent(m.Payload)
			if err != nil {
				// Whatever it named is unknown: evict everything.
				e = nearcache.Event{Kind: nearcache.All}
			}
			deliver(e)
		}
	}
}
