package apikey

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// TestLimiterAcrossReplicas: three replicas' limiters on one store, many
// concurrent requests: never more than the limit per window in all, and
// the next window starts afresh.
func TestLimiterAcrossReplicas(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := memory.New(func() time.Time { return now })
	replicas := []*limiter{newLimiter(store), newLimiter(store), newLimiter(store)}
	for _, limit := range []int{1, 25, 400} {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 3 * limit {
			wg.Go(func() {
				ok, retry, err := replicas[i%3].allow(t.Context(), "key", limit, 5*time.Second, now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					allowed.Add(1)
				} else if retry <= 0 || retry > 5*time.Second {
					t.Errorf("retry after %s", retry)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n > int64(limit) || n < int64(limit)*3/4 {
			t.Fatalf("limit %d: %d allowed across replicas", limit, n)
		}
		now = now.Add(5 * time.Second)
		if ok, _, _ := replicas[0].allow(t.Context(), "key", limit, 5*time.Second, now); !ok {
			t.Fatalf("limit %d: refused in a new window", limit)
		}
		now = now.Add(5 * time.Second)
	}
}
