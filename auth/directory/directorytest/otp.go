package directorytest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// testOTPFactors: an OTP factor is a user's first factor as a TOTP one
// is, with the same recovery codes; a user with any factor cannot enrol
// a first one of either kind (nothing changes, not even the codes);
// removing the factors and deleting the user take OTP factors with them.
func testOTPFactors(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice", Email: "alice@example.com"})
	if fs, err := d.OTPFactors(ctx, alice.ID); err != nil || len(fs) != 0 {
		t.Fatalf("OTPFactors before: %v, %v", fs, err)
	}
	email := directory.OTPFactor{UserID: alice.ID, Kind: directory.OTPEmail, CreatedAt: mfaTime}
	if err := d.EnrollFirstOTP(ctx, email, codeHashes("a", 3)); err != nil {
		t.Fatalf("EnrollFirstOTP: %v", err)
	}
	fs, err := d.OTPFactors(ctx, alice.ID)
	if err != nil || len(fs) != 1 || fs[0] != email {
		t.Fatalf("OTPFactors: %+v, %v; want %+v", fs, err, email)
	}
	wantCodesLeft(t, d, alice.ID, 3)
	sms := directory.OTPFactor{UserID: alice.ID, Kind: directory.OTPSMS, Target: "+919812345678"}
	if err := d.EnrollFirstOTP(ctx, sms, codeHashes("b", 2)); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a second first factor: %v, want ErrConflict", err)
	}
	totp := directory.TOTPFactor{UserID: alice.ID, Secret: []byte("sealed"), CreatedAt: mfaTime}
	if err := d.EnrollFirstTOTP(ctx, totp, codeHashes("c", 2)); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("EnrollFirstTOTP over an OTP factor: %v, want ErrConflict", err)
	}
	if _, err := d.TOTP(ctx, alice.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a refused TOTP enrolment stored a factor: %v", err)
	}
	wantCodesLeft(t, d, alice.ID, 3)
	if err := d.ReplaceRecoveryCodes(ctx, alice.ID, codeHashes("d", 4)); err != nil {
		t.Errorf("ReplaceRecoveryCodes for an OTP-only user: %v", err)
	}
	wantCodesLeft(t, d, alice.ID, 4)

	bob := mustCreate(t, d, &directory.User{Username: "bob"})
	mustEnroll(t, d, directory.TOTPFactor{UserID: bob.ID, Secret: []byte("sealed"), CreatedAt: mfaTime}, codeHashes("e", 2))
	if err := d.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: bob.ID, Kind: directory.OTPEmail}, codeHashes("f", 2)); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("EnrollFirstOTP over a TOTP factor: %v, want ErrConflict", err)
	}
	wantCodesLeft(t, d, bob.ID, 2)

	if err := d.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: "0123456789abcdef", Kind: directory.OTPEmail}, nil); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("EnrollFirstOTP unknown user: %v, want ErrNotFound", err)
	}
	if err := d.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: bob.ID, Kind: "pigeon"}, nil); err == nil {
		t.Error("EnrollFirstOTP with an unknown kind: nil error")
	}

	if err := d.RemoveTOTP(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if fs, err := d.OTPFactors(ctx, alice.ID); err != nil || len(fs) != 0 {
		t.Errorf("OTPFactors after RemoveTOTP: %v, %v", fs, err)
	}
	wantCodesLeft(t, d, alice.ID, 0)
	if err := d.EnrollFirstOTP(ctx, sms, codeHashes("g", 1)); err != nil {
		t.Fatalf("EnrollFirstOTP after removal: %v", err)
	}
	if err := d.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if fs, err := d.OTPFactors(ctx, alice.ID); err != nil || len(fs) != 0 {
		t.Errorf("OTPFactors of a deleted user: %v, %v", fs, err)
	}
}

// testConcurrentFirstFactor: a TOTP and an email enrolment racing for a
// user without a factor: exactly one lands.
func testConcurrentFirstFactor(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	for round := range 4 {
		u := mustCreate(t, d, &directory.User{Username: "racer" + string(rune('a'+round))})
		errs := make(chan error, 2)
		go func() {
			errs <- d.EnrollFirstTOTP(ctx, directory.TOTPFactor{UserID: u.ID, Secret: []byte("sealed"), CreatedAt: mfaTime}, codeHashes("t", 2))
		}()
		go func() {
			errs <- d.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: u.ID, Kind: directory.OTPEmail}, codeHashes("o", 3))
		}()
		won := 0
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				won++
			case !errors.Is(err, directory.ErrConflict):
				t.Fatalf("racing enrolment: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d first factors landed, want 1", round, won)
		}
	}
}

// testAddAndRemoveFactors: a user with a factor adds others of other kinds
// (the recovery codes stay), never a second of one kind, and never a
// first one this way; removing one keeps the rest and the codes, and
// removing the last takes the codes too.
func testAddAndRemoveFactors(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice", Email: "alice@example.com"})
	totp := directory.TOTPFactor{UserID: u.ID, Secret: []byte("sealed"), CreatedAt: mfaTime}
	if err := d.AddTOTP(ctx, totp); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("AddTOTP as a first factor: %v, want ErrNotFound", err)
	}
	if err := d.AddOTP(ctx, directory.OTPFactor{UserID: u.ID, Kind: directory.OTPEmail}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("AddOTP as a first factor: %v, want ErrNotFound", err)
	}
	if err := d.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: u.ID, Kind: directory.OTPEmail, CreatedAt: mfaTime}, codeHashes("a", 3)); err != nil {
		t.Fatal(err)
	}
	if err := d.AddOTP(ctx, directory.OTPFactor{UserID: u.ID, Kind: directory.OTPEmail}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a second email factor: %v, want ErrConflict", err)
	}
	if err := d.AddTOTP(ctx, totp); err != nil {
		t.Fatalf("AddTOTP: %v", err)
	}
	if err := d.AddTOTP(ctx, totp); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a second TOTP factor: %v, want ErrConflict", err)
	}
	sms := directory.OTPFactor{UserID: u.ID, Kind: directory.OTPSMS, Target: "+919812345678", CreatedAt: mfaTime.Add(time.Second)}
	if err := d.AddOTP(ctx, sms); err != nil {
		t.Fatalf("AddOTP sms: %v", err)
	}
	wantCodesLeft(t, d, u.ID, 3)
	if fs, err := d.OTPFactors(ctx, u.ID); err != nil || len(fs) != 2 || fs[1] != sms {
		t.Errorf("OTPFactors: %+v, %v", fs, err)
	}
	if left, err := d.RemoveFactor(ctx, u.ID, "sms", true); err != nil || left != 2 {
		t.Fatalf("RemoveFactor(sms, keep one) with three: %d, %v", left, err)
	}
	if err := d.AddOTP(ctx, sms); err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{"email", "totp", "sms"} {
		if i == 2 {
			if _, err := d.RemoveFactor(ctx, u.ID, kind, true); !errors.Is(err, directory.ErrConflict) {
				t.Fatalf("removing the last factor while keeping one: %v, want ErrConflict", err)
			}
			wantCodesLeft(t, d, u.ID, 3)
		}
		left, err := d.RemoveFactor(ctx, u.ID, kind, false)
		if err != nil || left != 2-i {
			t.Fatalf("RemoveFactor(%s): %d, %v; want %d left", kind, left, err, 2-i)
		}
		want := 0
		if left > 0 {
			want = 3
		}
		wantCodesLeft(t, d, u.ID, want)
	}
	if _, err := d.RemoveFactor(ctx, u.ID, "totp", false); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("removing a factor that is not there: %v, want ErrNotFound", err)
	}
}
