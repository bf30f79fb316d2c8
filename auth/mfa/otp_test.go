package mfa

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/email"
)

// outbox keeps what would be emailed (the SMTP path is tested with a
// real server in auth/email and cmd/gatehouse).
type outbox struct {
	mu   sync.Mutex
	sent []email.Message
}

func (o *outbox) Send(_ context.Context, m email.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// TestEmailCodeBoundToUser: a waiting code is sealed with its user and
// purpose as associated data, so one moved under another user's key in
// the shared store (a store-level swap) opens for nobody; each user's own
// code still works once.
func TestEmailCodeBoundToUser(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	box := &outbox{}
	WithEmail(box)(e.svc)
	WithProduct("Acme CRM")(e.svc)
	dir := e.dir.Store.(directory.Directory)
	bob := &directory.User{Username: "bob", Email: "bob@corp.example"}
	if err := dir.CreateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{e.alice.UserID, bob.ID} {
		if err := e.dir.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: id, Kind: directory.OTPEmail}, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := e.dir.UserByID(ctx, e.alice.UserID)
	if err != nil {
		t.Fatal(err)
	}
	alice.Email = "alice@corp.example"
	if err := dir.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if to, err := e.svc.SendLoginCode(ctx, alice.ID, directory.OTPEmail); err != nil || to != "a•••@corp.example" {
		t.Fatalf("SendLoginCode: %q %v", to, err)
	}
	code := sixDigits.FindString(box.sent[0].Text)
	sealed, err := e.state.Take(ctx, loginCodeKey(alice.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.state.PutOnce(ctx, loginCodeKey(bob.ID), sealed, CodeLifetime); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, bob.ID, code); err == nil {
		t.Fatal("alice's sealed code, moved under bob's key, logged bob in")
	}

	if _, err := e.svc.SendLoginCode(ctx, bob.ID, directory.OTPEmail); err != nil {
		t.Fatal(err)
	}
	bobCode := sixDigits.FindString(box.sent[1].Text)
	if m, err := e.svc.Verify(ctx, bob.ID, bobCode); err != nil || m != MethodEmail {
		t.Fatalf("bob's own code: %q %v", m, err)
	}
	if _, err := e.svc.Verify(ctx, bob.ID, bobCode); err == nil {
		t.Fatal("bob's code worked twice")
	}
	for _, m := range box.sent {
		if m.Subject != "Your Acme CRM sign-in code" {
			t.Errorf("subject %q", m.Subject)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"alice@corp.example": "a•••@corp.example",
		"é@x.example":        "é•••@x.example",
		"nobody":             "•••",
		"@x.example":         "•••",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// texts records what would be texted.
type texts struct {
	mu   sync.Mutex
	sent []string
}

func (x *texts) Text(_ context.Context, to, text string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sent = append(x.sent, to+" "+text)
	return nil
}

// TestSMSNumberCapped: however many accounts ask, one number is texted
// at most TextsPerNumberHour times an hour (SMS pumping to a
// premium-rate number), and a code sent for a factor that was removed
// no longer logs in.
func TestSMSNumberCapped(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	tx := &texts{}
	WithSMS(tx, nil, 0)(e.svc)
	dir := e.dir.Store.(directory.Directory)
	const premium = "+88234567890"
	refused := 0
	for i := range TextsPerNumberHour + 3 {
		u := &directory.User{Username: fmt.Sprintf("user%d", i)}
		if err := dir.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.StartSMSEnrollment(ctx, fmt.Sprint("s", i), auth.Identity{UserID: u.ID}, premium)
		if errors.Is(err, ErrSendTooSoon) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(tx.sent) != TextsPerNumberHour || refused != 3 {
		t.Fatalf("texted %d times, refused %d; want %d and 3", len(tx.sent), refused, TextsPerNumberHour)
	}

	// A waiting login code dies with its factor (the email factor stays,
	// so sent codes are still checked).
	if err := dir.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: e.alice.UserID, Kind: directory.OTPEmail}, nil); err != nil {
		t.Fatal(err)
	}
	if err := dir.AddOTP(ctx, directory.OTPFactor{UserID: e.alice.UserID, Kind: directory.OTPSMS, Target: "+14155550100"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendLoginCode(ctx, e.alice.UserID, directory.OTPSMS); err != nil {
		t.Fatal(err)
	}
	code := sixDigits.FindString(tx.sent[len(tx.sent)-1])
	if err := e.svc.RemoveFactor(ctx, e.alice.UserID, directory.OTPSMS, "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, e.alice.UserID, code); err == nil {
		t.Fatal("a code sent for a removed factor logged in")
	}
}

// TestSMSHourlyCap: past sms.max_per_hour texts in an hour, across all
// accounts and numbers, no more are sent until the hour is over.
func TestSMSHourlyCap(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	tx := &texts{}
	WithSMS(tx, nil, 3)(e.svc)
	dir := e.dir.Store.(directory.Directory)
	send := func(i int) error {
		u := &directory.User{Username: fmt.Sprintf("cap%d", i)}
		if err := dir.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.StartSMSEnrollment(ctx, fmt.Sprint("c", i), auth.Identity{UserID: u.ID}, fmt.Sprintf("+9198123456%02d", i))
		return err
	}
	for i := range 5 {
		err := send(i)
		switch {
		case i < 3 && err != nil:
			t.Fatalf("text %d: %v", i, err)
		case i >= 3 && !errors.Is(err, ErrTextCap):
			t.Fatalf("text %d past the cap: %v, want ErrTextCap", i, err)
		}
	}
	if len(tx.sent) != 3 {
		t.Fatalf("%d texts sent, want 3", len(tx.sent))
	}
	e.clock.advance(time.Hour + time.Second)
	if err := send(9); err != nil {
		t.Fatalf("the next hour: %v", err)
	}
}

// TestOTPEnrollmentKindStillAllowed: a code sent while email codes were
// allowed does not store the factor once the policy dropped them (the
// page asks for the kind the code was sent for, not one it posts).
func TestOTPEnrollmentKindStillAllowed(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	box := &outbox{}
	WithEmail(box)(e.svc)
	alice := e.withEmail(t, "alice@corp.example")
	id := auth.Identity{UserID: alice.ID, Username: "alice"}
	if _, err := e.svc.StartEmailEnrollment(ctx, "s1", id); err != nil {
		t.Fatal(err)
	}
	code := sixDigits.FindString(box.sent[0].Text)
	var asked []string
	no := func(kind string) bool { asked = append(asked, kind); return false }
	if _, _, err := e.svc.ConfirmOTPEnrollment(ctx, "s1", id, code, false, no); !errors.Is(err, ErrNoEnrollment) || fmt.Sprint(asked) != "[email]" {
		t.Fatalf("confirming a kind the policy dropped: %v (asked %v), want ErrNoEnrollment", err, asked)
	}
	if st, _ := e.svc.Status(ctx, alice.ID); st.Enrolled {
		t.Fatal("a dropped kind was stored")
	}
}

// takeHook runs fn once, right after the first Take of key (fn may
// take key itself).
type takeHook struct {
	State
	key  string
	done atomic.Bool
	fn   func()
}

func (h *takeHook) Take(ctx context.Context, key string) ([]byte, error) {
	b, err := h.State.Take(ctx, key)
	if key == h.key && h.done.CompareAndSwap(false, true) {
		h.fn()
	}
	return b, err
}

// TestFreshCodeSurvivesAWrongGuess: a new code sent while a wrong guess
// at the old one is being judged is the one left waiting; the wrong
// guess's put-back does not replace it (review finding: it once did,
// and the code the user had just received failed).
func TestFreshCodeSurvivesAWrongGuess(t *testing.T) {
	clk := newClock(start)
	mem := memory.New(clk.now)
	t.Cleanup(func() { mem.Close() })
	hook := &takeHook{State: mem}
	e := newEnv(t, hook, clk)
	ctx := t.Context()
	box := &outbox{}
	WithEmail(box)(e.svc)
	alice, _ := e.dir.UserByID(ctx, e.alice.UserID)
	alice.Email = "alice@corp.example"
	if err := e.dir.Store.(directory.Directory).UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: alice.ID, Kind: directory.OTPEmail}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendLoginCode(ctx, alice.ID, directory.OTPEmail); err != nil {
		t.Fatal(err)
	}
	clk.advance(ResendAfter + time.Second)
	hook.key = loginCodeKey(alice.ID)
	hook.fn = func() {
		if _, err := e.svc.SendLoginCode(ctx, alice.ID, directory.OTPEmail); err != nil {
			t.Errorf("the second send: %v", err)
		}
	}
	if _, err := e.svc.Verify(ctx, alice.ID, "000000"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("a wrong guess: %v", err)
	}
	if len(box.sent) != 2 {
		t.Fatalf("%d emails, want 2", len(box.sent))
	}
	fresh := sixDigits.FindString(box.sent[1].Text)
	if m, err := e.svc.Verify(ctx, alice.ID, fresh); err != nil || m != MethodEmail {
		t.Fatalf("the fresh code after the race: %q, %v", m, err)
	}
}

// TestResetRefusesEmailedCodes: for a user with email and SMS codes,
// VerifyForReset refuses a right emailed code (the reset link went to
// the same mailbox) as a wrong guess, and counts it, without spending
// it: the login it was sent for still takes it.
func TestResetRefusesEmailedCodes(t *testing.T) {
	e := memoryEnv(t)
	ctx := t.Context()
	box := &outbox{}
	WithEmail(box)(e.svc)
	if err := e.dir.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: e.alice.UserID, Kind: directory.OTPEmail}, nil); err != nil {
		t.Fatal(err)
	}
	// And texts: the reset page takes texted codes, so it looks at the
	// waiting login code too.
	if err := e.dir.AddOTP(ctx, directory.OTPFactor{UserID: e.alice.UserID, Kind: directory.OTPSMS, Target: "+919812345678"}); err != nil {
		t.Fatal(err)
	}
	alice := e.withEmail(t, "alice@corp.example")
	send := func() string {
		t.Helper()
		if _, err := e.svc.SendLoginCode(ctx, alice.ID, directory.OTPEmail); err != nil {
			t.Fatal(err)
		}
		return sixDigits.FindString(box.sent[len(box.sent)-1].Text)
	}
	code := send()
	for range 2 { // under the attempt limit
		_, err := e.svc.VerifyForReset(ctx, alice.ID, code)
		if f := (*auth.Failure)(nil); !errors.Is(err, auth.ErrInvalidCredentials) || !errors.As(err, &f) || f.Reason != ReasonWrongCode {
			t.Fatalf("an emailed code for a reset: %v, want a wrong code", err)
		}
	}
	// Not compared there, so neither used up nor worn down: the login it
	// was sent for still takes it.
	if m, err := e.svc.Verify(ctx, alice.ID, code); err != nil || m != MethodEmail {
		t.Fatalf("the emailed code at its login, after the reset page refused it: %q, %v", m, err)
	}
}

// withEmail gives alice an email address and returns her record.
func (e *env) withEmail(t *testing.T, addr string) *directory.User {
	t.Helper()
	u, err := e.dir.UserByID(t.Context(), e.alice.UserID)
	if err != nil {
		t.Fatal(err)
	}
	u.Email = addr
	if err := e.dir.Store.(directory.Directory).UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}
