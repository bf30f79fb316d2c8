package directorytest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func newPasskey(userID, cred string) *directory.Passkey {
	return &directory.Passkey{UserID: userID, CredentialID: []byte(cred), Name: "key " + cred, Credential: []byte("record of " + cred), CreatedAt: mfaTime}
}

// testPasskeys: a passkey is a first factor as TOTP and OTP ones are,
// with the recovery codes; more can be added beside it up to
// MaxPasskeys; a credential id belongs to one passkey only; the counter
// only moves forward; removing them follows RemoveFactor's rules; and
// they leave with their user.
func testPasskeys(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice"})
	if err := d.AddPasskey(ctx, newPasskey(alice.ID, "a0")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("AddPasskey for a user with no factor: %v, want ErrNotFound", err)
	}
	first := newPasskey(alice.ID, "a1")
	if err := d.EnrollFirstPasskey(ctx, first, codeHashes("p", 3)); err != nil || first.ID == "" {
		t.Fatalf("EnrollFirstPasskey: %v (id %q)", err, first.ID)
	}
	wantCodesLeft(t, d, alice.ID, 3)
	if err := d.EnrollFirstPasskey(ctx, newPasskey(alice.ID, "a2"), codeHashes("q", 2)); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a second first factor: %v, want ErrConflict", err)
	}
	if err := d.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: alice.ID, Kind: directory.OTPEmail}, codeHashes("r", 2)); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("EnrollFirstOTP over a passkey: %v, want ErrConflict", err)
	}
	wantCodesLeft(t, d, alice.ID, 3)

	bob := mustCreate(t, d, &directory.User{Username: "bob"})
	mustEnroll(t, d, directory.TOTPFactor{UserID: bob.ID, Secret: []byte("sealed"), CreatedAt: mfaTime}, codeHashes("b", 2))
	if err := d.AddPasskey(ctx, newPasskey(bob.ID, "a1")); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("another user's credential id: %v, want ErrConflict", err)
	}
	bobKey := newPasskey(bob.ID, "b1")
	if err := d.AddPasskey(ctx, bobKey); err != nil {
		t.Fatalf("AddPasskey beside TOTP: %v", err)
	}
	wantCodesLeft(t, d, bob.ID, 2)
	if n, err := d.FactorCount(ctx, bob.ID); err != nil || n != 2 {
		t.Errorf("FactorCount with an app and a passkey: %d, %v; want 2", n, err)
	}

	got, err := d.PasskeyByCredentialID(ctx, []byte("a1"))
	if err != nil || got.ID != first.ID || got.UserID != alice.ID || got.Name != "key a1" ||
		!bytes.Equal(got.Credential, first.Credential) || !got.CreatedAt.Equal(mfaTime) || !got.LastUsedAt.IsZero() {
		t.Errorf("PasskeyByCredentialID: %+v, %v", got, err)
	}
	if _, err := d.PasskeyByCredentialID(ctx, []byte("nobody")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown credential id: %v, want ErrNotFound", err)
	}

	// The counter: forward only; zero stays allowed for authenticators
	// that keep none (synced passkeys).
	later := mfaTime.Add(time.Minute)
	if err := d.UsePasskey(ctx, first.ID, 0, []byte("v2"), later); err != nil {
		t.Errorf("UsePasskey with no counter: %v", err)
	}
	if err := d.UsePasskey(ctx, first.ID, 5, []byte("v3"), later); err != nil {
		t.Errorf("UsePasskey 5: %v", err)
	}
	for _, n := range []uint32{5, 4, 0} {
		if err := d.UsePasskey(ctx, first.ID, n, []byte("stale"), later); !errors.Is(err, directory.ErrConflict) {
			t.Errorf("UsePasskey %d after 5: %v, want ErrConflict", n, err)
		}
	}
	if err := d.UsePasskey(ctx, "no-such-id", 9, []byte("x"), later); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("UsePasskey of a missing passkey: %v, want ErrNotFound", err)
	}
	got, _ = d.PasskeyByCredentialID(ctx, []byte("a1"))
	if got.SignCount != 5 || string(got.Credential) != "v3" || !got.LastUsedAt.Equal(later) {
		t.Errorf("after use: count %d, record %q, used %v", got.SignCount, got.Credential, got.LastUsedAt)
	}

	// Racing assertions with the same count: one lands.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 6 {
		wg.Go(func() {
			if d.UsePasskey(ctx, first.ID, 9, []byte("race"), later) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 6 racing assertions with one counter value landed, want 1", wins)
	}

	for i := 2; i <= directory.MaxPasskeys; i++ {
		p := newPasskey(alice.ID, fmt.Sprintf("a%d", i))
		p.CreatedAt = mfaTime.Add(time.Duration(i) * time.Second)
		if err := d.AddPasskey(ctx, p); err != nil {
			t.Fatalf("AddPasskey %d: %v", i, err)
		}
	}
	if err := d.AddPasskey(ctx, newPasskey(alice.ID, "one-too-many")); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("passkey %d: %v, want ErrConflict", directory.MaxPasskeys+1, err)
	}
	ps, err := d.Passkeys(ctx, alice.ID)
	if err != nil || len(ps) != directory.MaxPasskeys || ps[0].ID != first.ID {
		t.Fatalf("Passkeys: %d, %v", len(ps), err)
	}

	// Removing: only one's own; the last with keepOne is refused.
	if _, err := d.RemovePasskey(ctx, bob.ID, first.ID, false); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("removing another user's passkey: %v, want ErrNotFound", err)
	}
	if left, err := d.RemovePasskey(ctx, alice.ID, ps[1].ID, true); err != nil || left != directory.MaxPasskeys-1 {
		t.Errorf("RemovePasskey: %d left, %v", left, err)
	}
	if left, err := d.RemoveFactor(ctx, bob.ID, "totp", true); err != nil || left != 1 {
		t.Errorf("removing TOTP beside a passkey: %d, %v", left, err)
	}
	if _, err := d.RemovePasskey(ctx, bob.ID, bobKey.ID, true); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("removing the last factor with keepOne: %v, want ErrConflict", err)
	}
	wantCodesLeft(t, d, bob.ID, 2)
	if left, err := d.RemoveFactor(ctx, alice.ID, directory.FactorPasskeys, false); err != nil || left != 0 {
		t.Errorf("RemoveFactor(webauthn): %d, %v", left, err)
	}
	wantCodesLeft(t, d, alice.ID, 0)
	if ps, _ := d.Passkeys(ctx, alice.ID); len(ps) != 0 {
		t.Errorf("%d passkeys left after removing them all", len(ps))
	}

	if err := d.RemoveTOTP(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PasskeyByCredentialID(ctx, []byte("b1")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a passkey outlived RemoveTOTP (the admin's reset): %v", err)
	}
	carol := mustCreate(t, d, &directory.User{Username: "carol"})
	if err := d.EnrollFirstPasskey(ctx, newPasskey(carol.ID, "c1"), codeHashes("c", 1)); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteUser(ctx, carol.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PasskeyByCredentialID(ctx, []byte("c1")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a passkey outlived its user: %v", err)
	}
}
