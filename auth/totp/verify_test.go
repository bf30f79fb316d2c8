package totp

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

var testSecret = []byte("12345678901234567890")

// start is 10 s into a step, so ±1 step lands well inside neighbours.
var start = time.Unix(1_700_000_010, 0)

// clock is a settable time source shared by the verifier and the memory
// store, safe for the concurrent tests.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// newVerifier returns a Verifier over a real in-memory store on clk.
func newVerifier(t testing.TB, clk *clock) *Verifier {
	t.Helper()
	store := memory.New(clk.now)
	t.Cleanup(func() { store.Close() })
	return &Verifier{Marks: store, Now: clk.now}
}

// codeAt is the code an authenticator app shows at t.
func codeAt(t time.Time) string { return Code(testSecret, Step(t), Digits, Algorithm) }

func TestVerifyWindow(t *testing.T) {
	tests := []struct {
		name    string
		codeFor time.Time
		wantErr error
	}{
		{"current step", start, nil},
		{"previous step", start.Add(-Period), nil},
		{"next step", start.Add(Period), nil},
		{"two steps back", start.Add(-2 * Period), ErrInvalidCode},
		{"two steps ahead", start.Add(2 * Period), ErrInvalidCode},
		{"an hour old", start.Add(-time.Hour), ErrInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, newClock(start))
			step, err := v.Verify(t.Context(), "u1", testSecret, codeAt(tt.codeFor))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify: got %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && step != Step(tt.codeFor) {
				t.Errorf("step = %d, want %d", step, Step(tt.codeFor))
			}
		})
	}
}

// countingMarks records whether Verify reached the store.
type countingMarks struct {
	calls atomic.Int32
	err   error
}

func (c *countingMarks) SetIfGreater(context.Context, string, int64, time.Duration) (bool, error) {
	c.calls.Add(1)
	return c.err == nil, c.err
}

func TestVerifyRejectsMalformedCodes(t *testing.T) {
	good := codeAt(start)
	fullWidth := ""
	arabicIndic := ""
	for _, r := range good {
		fullWidth += string('０' + r - '0')
		arabicIndic += string('٠' + r - '0')
	}
	for _, code := range []string{
		"", good[:5], good + "0", " " + good, good + " ", good[:3] + " " + good[3:],
		good + "\n", "+" + good[1:], "-" + good[1:], good[:5] + "a", "abcdef",
		fullWidth, arabicIndic, good[:5] + "\x00", "0x" + good[:4],
	} {
		t.Run(strconv.Quote(code), func(t *testing.T) {
			store := &countingMarks{}
			v := &Verifier{Marks: store, Now: newClock(start).now}
			if _, err := v.Verify(t.Context(), "u1", testSecret, code); !errors.Is(err, ErrInvalidCode) {
				t.Errorf("Verify: got %v, want ErrInvalidCode", err)
			}
			if n := store.calls.Load(); n != 0 {
				t.Errorf("store called %d times for a malformed code, want 0", n)
			}
		})
	}
}

func TestVerifyWrongCodeDoesNotClaim(t *testing.T) {
	store := &countingMarks{}
	v := &Verifier{Marks: store, Now: newClock(start).now}
	wrong := Code([]byte("another secret 1234"), Step(start), Digits, Algorithm)
	if _, err := v.Verify(t.Context(), "u1", testSecret, wrong); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("Verify(wrong code): got %v, want ErrInvalidCode", err)
	}
	if n := store.calls.Load(); n != 0 {
		t.Errorf("store called %d times for a wrong code, want 0", n)
	}
}

func TestCodeReplaySequential(t *testing.T) {
	clk := newClock(start)
	v := newVerifier(t, clk)
	code := codeAt(start)
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	clk.add(5 * time.Second)
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); !errors.Is(err, ErrReplayed) {
		t.Errorf("second Verify: got %v, want ErrReplayed", err)
	}
	// The mark is per user: another account with the same secret (an
	// admin's test account, say) is not blocked by it.
	if _, err := v.Verify(t.Context(), "u2", testSecret, code); err != nil {
		t.Errorf("Verify for another user: %v, want accepted", err)
	}
}

// TestCodeReplayUntilItLeavesTheWindow moves the clock to the last second
// in which the used step is still inside the window: the mark must still
// be there (its TTL outlives the window).
func TestCodeReplayUntilItLeavesTheWindow(t *testing.T) {
	stepStart := time.Unix(int64(Step(start))*30, 0)
	clk := newClock(stepStart)
	v := newVerifier(t, clk)
	code := codeAt(stepStart)
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	clk.set(stepStart.Add((Skew+1)*Period - time.Nanosecond))
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); !errors.Is(err, ErrReplayed) {
		t.Errorf("Verify at the window's last instant: got %v, want ErrReplayed", err)
	}
	clk.set(stepStart.Add((Skew + 1) * Period))
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("Verify after the window: got %v, want ErrInvalidCode", err)
	}
}

// TestCodeReplayPreviousStepAlreadyClaimed: a code used while its step was
// current is still inside the window one step later, as the previous
// step; it must still be refused.
func TestCodeReplayPreviousStepAlreadyClaimed(t *testing.T) {
	clk := newClock(start)
	v := newVerifier(t, clk)
	code := codeAt(start)
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	clk.add(Period)
	if _, err := v.Verify(t.Context(), "u1", testSecret, code); !errors.Is(err, ErrReplayed) {
		t.Errorf("Verify one step later: got %v, want ErrReplayed", err)
	}
	if _, err := v.Verify(t.Context(), "u1", testSecret, codeAt(clk.now())); err != nil {
		t.Errorf("Verify of the new step's code: %v, want accepted", err)
	}
}

func TestCodeReplayConcurrentMemory(t *testing.T) {
	clk := newClock(start)
	replayConcurrently(t, newVerifier(t, clk), clk)
}

func TestCodeReplayConcurrentRedis(t *testing.T) {
	ctx := t.Context()
	store, err := redis.New(ctx, redis.Config{Addrs: []string{storetest.RedisAddr(t)}, KeyPrefix: storetest.RedisPrefix(t)})
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	// Redis expires keys on its own clock, so the verifier uses real time.
	clk := newClock(time.Now())
	replayConcurrently(t, &Verifier{Marks: store, Now: clk.now}, clk)
}

// replayConcurrently sends one valid code from 20 goroutines at once, as
// an attacker racing the user's own submission would: exactly one wins.
func replayConcurrently(t *testing.T, v *Verifier, clk *clock) {
	t.Helper()
	const n = 20
	code := codeAt(clk.now())
	var (
		wg       sync.WaitGroup
		ready    = make(chan struct{})
		accepted atomic.Int32
		replayed atomic.Int32
	)
	for range n {
		wg.Go(func() {
			<-ready
			_, err := v.Verify(t.Context(), "u1", testSecret, code)
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.Is(err, ErrReplayed):
				replayed.Add(1)
			default:
				t.Errorf("Verify: unexpected error %v", err)
			}
		})
	}
	close(ready)
	wg.Wait()
	if a, r := accepted.Load(), replayed.Load(); a != 1 || r != n-1 {
		t.Errorf("got %d accepted and %d replayed, want 1 and %d", a, r, n-1)
	}
}

func TestVerifyStoreOutageFailsClosed(t *testing.T) {
	outage := &countingMarks{err: errors.Join(session.ErrUnavailable, errors.New("dial tcp: connection refused"))}
	v := &Verifier{Marks: outage, Now: newClock(start).now}
	step, err := v.Verify(t.Context(), "u1", testSecret, codeAt(start))
	if err == nil {
		t.Fatalf("Verify with the store down: accepted step %d, want an error", step)
	}
	if !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("error = %v, want it to wrap session.ErrUnavailable", err)
	}
	if errors.Is(err, ErrInvalidCode) || errors.Is(err, ErrReplayed) {
		t.Errorf("error = %v, want a store error, not a verdict on the code", err)
	}
}

func TestVerifyRefusesMissingInputs(t *testing.T) {
	code := codeAt(start)
	clk := newClock(start)
	tests := []struct {
		name   string
		v      *Verifier
		userID string
		secret []byte
	}{
		{"no store", &Verifier{Now: clk.now}, "u1", testSecret},
		{"no user id", newVerifier(t, clk), "", testSecret},
		{"no secret", newVerifier(t, clk), "u1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.v.Verify(t.Context(), tt.userID, tt.secret, code); err == nil {
				t.Error("Verify: got nil error, want a refusal")
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	clk := newClock(start)
	v := newVerifier(b, clk)
	code := codeAt(start)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		// A fresh user each time so every iteration takes the success
		// path: three HMACs and one mark update.
		if _, err := v.Verify(ctx, "u"+strconv.Itoa(i), testSecret, code); err != nil {
			b.Fatal(err)
		}
	}
}
