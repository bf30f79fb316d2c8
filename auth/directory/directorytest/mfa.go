package directorytest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// codeHashes stands in for the caller's hashing of n recovery codes; the
// prefix keeps sets made for different purposes apart.
func codeHashes(prefix string, n int) [][]byte {
	hs := make([][]byte, n)
	for i := range hs {
		h := sha256.Sum256(fmt.Appendf(nil, "%s-%d", prefix, i))
		hs[i] = h[:]
	}
	return hs
}

var mfaTime = time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)

func mustEnroll(t *testing.T, d directory.Directory, f directory.TOTPFactor, hashes [][]byte) {
	t.Helper()
	if err := d.EnrollTOTP(t.Context(), f, hashes); err != nil {
		t.Fatalf("EnrollTOTP(%s): %v", f.UserID, err)
	}
}

// wantFactor compares the stored factor without printing the secret.
func wantFactor(t *testing.T, d directory.Directory, want directory.TOTPFactor) {
	t.Helper()
	got, err := d.TOTP(t.Context(), want.UserID)
	if err != nil {
		t.Fatalf("TOTP(%s): %v", want.UserID, err)
	}
	if got.UserID != want.UserID || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("TOTP: got user %q created %v, want %q %v", got.UserID, got.CreatedAt, want.UserID, want.CreatedAt)
	}
	if !bytes.Equal(got.Secret, want.Secret) {
		t.Errorf("TOTP(%s): sealed secret differs after the round trip", want.UserID)
	}
	wantUTC(t, "TOTP CreatedAt", got.CreatedAt)
}

func wantCodesLeft(t *testing.T, d directory.Directory, userID string, want int) {
	t.Helper()
	got, err := d.RecoveryCodesLeft(t.Context(), userID)
	if err != nil || got != want {
		t.Errorf("RecoveryCodesLeft(%s): got %d, %v, want %d", userID, got, err, want)
	}
}

// testMFAEnroll: a factor and its codes round-trip, and enrolling again
// replaces both, so codes printed for the old authenticator stop working.
func testMFAEnroll(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	first := directory.TOTPFactor{UserID: u.ID, Secret: []byte{0x01, 0x00, 0xfe, 0xff}, CreatedAt: mfaTime}
	oldCodes := codeHashes("old", 10)
	mustEnroll(t, d, first, oldCodes)
	wantFactor(t, d, first)
	wantCodesLeft(t, d, u.ID, 10)

	second := directory.TOTPFactor{UserID: u.ID, Secret: []byte{0x02, 0x03}, CreatedAt: mfaTime.Add(time.Hour)}
	newCodes := codeHashes("new", 3)
	mustEnroll(t, d, second, newCodes)
	wantFactor(t, d, second)
	wantCodesLeft(t, d, u.ID, 3)
	wantErr(t, "UseRecoveryCode with a code from the replaced enrolment",
		d.UseRecoveryCode(ctx, u.ID, oldCodes[0], mfaTime), directory.ErrNotFound)
	if err := d.UseRecoveryCode(ctx, u.ID, newCodes[0], mfaTime); err != nil {
		t.Errorf("UseRecoveryCode with a current code: %v", err)
	}

	// A zero CreatedAt means now.
	before := time.Now().Add(-time.Second)
	mustEnroll(t, d, directory.TOTPFactor{UserID: u.ID, Secret: []byte{4}}, nil)
	got, err := d.TOTP(ctx, u.ID)
	if err != nil {
		t.Fatalf("TOTP: %v", err)
	}
	wantUTC(t, "TOTP CreatedAt defaulted", got.CreatedAt)
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("TOTP CreatedAt with zero input: got %v, want about now", got.CreatedAt)
	}
	wantCodesLeft(t, d, u.ID, 0)
}

// testMFANotFound: each call's answer for an unknown user or one who is
// not enrolled.
func testMFANotFound(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "bob"})
	f := directory.TOTPFactor{UserID: "0123456789abcdef0123456789abcdef", Secret: []byte{1}, CreatedAt: mfaTime}
	wantErr(t, "EnrollTOTP unknown user", d.EnrollTOTP(ctx, f, codeHashes("x", 2)), directory.ErrNotFound)
	wantCodesLeft(t, d, f.UserID, 0)

	_, err := d.TOTP(ctx, u.ID)
	wantErr(t, "TOTP not enrolled", err, directory.ErrNotFound)
	wantErr(t, "UpdateTOTPSecret not enrolled", d.UpdateTOTPSecret(ctx, u.ID, []byte{9}), directory.ErrNotFound)
	wantErr(t, "ReplaceRecoveryCodes not enrolled", d.ReplaceRecoveryCodes(ctx, u.ID, codeHashes("x", 2)), directory.ErrNotFound)
	wantErr(t, "UseRecoveryCode not enrolled", d.UseRecoveryCode(ctx, u.ID, codeHashes("x", 1)[0], mfaTime), directory.ErrNotFound)
	if err := d.RemoveTOTP(ctx, u.ID); err != nil {
		t.Errorf("RemoveTOTP not enrolled: got %v, want nil", err)
	}
	wantCodesLeft(t, d, u.ID, 0)
}

// testMFARemove: removing the factor takes the recovery codes with it,
// touches no other user, and may be repeated.
func testMFARemove(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice"})
	bob := mustCreate(t, d, &directory.User{Username: "bob"})
	codes := codeHashes("c", 5)
	mustEnroll(t, d, directory.TOTPFactor{UserID: alice.ID, Secret: []byte{1}, CreatedAt: mfaTime}, codes)
	bobFactor := directory.TOTPFactor{UserID: bob.ID, Secret: []byte{2}, CreatedAt: mfaTime}
	mustEnroll(t, d, bobFactor, codes) // same hashes, other user: distinct rows

	for i := range 2 {
		if err := d.RemoveTOTP(ctx, alice.ID); err != nil {
			t.Fatalf("RemoveTOTP #%d: %v", i+1, err)
		}
	}
	_, err := d.TOTP(ctx, alice.ID)
	wantErr(t, "TOTP after RemoveTOTP", err, directory.ErrNotFound)
	wantCodesLeft(t, d, alice.ID, 0)
	wantErr(t, "UseRecoveryCode after RemoveTOTP", d.UseRecoveryCode(ctx, alice.ID, codes[0], mfaTime), directory.ErrNotFound)

	wantFactor(t, d, bobFactor)
	wantCodesLeft(t, d, bob.ID, 5)
}

// testRecoveryCodeOnce: a code works once; a wrong hash or another user's
// code never does.
func testRecoveryCodeOnce(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice"})
	bob := mustCreate(t, d, &directory.User{Username: "bob"})
	codes := codeHashes("alice", 3)
	mustEnroll(t, d, directory.TOTPFactor{UserID: alice.ID, Secret: []byte{1}, CreatedAt: mfaTime}, codes)
	mustEnroll(t, d, directory.TOTPFactor{UserID: bob.ID, Secret: []byte{2}, CreatedAt: mfaTime}, codeHashes("bob", 3))

	if err := d.UseRecoveryCode(ctx, alice.ID, codes[1], mfaTime); err != nil {
		t.Fatalf("UseRecoveryCode first use: %v", err)
	}
	wantCodesLeft(t, d, alice.ID, 2)
	wantErr(t, "UseRecoveryCode second use", d.UseRecoveryCode(ctx, alice.ID, codes[1], mfaTime.Add(time.Minute)), directory.ErrNotFound)
	wantErr(t, "UseRecoveryCode wrong hash", d.UseRecoveryCode(ctx, alice.ID, codeHashes("alice", 4)[3], mfaTime), directory.ErrNotFound)
	wantErr(t, "UseRecoveryCode another user's code", d.UseRecoveryCode(ctx, bob.ID, codes[0], mfaTime), directory.ErrNotFound)
	wantCodesLeft(t, d, alice.ID, 2)
	wantCodesLeft(t, d, bob.ID, 3)

	for _, h := range []int{0, 2} {
		if err := d.UseRecoveryCode(ctx, alice.ID, codes[h], mfaTime); err != nil {
			t.Fatalf("UseRecoveryCode code %d: %v", h, err)
		}
	}
	wantCodesLeft(t, d, alice.ID, 0)
}

// testRecoveryCodeRace: two requests racing with one stolen code must not
// both log in. Of n concurrent uses exactly one succeeds.
func testRecoveryCodeRace(t *testing.T, d directory.Directory) {
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	codes := codeHashes("race", 2)
	mustEnroll(t, d, directory.TOTPFactor{UserID: u.ID, Secret: []byte{1}, CreatedAt: mfaTime}, codes)
	const n = 8
	errs := runConcurrently(n, func(int) error {
		return d.UseRecoveryCode(t.Context(), u.ID, codes[0], mfaTime)
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, directory.ErrNotFound) || errors.Is(err, directory.ErrUnavailable):
			t.Errorf("UseRecoveryCode: got %v, want nil or ErrNotFound", err)
		}
	}
	if won != 1 {
		t.Errorf("concurrent UseRecoveryCode: got %d successes, want exactly 1", won)
	}
	wantCodesLeft(t, d, u.ID, 1)
}

// testReplaceRecoveryCodes: regenerating codes voids every old one, used
// or not, and keeps the factor.
func testReplaceRecoveryCodes(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	f := directory.TOTPFactor{UserID: u.ID, Secret: []byte{1, 2, 3}, CreatedAt: mfaTime}
	old := codeHashes("old", 4)
	mustEnroll(t, d, f, old)
	if err := d.UseRecoveryCode(ctx, u.ID, old[0], mfaTime); err != nil {
		t.Fatalf("UseRecoveryCode: %v", err)
	}
	fresh := append(codeHashes("new", 5), old[0]) // a reissued hash starts unused
	if err := d.ReplaceRecoveryCodes(ctx, u.ID, fresh); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	wantCodesLeft(t, d, u.ID, 6)
	wantErr(t, "UseRecoveryCode old code after replace", d.UseRecoveryCode(ctx, u.ID, old[1], mfaTime), directory.ErrNotFound)
	for i, h := range fresh {
		if err := d.UseRecoveryCode(ctx, u.ID, h, mfaTime); err != nil {
			t.Errorf("UseRecoveryCode new code %d: %v", i, err)
		}
	}
	wantCodesLeft(t, d, u.ID, 0)
	wantFactor(t, d, f)

	if err := d.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
		t.Fatalf("ReplaceRecoveryCodes with none: %v", err)
	}
	wantCodesLeft(t, d, u.ID, 0)
}

// testUpdateTOTPSecret: re-sealing after a key rotation changes only the
// sealed bytes.
func testUpdateTOTPSecret(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	f := directory.TOTPFactor{UserID: u.ID, Secret: []byte("sealed-with-key-1"), CreatedAt: mfaTime}
	mustEnroll(t, d, f, codeHashes("c", 2))
	f.Secret = []byte("sealed-with-key-2, longer than before")
	if err := d.UpdateTOTPSecret(ctx, u.ID, f.Secret); err != nil {
		t.Fatalf("UpdateTOTPSecret: %v", err)
	}
	wantFactor(t, d, f)
	wantCodesLeft(t, d, u.ID, 2)
}

// testSecurityStamp: the stamp is stored as given on create and update and
// returned by every read.
func testSecurityStamp(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice", Email: "alice@example.com", SecurityStamp: 3})
	plain := mustCreate(t, d, &directory.User{Username: "bob"})
	if got := mustGet(t, d, plain.ID).SecurityStamp; got != 0 {
		t.Errorf("SecurityStamp of a user created without one: got %d, want 0", got)
	}
	wantStamp(t, d, u.ID, 3)
	// UpdateUser never writes the stamp: a caller holding a stale copy
	// cannot undo a bump (which would revive revoked remembered devices).
	stale := mustGet(t, d, u.ID)
	if got, err := d.BumpSecurityStamp(ctx, u.ID); err != nil || got != 4 {
		t.Fatalf("BumpSecurityStamp: %d %v, want 4", got, err)
	}
	stale.DisplayName = "Alice"
	if err := d.UpdateUser(ctx, stale); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if stale.SecurityStamp != 4 {
		t.Errorf("UpdateUser read back stamp %d, want 4", stale.SecurityStamp)
	}
	wantStamp(t, d, u.ID, 4)
	if _, err := d.BumpSecurityStamp(ctx, "no-such-user"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("BumpSecurityStamp unknown user: %v, want ErrNotFound", err)
	}
	const n = 8
	done := make(chan error, n)
	for range n {
		go func() { _, err := d.BumpSecurityStamp(ctx, u.ID); done <- err }()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	wantStamp(t, d, u.ID, 4+n)
}

// testSetOwnPassword: the password lands only while the stamp is the
// one given and the user is enabled, with the flags cleared and the stamp
// moved; a refused write changes nothing, and nothing else of the row is
// touched (an admin's disable or role change survives).
func testSetOwnPassword(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	expires := mfaTime.Add(24 * time.Hour)
	u := mustCreate(t, d, &directory.User{Username: "alice", Email: "alice@example.com", PasswordHash: "old", Role: "admin",
		SecurityStamp: 7, MustChangePassword: true, PasswordExpires: expires})
	if _, err := d.SetOwnPassword(ctx, u.ID, 6, "stale"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("SetOwnPassword with an old stamp: %v, want ErrNotFound", err)
	}
	if got := mustGet(t, d, u.ID); got.PasswordHash != "old" || got.SecurityStamp != 7 || !got.MustChangePassword || !got.PasswordExpires.Equal(expires) {
		t.Fatalf("refused SetOwnPassword changed the row: %+v", got)
	}
	next, err := d.SetOwnPassword(ctx, u.ID, 7, "new")
	if err != nil || next != 8 {
		t.Fatalf("SetOwnPassword: %d %v, want 8", next, err)
	}
	got := mustGet(t, d, u.ID)
	if got.PasswordHash != "new" || got.MustChangePassword || !got.PasswordExpires.IsZero() || got.Role != "admin" || got.Username != "alice" {
		t.Errorf("after SetOwnPassword: %+v", got)
	}
	wantStamp(t, d, u.ID, 8)
	if _, err := d.SetOwnPassword(ctx, u.ID, 7, "again"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("second SetOwnPassword under the used stamp: %v, want ErrNotFound", err)
	}
	got.Disabled = true
	if err := d.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetOwnPassword(ctx, u.ID, 8, "disabled"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("SetOwnPassword for a disabled user: %v, want ErrNotFound", err)
	}
	if got := mustGet(t, d, u.ID); got.PasswordHash != "new" || !got.Disabled {
		t.Errorf("disabled user's row changed: %+v", got)
	}
	if _, err := d.SetOwnPassword(ctx, "no-such-user", 0, "x"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("SetOwnPassword unknown user: %v, want ErrNotFound", err)
	}
}

// testSetOwnPasswordRace: of several changes under one stamp exactly one
// lands, whatever the database's isolation level.
func testSetOwnPasswordRace(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice", PasswordHash: "old"})
	const n = 8
	type result struct {
		hash string
		err  error
	}
	done := make(chan result, n)
	for i := range n {
		go func() {
			h := fmt.Sprintf("hash-%d", i)
			_, err := d.SetOwnPassword(ctx, u.ID, 0, h)
			done <- result{h, err}
		}()
	}
	var won []string
	for range n {
		r := <-done
		switch {
		case r.err == nil:
			won = append(won, r.hash)
		case !errors.Is(r.err, directory.ErrNotFound):
			t.Fatalf("SetOwnPassword: %v", r.err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d changes landed under one stamp (%v), want exactly 1", len(won), won)
	}
	if got := mustGet(t, d, u.ID); got.PasswordHash != won[0] || got.SecurityStamp != 1 {
		t.Errorf("stored %q stamp %d, want %q stamp 1", got.PasswordHash, got.SecurityStamp, won[0])
	}
}

func wantStamp(t *testing.T, d directory.Directory, id string, want int64) {
	t.Helper()
	ctx := t.Context()
	byID := mustGet(t, d, id)
	reads := []struct {
		name string
		get  func() (*directory.User, error)
	}{
		{"UserByID", func() (*directory.User, error) { return byID, nil }},
		{"UserByUsername", func() (*directory.User, error) { return d.UserByUsername(ctx, byID.Username) }},
		{"UserByEmail", func() (*directory.User, error) { return d.UserByEmail(ctx, byID.Email) }},
		{"ListUsers", func() (*directory.User, error) {
			users, err := d.ListUsers(ctx)
			for i := range users {
				if users[i].ID == id {
					return &users[i], err
				}
			}
			return nil, fmt.Errorf("user %s not listed (%v)", id, err)
		}},
	}
	for _, r := range reads {
		got, err := r.get()
		if err != nil {
			t.Errorf("%s: %v", r.name, err)
			continue
		}
		if got.SecurityStamp != want {
			t.Errorf("%s: got SecurityStamp %d, want %d", r.name, got.SecurityStamp, want)
		}
	}
}

// testConcurrentEnroll: enrolments and code regenerations racing for one
// user (a double-clicked button, two tabs) leave exactly one of them in
// place, never a union of code sets.
func testConcurrentEnroll(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	const n, perSet = 6, 3
	sets := make([][][]byte, n)
	for i := range sets {
		sets[i] = codeHashes(fmt.Sprint("set", i), perSet)
	}
	wantSurvivor := func(what string, errs []error) {
		t.Helper()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s %d: %v", what, i, err)
			}
		}
		wantCodesLeft(t, d, u.ID, perSet)
	}

	errs := runConcurrently(n, func(i int) error {
		return d.EnrollTOTP(ctx, directory.TOTPFactor{UserID: u.ID, Secret: []byte{byte(i)}, CreatedAt: mfaTime}, sets[i])
	})
	wantSurvivor("EnrollTOTP", errs)
	f, err := d.TOTP(ctx, u.ID)
	if err != nil || len(f.Secret) != 1 || int(f.Secret[0]) >= n {
		t.Fatalf("TOTP after the race: %v, want one of the enrolled factors", err)
	}
	// The surviving factor's own codes are the ones stored.
	if err := d.UseRecoveryCode(ctx, u.ID, sets[f.Secret[0]][0], mfaTime); err != nil {
		t.Errorf("UseRecoveryCode of the surviving enrolment: %v", err)
	}

	errs = runConcurrently(n, func(i int) error {
		return d.ReplaceRecoveryCodes(ctx, u.ID, sets[i])
	})
	wantSurvivor("ReplaceRecoveryCodes", errs)
}

// testEnrollFirst: the conditional enrolment stores a factor for a user
// without one, and for a user with one changes nothing at all, neither
// the factor nor the recovery codes (a stale enrolment page must not
// replace what the user enrolled since).
func testEnrollFirst(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	first := directory.TOTPFactor{UserID: u.ID, Secret: []byte{1, 2}, CreatedAt: mfaTime}
	codes := codeHashes("first", 4)
	if err := d.EnrollFirstTOTP(ctx, first, codes); err != nil {
		t.Fatalf("EnrollFirstTOTP without a factor: %v", err)
	}
	wantFactor(t, d, first)
	wantCodesLeft(t, d, u.ID, 4)

	stale := directory.TOTPFactor{UserID: u.ID, Secret: []byte{9, 9}, CreatedAt: mfaTime.Add(time.Hour)}
	wantErr(t, "EnrollFirstTOTP with a factor", d.EnrollFirstTOTP(ctx, stale, codeHashes("stale", 10)), directory.ErrConflict)
	wantFactor(t, d, first)
	wantCodesLeft(t, d, u.ID, 4)
	if err := d.UseRecoveryCode(ctx, u.ID, codes[0], mfaTime); err != nil {
		t.Errorf("UseRecoveryCode of the kept codes: %v", err)
	}

	wantErr(t, "EnrollFirstTOTP unknown user",
		d.EnrollFirstTOTP(ctx, directory.TOTPFactor{UserID: "0123456789abcdef0123456789abcdef", Secret: []byte{1}}, nil), directory.ErrNotFound)

	// After removal the user has no factor again.
	if err := d.RemoveTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.EnrollFirstTOTP(ctx, stale, codeHashes("again", 2)); err != nil {
		t.Fatalf("EnrollFirstTOTP after RemoveTOTP: %v", err)
	}
	wantFactor(t, d, stale)
	wantCodesLeft(t, d, u.ID, 2)
}

// testConcurrentEnrollFirst: two tabs (or an attacker's stale page and the
// user) confirming at once: exactly one enrolment is stored, with its own
// codes, and every other one is refused.
func testConcurrentEnrollFirst(t *testing.T, d directory.Directory) {
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	const n, perSet = 6, 3
	sets := make([][][]byte, n)
	for i := range sets {
		sets[i] = codeHashes(fmt.Sprint("first", i), perSet)
	}
	errs := runConcurrently(n, func(i int) error {
		return d.EnrollFirstTOTP(t.Context(), directory.TOTPFactor{UserID: u.ID, Secret: []byte{byte(i)}, CreatedAt: mfaTime}, sets[i])
	})
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("EnrollFirstTOTP %d and %d both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, directory.ErrConflict) || errors.Is(err, directory.ErrUnavailable):
			t.Errorf("EnrollFirstTOTP %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no concurrent EnrollFirstTOTP succeeded")
	}
	f, err := d.TOTP(t.Context(), u.ID)
	if err != nil || len(f.Secret) != 1 || int(f.Secret[0]) != won {
		t.Fatalf("TOTP after the race: %v, want the winner's factor %d", err, won)
	}
	wantCodesLeft(t, d, u.ID, perSet)
	if err := d.UseRecoveryCode(t.Context(), u.ID, sets[won][0], mfaTime); err != nil {
		t.Errorf("UseRecoveryCode of the winner's codes: %v", err)
	}
}
