package mfa

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/auth/totp"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

const window = 15 * time.Minute

// clock is a settable time source, safe for the concurrent tests.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// checked counts code comparisons: every attempt that gets past the
// lockout reads the factor (TOTP) or tries the recovery code, right
// before the comparison.
type checked struct {
	Store
	n atomic.Int32
}

func (c *checked) TOTP(ctx context.Context, userID string) (directory.TOTPFactor, error) {
	c.n.Add(1)
	return c.Store.TOTP(ctx, userID)
}

func (c *checked) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error {
	c.n.Add(1)
	return c.Store.UseRecoveryCode(ctx, userID, hash, now)
}

// hookCall is one call of the EndOtherSessions hook.
type hookCall struct{ userID, keep string }

type env struct {
	svc   *Service
	dir   *checked
	state State
	clock *clock
	alice auth.Identity

	mu      sync.Mutex
	calls   []hookCall
	hookErr error
}

func (e *env) endOthers(_ context.Context, userID, keep string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, hookCall{userID, keep})
	return e.hookErr
}

func (e *env) hookCalls() []hookCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// newEnv opens a real SQLite directory holding alice and a service over
// state with a limit of 5 codes per window. start is 10 s into a step, so
// the neighbouring steps are well inside the window.
func newEnv(t *testing.T, state State, clk *clock) *env {
	t.Helper()
	ctx := t.Context()
	dir, err := sqldir.Open(ctx, sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { dir.Close() })
	u := &directory.User{Username: "alice", Role: "sales"}
	if err := dir.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(secret.Key{ID: "k1", Bytes: bytes.Repeat([]byte{7}, secret.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: &checked{Store: dir}, state: state, clock: clk, alice: auth.Identity{UserID: u.ID, Username: "alice"}}
	e.svc = New(e.dir, keys, state, Limits{Attempts: 5, Window: window}, "Gatehouse", clk.now, EndOtherSessions(e.endOthers))
	return e
}

var start = time.Unix(1_700_000_010, 0)

func memoryEnv(t *testing.T) *env {
	clk := newClock(start)
	s := memory.New(clk.now)
	t.Cleanup(func() { s.Close() })
	return newEnv(t, s, clk)
}

// sharedEnvs are the real session backends: in-process, and Redis shared
// by replicas (whose TTLs run on real time, so its clock starts now).
func sharedEnvs() map[string]func(t *testing.T) *env {
	return map[string]func(t *testing.T) *env{
		"memory": memoryEnv,
		"redis": func(t *testing.T) *env {
			s, err := redis.New(t.Context(), redis.Config{Addrs: []string{storetest.RedisAddr(t)}, KeyPrefix: storetest.RedisPrefix(t)})
			if err != nil {
				t.Fatalf("redis.New: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return newEnv(t, s, newClock(time.Now().Truncate(totp.Period).Add(10*time.Second)))
		},
	}
}

// secretOf decodes the secret an enrolment page shows for manual entry.
func secretOf(t *testing.T, en auth.Enrollment) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Base32)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func codeAt(secret []byte, at time.Time) string {
	return totp.Code(secret, totp.Step(at), totp.Digits, totp.Algorithm)
}

// enroll runs a whole enrolment for alice in session sid and returns her
// secret and recovery codes.
func (e *env) enroll(t *testing.T, sid string) ([]byte, []string) {
	t.Helper()
	en, err := e.svc.StartEnrollment(t.Context(), sid, e.alice)
	if err != nil {
		t.Fatalf("StartEnrollment: %v", err)
	}
	sec := secretOf(t, en)
	codes, err := e.svc.ConfirmEnrollment(t.Context(), sid, e.alice, codeAt(sec, e.clock.now()), false)
	if err != nil {
		t.Fatalf("ConfirmEnrollment: %v", err)
	}
	return sec, codes
}

// TestLockoutHoldsUnderConcurrentWrongCodes: an attacker who has the
// password sends 60 second-factor guesses at once. The limit used to be
// read before the comparison and counted after it, so about half were
// compared; now at most the limit are, and afterwards even the right code
// is refused until the window ends.
func TestLockoutHoldsUnderConcurrentWrongCodes(t *testing.T) {
	for name, open := range sharedEnvs() {
		t.Run(name, func(t *testing.T) {
			e := open(t)
			sec, _ := e.enroll(t, "s-enrol")
			e.clock.advance(totp.Period) // the enrolment's step is spent
			right := codeAt(sec, e.clock.now())
			e.dir.n.Store(0)
			const n = 60
			var (
				wg              sync.WaitGroup
				ready           = make(chan struct{})
				refused, locked atomic.Int32
			)
			for i := range n {
				wg.Go(func() {
					<-ready
					guess := fmt.Sprintf("%06d", i)
					if guess == right {
						guess = "999999"
					}
					if i%4 == 0 { // some recovery-code guesses too
						guess = fmt.Sprintf("aaaa-bbbb-cccc-dd%c%c", 'a'+i%26, 'a'+i/26)
					}
					_, err := e.svc.Verify(t.Context(), e.alice.UserID, guess)
					switch {
					case errors.Is(err, auth.ErrLockedOut):
						locked.Add(1)
					case errors.Is(err, auth.ErrInvalidCredentials):
						refused.Add(1)
					default:
						t.Errorf("wrong code %q: got %v, want a refusal", guess, err)
					}
				})
			}
			close(ready)
			wg.Wait()
			if got := e.dir.n.Load(); got > 5 {
				t.Errorf("%d concurrent wrong codes: %d were compared, want at most 5", n, got)
			}
			if r, l := refused.Load(), locked.Load(); r != 5 || l != n-5 {
				t.Errorf("got %d refused as wrong and %d locked out, want 5 and %d", r, l, n-5)
			}
			_, err := e.svc.Verify(t.Context(), e.alice.UserID, right)
			var f *auth.Failure
			if !errors.Is(err, auth.ErrLockedOut) || !errors.As(err, &f) || f.Reason != ReasonLocked {
				t.Errorf("right code after the burst: got %v, want ErrLockedOut (locked_out)", err)
			}
		})
	}
}

// TestOlderTOTPStepRefusedAfterNewer: the user logged in with the code of
// step N+1 (phone a little fast); an onlooker's code of step N, still in
// the window, must not log in too (RFC 6238 §5.2).
func TestOlderTOTPStepRefusedAfterNewer(t *testing.T) {
	for name, open := range sharedEnvs() {
		t.Run(name, func(t *testing.T) {
			e := open(t)
			sec, _ := e.enroll(t, "s-enrol")
			e.clock.advance(totp.Period)
			now := e.clock.now()
			if m, err := e.svc.Verify(t.Context(), e.alice.UserID, codeAt(sec, now.Add(totp.Period))); err != nil || m != MethodTOTP {
				t.Fatalf("code of step N+1: got %q, %v", m, err)
			}
			_, err := e.svc.Verify(t.Context(), e.alice.UserID, codeAt(sec, now))
			var f *auth.Failure
			if !errors.Is(err, auth.ErrInvalidCredentials) || !errors.As(err, &f) || f.Reason != ReasonReplayed {
				t.Errorf("code of step N after N+1: got %v, want a replayed_code refusal", err)
			}
		})
	}
}

// TestStaleEnrollmentCannotReplaceFactor: a session (perhaps an attacker
// with the password, before the user had 2FA) opens the enrolment page;
// the user then enrols from another session. Confirming the stale page
// must not replace the user's factor and recovery codes.
func TestStaleEnrollmentCannotReplaceFactor(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	staleEn, err := e.svc.StartEnrollment(ctx, "s-attacker", e.alice)
	if err != nil {
		t.Fatal(err)
	}
	sec, codes := e.enroll(t, "s-user")
	e.clock.advance(totp.Period)

	_, err = e.svc.ConfirmEnrollment(ctx, "s-attacker", e.alice, codeAt(secretOf(t, staleEn), e.clock.now()), false)
	if !errors.Is(err, ErrAlreadyEnrolled) {
		t.Fatalf("confirming the stale enrolment: got %v, want ErrAlreadyEnrolled", err)
	}
	if st, err := e.svc.Status(ctx, e.alice.UserID); err != nil || !st.Enrolled || st.RecoveryCodes != RecoveryCodeCount {
		t.Errorf("status after the stale confirmation: %+v, %v; want enrolled with %d codes", st, err, RecoveryCodeCount)
	}
	if _, err := e.svc.Verify(ctx, e.alice.UserID, codeAt(secretOf(t, staleEn), e.clock.now())); err == nil {
		t.Error("the stale page's authenticator logs in, want it refused")
	}
	if m, err := e.svc.Verify(ctx, e.alice.UserID, codeAt(sec, e.clock.now())); err != nil || m != MethodTOTP {
		t.Errorf("the user's own authenticator: got %q, %v, want accepted", m, err)
	}
	if m, err := e.svc.Verify(ctx, e.alice.UserID, codes[0]); err != nil || m != MethodRecovery {
		t.Errorf("the user's own recovery code: got %q, %v, want accepted", m, err)
	}
	if got := e.hookCalls(); !slices.Equal(got, []hookCall{{e.alice.UserID, "s-user"}}) {
		t.Errorf("EndOtherSessions calls: got %v, want only the user's enrolment", got)
	}
	// The stale enrolment is gone, not waiting for another try.
	if _, err := e.svc.ConfirmEnrollment(ctx, "s-attacker", e.alice, "123456", false); !errors.Is(err, ErrNoEnrollment) {
		t.Errorf("confirming again: got %v, want ErrNoEnrollment", err)
	}
}

// TestConcurrentEnrollmentsStoreOne: two sessions confirm their own
// enrolments at the same moment; exactly one factor is stored.
func TestConcurrentEnrollmentsStoreOne(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	const n = 4
	secrets := make([][]byte, n)
	for i := range n {
		en, err := e.svc.StartEnrollment(ctx, fmt.Sprint("s", i), e.alice)
		if err != nil {
			t.Fatal(err)
		}
		secrets[i] = secretOf(t, en)
	}
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		won   atomic.Int32
	)
	for i := range n {
		wg.Go(func() {
			<-ready
			// Each uses a different step of the window where it can, so
			// that the step mark is not what decides.
			at := e.clock.now().Add(time.Duration(i%3-1) * totp.Period)
			if _, err := e.svc.ConfirmEnrollment(ctx, fmt.Sprint("s", i), e.alice, codeAt(secrets[i], at), false); err == nil {
				won.Add(1)
			}
		})
	}
	close(ready)
	wg.Wait()
	if w := won.Load(); w != 1 {
		t.Errorf("%d concurrent enrolments: %d succeeded, want exactly 1", n, w)
	}
	if got := e.hookCalls(); len(got) != 1 {
		t.Errorf("EndOtherSessions calls: got %v, want one", got)
	}
}

// TestFactorChangesEndOtherSessions: enrolling, new recovery codes and
// removing the factor each end the user's other sessions, keeping the one
// that made the change (none for an admin reset); a refused change ends
// nothing; a failing hook fails the request.
func TestFactorChangesEndOtherSessions(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	uid := e.alice.UserID
	en, err := e.svc.StartEnrollment(ctx, "s1", e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmEnrollment(ctx, "s1", e.alice, "000000", false); err == nil {
		t.Fatal("wrong confirmation code accepted")
	}
	if got := e.hookCalls(); len(got) != 0 {
		t.Fatalf("a refused confirmation ended sessions: %v", got)
	}
	if _, err := e.svc.ConfirmEnrollment(ctx, "s1", e.alice, codeAt(secretOf(t, en), e.clock.now()), false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RegenerateRecoveryCodes(ctx, uid, "s2"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Remove(ctx, uid, "s3"); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(totp.Period) // s1's step is spent
	e.enroll(t, "s4")
	if err := e.svc.Remove(ctx, uid, ""); err != nil { // an admin reset
		t.Fatal(err)
	}
	want := []hookCall{{uid, "s1"}, {uid, "s2"}, {uid, "s3"}, {uid, "s4"}, {uid, ""}}
	if got := e.hookCalls(); !slices.Equal(got, want) {
		t.Errorf("EndOtherSessions calls: got %v, want %v", got, want)
	}

	e.clock.advance(totp.Period)
	e.enroll(t, "s5")
	e.hookErr = errors.Join(session.ErrUnavailable, errors.New("redis down"))
	if _, err := e.svc.RegenerateRecoveryCodes(ctx, uid, "s5"); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("RegenerateRecoveryCodes with the hook failing: got %v, want the hook's error", err)
	}
	if err := e.svc.Remove(ctx, uid, "s5"); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("Remove with the hook failing: got %v, want the hook's error", err)
	}
}

// TestRememberCookieFollowsShortenedPolicy: a cookie issued under a 30-day
// remember_device stops skipping 2FA once it is older than the policy in
// force now, here one day.
func TestRememberCookieFollowsShortenedPolicy(t *testing.T) {
	e := memoryEnv(t)
	month, day := 30*24*time.Hour, 24*time.Hour
	token := e.svc.RememberToken(e.alice.UserID, 3, e.clock.now().Add(month))
	e.clock.advance(2 * day)
	if !e.svc.CheckRemember(token, e.alice.UserID, 3, month) {
		t.Error("2-day-old cookie under the 30-day policy: refused, want accepted")
	}
	if e.svc.CheckRemember(token, e.alice.UserID, 3, day) {
		t.Error("2-day-old cookie after the policy was cut to 1 day: accepted, want refused")
	}
	if e.svc.CheckRemember(token, e.alice.UserID, 3, 0) {
		t.Error("cookie after remember_device was turned off: accepted, want refused")
	}
}

// brokenMarks fails the step record as a Redis outage would.
type brokenMarks struct{ State }

func (brokenMarks) SetIfGreater(context.Context, string, int64, time.Duration) (bool, error) {
	return false, errors.Join(session.ErrUnavailable, errors.New("connection refused"))
}

// TestVerifyOutageIsNotAWrongCode: when the step cannot be recorded the
// right code is refused as an outage (the caller answers 503) and the
// attempt is not counted against the user.
func TestVerifyOutageIsNotAWrongCode(t *testing.T) {
	clk := newClock(start)
	s := memory.New(clk.now)
	t.Cleanup(func() { s.Close() })
	good := newEnv(t, s, clk)
	sec, _ := good.enroll(t, "s1")
	clk.advance(totp.Period)

	broken := New(good.dir, good.svc.keys, brokenMarks{s}, Limits{Attempts: 5, Window: window}, "Gatehouse", clk.now)
	_, err := broken.Verify(t.Context(), good.alice.UserID, codeAt(sec, clk.now()))
	if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("Verify with the step store down: got %v, want ErrUnavailable only", err)
	}
	if n, _ := s.Count(t.Context(), "mfa:"+good.alice.UserID); n != 0 {
		t.Errorf("attempt counter after an outage: got %d, want 0", n)
	}
}
