package mfa

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/mfa/passkeytest"
)

const origin = "https://gatehouse.example"

// here is an answer made where the gateway is.
var here = passkeytest.Ceremony{Origin: origin}

func passkeyEnv(t *testing.T) *env {
	t.Helper()
	e := memoryEnv(t)
	u, _ := url.Parse(origin)
	rp, err := RelyingParty(u, "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	e.svc.rp = rp
	// A local password, as every passwordless user needs (not checked here).
	alice, err := e.dir.UserByID(t.Context(), e.alice.UserID)
	if err != nil {
		t.Fatal(err)
	}
	alice.PasswordHash = "$argon2id$stand-in"
	if err := e.dir.Store.(*sqldir.DB).UpdateUser(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	return e
}

// register makes alice a passkey from session sid; add as the account
// page's "add a factor".
func (e *env) register(t *testing.T, sid string, id auth.Identity, add bool) (*passkeytest.Key, []string) {
	t.Helper()
	opts, err := e.svc.BeginPasskeyRegistration(t.Context(), sid, id)
	if err != nil {
		t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	k, answer, err := passkeytest.Create(opts, here)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.svc.FinishPasskeyRegistration(t.Context(), sid, id, answer, "  my\tlaptop ", add)
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return k, codes
}

// assert runs a second-factor assertion by k from session sid, made as c.
func (e *env) assert(t *testing.T, sid string, k *passkeytest.Key, c passkeytest.Ceremony) (string, error) {
	t.Helper()
	opts, err := e.svc.BeginPasskeyLogin(t.Context(), sid, e.alice.UserID)
	if err != nil {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
	answer, err := k.Get(opts, c)
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.FinishPasskeyLogin(t.Context(), sid, e.alice.UserID, answer)
}

func wantRefused(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var f *auth.Failure
	if !errors.Is(err, auth.ErrInvalidCredentials) || !errors.As(err, &f) || f.Reason != reason || f.Method != MethodWebAuthn {
		t.Errorf("%s: %v, want a webauthn refusal for %s", what, err, reason)
	}
}

// TestPasskeyFactor: a registered passkey is the user's first factor,
// with recovery codes, and passes the 2FA step; an answer counts once.
func TestPasskeyFactor(t *testing.T) {
	e := passkeyEnv(t)
	k, codes := e.register(t, "s1", e.alice, false)
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), RecoveryCodeCount)
	}
	if got := e.hookCalls(); len(got) != 1 || got[0] != (hookCall{e.alice.UserID, "s1"}) {
		t.Errorf("other sessions ended: %v, want alice's except s1", got)
	}
	st, err := e.svc.Status(t.Context(), e.alice.UserID)
	if err != nil || !st.Enrolled || !slices.Equal(st.Methods, []string{MethodWebAuthn}) {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	list, err := e.svc.PasskeyList(t.Context(), e.alice.UserID)
	if err != nil || len(list) != 1 || list[0].Name != "my laptop" {
		t.Fatalf("PasskeyList: %+v, %v", list, err)
	}
	if m, err := e.assert(t, "s2", k, here); err != nil || m != MethodWebAuthn {
		t.Fatalf("a passkey assertion: %q, %v", m, err)
	}
	// The same answer again: its challenge was taken.
	opts, _ := e.svc.BeginPasskeyLogin(t.Context(), "s3", e.alice.UserID)
	answer, _ := k.Get(opts, here)
	if _, err := e.svc.FinishPasskeyLogin(t.Context(), "s3", e.alice.UserID, answer); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishPasskeyLogin(t.Context(), "s3", e.alice.UserID, answer)
	wantRefused(t, "a replayed answer", err, ReasonNoChallenge)
	// A code is no way in for a passkey-only user, but a recovery code is.
	if _, err := e.svc.Verify(t.Context(), e.alice.UserID, "123456"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("a code for a passkey-only user: %v, want ErrInvalidCredentials", err)
	}
	if m, err := e.svc.Verify(t.Context(), e.alice.UserID, codes[0]); err != nil || m != MethodRecovery {
		t.Errorf("a recovery code: %q, %v", m, err)
	}
}

// TestPasskeyPhishingRefused: an assertion signed for another origin
// (the page a phishing site serves) or another relying party id, or by
// another user's key, or with a counter that went back, is refused and
// counted; the passkey keeps working from the real origin.
func TestPasskeyPhishingRefused(t *testing.T) {
	e := passkeyEnv(t)
	k, _ := e.register(t, "s1", e.alice, false)
	_, err := e.assert(t, "s2", k, passkeytest.Ceremony{Origin: "https://gatehouse.example.evil.test"})
	wantRefused(t, "another origin", err, ReasonBadAssertion)
	_, err = e.assert(t, "s2", k, passkeytest.Ceremony{Origin: "http://gatehouse.example"})
	wantRefused(t, "the origin over http", err, ReasonBadAssertion)
	_, err = e.assert(t, "s2", k, passkeytest.Ceremony{Origin: origin, RPID: "evil.test"})
	wantRefused(t, "another relying party id", err, ReasonBadAssertion)

	// Bob's key (a real one of this relying party) answering alice's
	// challenge.
	bob := &directory.User{Username: "bob"}
	if err := e.dir.Store.(*sqldir.DB).CreateUser(t.Context(), bob); err != nil {
		t.Fatal(err)
	}
	bobKey, _ := e.register(t, "b1", auth.Identity{UserID: bob.ID, Username: "bob"}, false)
	_, err = e.assert(t, "s2", bobKey, here)
	wantRefused(t, "another user's passkey", err, ReasonBadAssertion)

	// A clone: the counter goes back to where it was.
	if _, err := e.assert(t, "s2", k, here); err != nil {
		t.Fatalf("the real passkey after the refusals: %v", err)
	}
	k.Count--
	_, err = e.assert(t, "s2", k, here)
	wantRefused(t, "a counter that did not advance", err, ReasonCloned)

	// The success reset the count; four more refusals make five, the
	// limit every factor shares.
	for range 4 {
		_, err = e.assert(t, "s2", k, passkeytest.Ceremony{Origin: "https://evil.test"})
		wantRefused(t, "another origin", err, ReasonBadAssertion)
	}
	_, err = e.assert(t, "s2", k, here)
	if f := (*auth.Failure)(nil); !errors.Is(err, auth.ErrLockedOut) || !errors.As(err, &f) || f.Method != MethodWebAuthn {
		t.Errorf("after 5 refusals: %v, want ErrLockedOut named for webauthn (the audit's method)", err)
	}
}

// TestPasskeyRegistrationChecked: a registration answer made for another
// origin stores nothing; a second passkey is added beside the first
// without new codes; the last one cannot be removed under keepOne.
func TestPasskeyRegistrationChecked(t *testing.T) {
	e := passkeyEnv(t)
	opts, err := e.svc.BeginPasskeyRegistration(t.Context(), "s1", e.alice)
	if err != nil {
		t.Fatal(err)
	}
	_, answer, _ := passkeytest.Create(opts, passkeytest.Ceremony{Origin: "https://evil.test"})
	_, err = e.svc.FinishPasskeyRegistration(t.Context(), "s1", e.alice, answer, "", false)
	wantRefused(t, "a registration from another origin", err, ReasonBadAssertion)
	if st, _ := e.svc.Status(t.Context(), e.alice.UserID); st.Enrolled {
		t.Fatal("a refused registration enrolled a factor")
	}
	_, answer, _ = passkeytest.Create(opts, here)
	if _, err := e.svc.FinishPasskeyRegistration(t.Context(), "s1", e.alice, answer, "", false); !errors.Is(err, ErrNoEnrollment) {
		t.Errorf("answering a challenge already answered: %v, want ErrNoEnrollment", err)
	}

	e.register(t, "s1", e.alice, false)
	_, codes := e.register(t, "s1", e.alice, true)
	if codes != nil {
		t.Errorf("adding a passkey returned recovery codes")
	}
	list, _ := e.svc.PasskeyList(t.Context(), e.alice.UserID)
	if len(list) != 2 {
		t.Fatalf("%d passkeys, want 2", len(list))
	}
	if err := e.svc.RemovePasskey(t.Context(), e.alice.UserID, list[0].ID, "s1", true); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemovePasskey(t.Context(), e.alice.UserID, list[1].ID, "s1", true); !errors.Is(err, ErrLastFactor) {
		t.Errorf("removing the last factor: %v, want ErrLastFactor", err)
	}
	if err := e.svc.RemovePasskey(t.Context(), e.alice.UserID, list[0].ID, "s1", false); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("removing a removed passkey: %v, want ErrNotEnrolled", err)
	}
}

// TestPasswordless: a discoverable passkey with user verification logs
// its owner in without a username; without user verification, brought
// back without the browser's binding, from another origin, for a
// disabled user or one without a local password, or replayed, it is
// refused; an admin-set password is still owed a change.
func TestPasswordless(t *testing.T) {
	e := passkeyEnv(t)
	k, _ := e.register(t, "s1", e.alice, false)
	login := func() ([]byte, error) {
		opts, err := e.svc.BeginPasswordless(t.Context(), "b1")
		if err != nil {
			t.Fatal(err)
		}
		return k.Get(opts, here)
	}
	answer, _ := login()
	id, err := e.svc.FinishPasswordless(t.Context(), answer, "b1")
	if err != nil || id.UserID != e.alice.UserID || !slices.Equal(id.Methods, []string{MethodWebAuthn}) {
		t.Fatalf("FinishPasswordless: %+v, %v", id, err)
	}
	if _, err := e.svc.FinishPasswordless(t.Context(), answer, "b1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("a replayed answer: %v", err)
	}
	k.NoUV = true
	answer, _ = login()
	_, err = e.svc.FinishPasswordless(t.Context(), answer, "b1")
	wantRefused(t, "no user verification", err, ReasonBadAssertion)
	k.NoUV = false

	answer, _ = login()
	_, err = e.svc.FinishPasswordless(t.Context(), answer, "another browser's")
	wantRefused(t, "an answer from a browser without the binding", err, "binding")

	opts, _ := e.svc.BeginPasswordless(t.Context(), "b1")
	answer, _ = k.Get(opts, passkeytest.Ceremony{Origin: "https://evil.test"})
	_, err = e.svc.FinishPasswordless(t.Context(), answer, "b1")
	wantRefused(t, "another origin", err, ReasonBadAssertion)

	u, err := e.dir.UserByID(t.Context(), e.alice.UserID)
	if err != nil {
		t.Fatal(err)
	}
	// An admin-set password: the login owes a new one.
	u.MustChangePassword = true
	if err := e.dir.Store.(*sqldir.DB).UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	answer, _ = login()
	if id, err := e.svc.FinishPasswordless(t.Context(), answer, "b1"); err != nil || !id.MustChangePassword {
		t.Errorf("a passwordless login with an admin-set password: %+v, %v; want it to owe the change", id, err)
	}
	// No local password (a federated user): the provider keeps its say.
	hash := u.PasswordHash
	u.MustChangePassword, u.PasswordHash = false, ""
	if err := e.dir.Store.(*sqldir.DB).UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	answer, _ = login()
	_, err = e.svc.FinishPasswordless(t.Context(), answer, "b1")
	wantRefused(t, "a user without a local password", err, "no_local_password")
	u.PasswordHash = hash
	u.Disabled = true
	if err := e.dir.Store.(*sqldir.DB).UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	answer, _ = login()
	_, err = e.svc.FinishPasswordless(t.Context(), answer, "b1")
	wantRefused(t, "a disabled user", err, "disabled")
}

// TestPasswordlessForgeryLocksNobodyOut: a credential id is no secret
// (the 2FA step lists it to anyone with the password), so answers signed
// by another key under alice's credential id, more than her attempt
// limit, are refused without counting against her: her passkey still
// logs her in, passwordless and at the 2FA step.
func TestPasswordlessForgeryLocksNobodyOut(t *testing.T) {
	e := passkeyEnv(t)
	k, _ := e.register(t, "s1", e.alice, false)
	opts, err := e.svc.BeginPasskeyRegistration(t.Context(), "s-forger", e.alice)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := passkeytest.Create(opts, here)
	if err != nil {
		t.Fatal(err)
	}
	forged.ID, forged.User = k.ID, k.User
	for i := range 8 {
		opts, err := e.svc.BeginPasswordless(t.Context(), "b1")
		if err != nil {
			t.Fatal(err)
		}
		answer, err := forged.Get(opts, here)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.FinishPasswordless(t.Context(), answer, "b1")
		wantRefused(t, fmt.Sprintf("forgery %d under alice's credential id", i+1), err, ReasonBadAssertion)
	}
	opts, err = e.svc.BeginPasswordless(t.Context(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := k.Get(opts, here)
	if id, err := e.svc.FinishPasswordless(t.Context(), answer, "b1"); err != nil || id.UserID != e.alice.UserID {
		t.Fatalf("alice's own passkey after the forgeries: %+v, %v", id, err)
	}
	if m, err := e.assert(t, "s2", k, here); err != nil || m != MethodWebAuthn {
		t.Fatalf("alice's 2FA step after the forgeries: %q, %v", m, err)
	}
}

// TestRelyingPartyNeedsAHostName: browsers refuse an IP address as the
// relying party id, so the gateway does too, with the fix.
func TestRelyingPartyNeedsAHostName(t *testing.T) {
	for _, s := range []string{"http://127.0.0.1:8080", "https://[::1]:8443"} {
		u, _ := url.Parse(s)
		if _, err := RelyingParty(u, "Gatehouse"); err == nil {
			t.Errorf("RelyingParty(%s): nil error", s)
		}
	}
	u, _ := url.Parse("http://localhost:8080")
	if _, err := RelyingParty(u, "Gatehouse"); err != nil {
		t.Errorf("localhost: %v", err)
	}
}

// FuzzPasskeyAnswer: whatever a browser (or anyone) posts as a passkey
// answer, to a passwordless sign-in or to the 2FA step, is refused
// without a panic, and never logs anyone in. Seeds: real answers made
// for these challenges, and broken ones (testdata/fuzz).
func FuzzPasskeyAnswer(f *testing.F) {
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, answer []byte) {
		e := passkeyEnv(t)
		k, _ := e.register(t, "s1", e.alice, false)
		opts, err := e.svc.BeginPasswordless(t.Context(), "b")
		if err != nil {
			t.Fatal(err)
		}
		if valid, _ := k.Get(opts, here); string(valid) == string(answer) {
			return // the real answer, by chance
		}
		if id, err := e.svc.FinishPasswordless(t.Context(), answer, "b"); err == nil || id.UserID != "" {
			t.Fatalf("a fuzzed answer signed in %+v", id)
		}
		if _, err := e.svc.BeginPasskeyLogin(t.Context(), "s2", e.alice.UserID); err != nil {
			t.Fatal(err)
		}
		if m, err := e.svc.FinishPasskeyLogin(t.Context(), "s2", e.alice.UserID, answer); err == nil {
			t.Fatalf("a fuzzed answer passed the 2FA step as %q", m)
		}
	})
}
