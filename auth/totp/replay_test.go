package totp

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// markStores are the real backends: in-process, and Redis shared by
// replicas (which runs on real time, so its verifiers do too).
func markStores(t *testing.T) map[string]func(t *testing.T) (Marks, *clock) {
	return map[string]func(t *testing.T) (Marks, *clock){
		"memory": func(t *testing.T) (Marks, *clock) {
			clk := newClock(start)
			s := memory.New(clk.now)
			t.Cleanup(func() { s.Close() })
			return s, clk
		},
		"redis": func(t *testing.T) (Marks, *clock) {
			s, err := redis.New(t.Context(), redis.Config{Addrs: []string{storetest.RedisAddr(t)}, KeyPrefix: storetest.RedisPrefix(t)})
			if err != nil {
				t.Fatalf("redis.New: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			// 10 s into a step, like start, so ±1 step is well inside.
			now := time.Now()
			return s, newClock(now.Truncate(Period).Add(10 * time.Second))
		},
	}
}

// TestOlderStepRefusedAfterNewerAccepted: a user whose phone runs a little
// ahead logs in with the code of step N+1; the code of step N, which an
// onlooker saw (or which sits in a phishing proxy), is still inside the
// ±1 window but older than what was used, and must be refused (RFC 6238
// §5.2), on the same replica or another one.
func TestOlderStepRefusedAfterNewerAccepted(t *testing.T) {
	for name, open := range markStores(t) {
		t.Run(name, func(t *testing.T) {
			store, clk := open(t)
			now := clk.now()
			replica1 := &Verifier{Marks: store, Now: clk.now}
			replica2 := &Verifier{Marks: store, Now: clk.now}
			if _, err := replica1.Verify(t.Context(), "u1", testSecret, codeAt(now.Add(Period))); err != nil {
				t.Fatalf("code of step N+1: %v", err)
			}
			for _, v := range []*Verifier{replica1, replica2} {
				for _, older := range []time.Time{now, now.Add(-Period)} {
					if _, err := v.Verify(t.Context(), "u1", testSecret, codeAt(older)); !errors.Is(err, ErrReplayed) {
						t.Errorf("code of step %d after step %d was used: got %v, want ErrReplayed", Step(older), Step(now)+1, err)
					}
				}
			}
			// Another user is not affected, and the next step still works.
			if _, err := replica2.Verify(t.Context(), "u2", testSecret, codeAt(now)); err != nil {
				t.Errorf("another user's code of step N: %v, want accepted", err)
			}
			clk.add(Period)
			if _, err := replica2.Verify(t.Context(), "u1", testSecret, codeAt(clk.now().Add(Period))); err != nil {
				t.Errorf("code of step N+2 a step later: %v, want accepted", err)
			}
		})
	}
}

// TestStepsRaceAcrossReplicas: codes of the three steps of the window sent
// many times at once through two replicas: no step is accepted twice, and
// afterwards none of the three is accepted again.
func TestStepsRaceAcrossReplicas(t *testing.T) {
	for name, open := range markStores(t) {
		t.Run(name, func(t *testing.T) {
			store, clk := open(t)
			now := clk.now()
			replicas := []*Verifier{{Marks: store, Now: clk.now}, {Marks: store, Now: clk.now}}
			codes := []string{codeAt(now.Add(-Period)), codeAt(now), codeAt(now.Add(Period))}
			var (
				mu       sync.Mutex
				accepted = map[uint64]int{}
				wg       sync.WaitGroup
				ready    = make(chan struct{})
			)
			for i := range 30 {
				wg.Go(func() {
					<-ready
					step, err := replicas[i%2].Verify(t.Context(), "u1", testSecret, codes[i%3])
					switch {
					case err == nil:
						mu.Lock()
						accepted[step]++
						mu.Unlock()
					case !errors.Is(err, ErrReplayed):
						t.Errorf("Verify: %v", err)
					}
				})
			}
			close(ready)
			wg.Wait()
			if len(accepted) == 0 {
				t.Fatal("no code accepted")
			}
			for step, n := range accepted {
				if n != 1 {
					t.Errorf("step %d accepted %d times, want once", step, n)
				}
			}
			for _, c := range codes {
				if _, err := replicas[0].Verify(t.Context(), "u1", testSecret, c); !errors.Is(err, ErrReplayed) {
					t.Errorf("a window code after the race: got %v, want ErrReplayed", err)
				}
			}
		})
	}
}
