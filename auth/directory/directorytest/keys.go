package directorytest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func testSigningKeys(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	if got, err := d.SigningKeys(ctx); err != nil || len(got) != 0 {
		t.Fatalf("SigningKeys on empty directory: got %d keys, %v, want none", len(got), err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	// Added newest first, so listing must sort rather than echo insertion.
	keys := []directory.SigningKey{
		{KID: "k2", Alg: "ES256", Private: []byte{0x30, 0x00, 0xff, 0x00, 0x7f}, CreatedAt: t0.Add(time.Hour)},
		{KID: "k1", Alg: "ES256", Private: []byte{0x30, 0x81, 0x87, 0x02, 0x01, 0x00}, CreatedAt: t0},
	}
	for _, k := range keys {
		if err := d.AddSigningKey(ctx, k); err != nil {
			t.Fatalf("AddSigningKey(%s): %v", k.KID, err)
		}
	}
	dup := directory.SigningKey{KID: "k1", Alg: "ES256", Private: []byte{1}, CreatedAt: t0}
	wantErr(t, "AddSigningKey duplicate kid", d.AddSigningKey(ctx, dup), directory.ErrConflict)

	wantKeys(t, d, []directory.SigningKey{keys[1], keys[0]})

	for range 2 { // retiring twice is not an error
		if err := d.RetireSigningKey(ctx, "k1"); err != nil {
			t.Fatalf("RetireSigningKey(k1): %v", err)
		}
	}
	retired := keys[1]
	retired.Retired = true
	wantKeys(t, d, []directory.SigningKey{retired, keys[0]})
	wantErr(t, "RetireSigningKey unknown", d.RetireSigningKey(ctx, "k3"), directory.ErrNotFound)
}

// testUpdateSigningKey: sealing a stored key in place replaces its bytes
// and nothing else, retired keys included.
func testUpdateSigningKey(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	keys := []directory.SigningKey{
		{KID: "k1", Alg: "ES256", Private: []byte{0x30, 0x01}, CreatedAt: t0},
		{KID: "k2", Alg: "ES256", Private: []byte{0x30, 0x02}, CreatedAt: t0.Add(time.Minute)},
	}
	for _, k := range keys {
		if err := d.AddSigningKey(ctx, k); err != nil {
			t.Fatalf("AddSigningKey(%s): %v", k.KID, err)
		}
	}
	if err := d.RetireSigningKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	keys[0].Retired = true
	for i, private := range [][]byte{{0x01, 0xaa, 0x00, 0xff}, {0x01, 0xbb, 0x00}} {
		if err := d.UpdateSigningKey(ctx, keys[i].KID, private); err != nil {
			t.Fatalf("UpdateSigningKey(%s): %v", keys[i].KID, err)
		}
		keys[i].Private = private
	}
	wantKeys(t, d, keys)
	wantErr(t, "UpdateSigningKey unknown", d.UpdateSigningKey(ctx, "k3", []byte{1}), directory.ErrNotFound)
	if err := d.UpdateSigningKey(ctx, "k2", nil); err == nil {
		t.Errorf("UpdateSigningKey with no bytes: got nil error, want one")
	}
	wantKeys(t, d, keys)
}

// wantKeys compares every field but prints no key material.
func wantKeys(t *testing.T, d directory.Directory, want []directory.SigningKey) {
	t.Helper()
	got, err := d.SigningKeys(t.Context())
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("SigningKeys: got %d keys, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.KID != w.KID || g.Alg != w.Alg || g.Retired != w.Retired || !g.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("key %d: got %s %s retired=%v at %v, want %s %s retired=%v at %v",
				i, g.KID, g.Alg, g.Retired, g.CreatedAt, w.KID, w.Alg, w.Retired, w.CreatedAt)
		}
		if !bytes.Equal(g.Private, w.Private) {
			t.Errorf("key %s: private key bytes differ after the round trip", g.KID)
		}
		wantUTC(t, "key "+g.KID+" CreatedAt", g.CreatedAt)
	}
}

// testFirstSigningKeyRace: replicas starting together on an empty
// directory each try to store a first key; exactly one succeeds.
func testFirstSigningKeyRace(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- d.AddFirstSigningKey(ctx, directory.SigningKey{KID: fmt.Sprintf("k%d", i), Alg: "ES256", Private: []byte{byte(i) + 1}})
		}()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, directory.ErrConflict):
			t.Fatalf("AddFirstSigningKey: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d first keys stored, want exactly 1", won)
	}
	// Once that key is retired, a first key may be stored again.
	keys, _ := d.SigningKeys(ctx)
	if err := d.RetireSigningKey(ctx, keys[0].KID); err != nil {
		t.Fatal(err)
	}
	if err := d.AddFirstSigningKey(ctx, directory.SigningKey{KID: "again", Alg: "ES256", Private: []byte{9}}); err != nil {
		t.Fatalf("after retiring: %v", err)
	}
	wantErr(t, "AddFirstSigningKey with an active key", d.AddFirstSigningKey(ctx, directory.SigningKey{KID: "third", Alg: "ES256", Private: []byte{7}}), directory.ErrConflict)
}

// testFirstKeyPerAlgorithm: the key table holds keys of several
// algorithms (the ES256 signing keys, auth/pwcrypt's RSA-OAEP-256
// password keys); AddFirstSigningKey asks only whether an active key of
// its own algorithm exists, so each ring can create its first key while
// the other's exist, and retiring one algorithm's key leaves the other's
// alone.
func testFirstKeyPerAlgorithm(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sig := directory.SigningKey{KID: "sig", Alg: "ES256", Private: []byte{1}, CreatedAt: t0}
	pw := directory.SigningKey{KID: "pw", Alg: "RSA-OAEP-256", Private: []byte{2}, CreatedAt: t0.Add(time.Second)}
	if err := d.AddFirstSigningKey(ctx, sig); err != nil {
		t.Fatalf("first ES256 key: %v", err)
	}
	if err := d.AddFirstSigningKey(ctx, pw); err != nil {
		t.Fatalf("first RSA-OAEP-256 key beside an ES256 one: %v", err)
	}
	wantErr(t, "a second first RSA-OAEP-256 key", d.AddFirstSigningKey(ctx, directory.SigningKey{KID: "pw2", Alg: "RSA-OAEP-256", Private: []byte{3}}), directory.ErrConflict)
	if err := d.RetireSigningKey(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a first ES256 key while one is active", d.AddFirstSigningKey(ctx, directory.SigningKey{KID: "sig2", Alg: "ES256", Private: []byte{4}}), directory.ErrConflict)
	pw3 := directory.SigningKey{KID: "pw3", Alg: "RSA-OAEP-256", Private: []byte{5}, CreatedAt: t0.Add(2 * time.Second)}
	if err := d.AddFirstSigningKey(ctx, pw3); err != nil {
		t.Fatalf("first RSA-OAEP-256 key after the last was retired: %v", err)
	}
	pw.Retired = true
	wantKeys(t, d, []directory.SigningKey{sig, pw, pw3})
}
