package directorytest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func testAPIKeys(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice", Role: "sales"})
	bob := mustCreate(t, d, &directory.User{Username: "bob", Role: "sales"})
	exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	k := &directory.APIKey{ID: "key1", UserID: alice.ID, Name: "export job", Hash: []byte{1, 2, 3},
		Scopes: []string{"leads.view"}, AllowedCIDRs: []string{"192.0.2.0/24"}, ExpiresAt: exp}
	if err := d.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	wantUTC(t, "CreateAPIKey CreatedAt", k.CreatedAt)
	wantErr(t, "CreateAPIKey duplicate id", d.CreateAPIKey(ctx, &directory.APIKey{ID: "key1", UserID: bob.ID, Hash: []byte{9}}), directory.ErrConflict)
	wantErr(t, "CreateAPIKey unknown user", d.CreateAPIKey(ctx, &directory.APIKey{ID: "key9", UserID: "nobody", Hash: []byte{9}}), directory.ErrNotFound)
	if err := d.CreateAPIKey(ctx, &directory.APIKey{ID: "key2", UserID: bob.ID, Hash: []byte{4}}); err != nil {
		t.Fatal(err)
	}

	got, err := d.APIKey(ctx, "key1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != alice.ID || got.Name != "export job" || !slices.Equal(got.Hash, []byte{1, 2, 3}) ||
		!slices.Equal(got.Scopes, []string{"leads.view"}) || !slices.Equal(got.AllowedCIDRs, []string{"192.0.2.0/24"}) ||
		!got.ExpiresAt.Equal(exp) || !got.RevokedAt.IsZero() || !got.LastUsedAt.IsZero() {
		t.Fatalf("APIKey = %+v", got)
	}
	_, err = d.APIKey(ctx, "nope")
	wantErr(t, "APIKey unknown", err, directory.ErrNotFound)

	if l, err := d.ListAPIKeys(ctx, alice.ID); err != nil || len(l) != 1 || l[0].ID != "key1" {
		t.Fatalf("ListAPIKeys(alice) = %+v, %v", l, err)
	}
	if l, err := d.ListAPIKeys(ctx, ""); err != nil || len(l) != 2 {
		t.Fatalf("ListAPIKeys(all) = %+v, %v", l, err)
	}

	used := time.Now().UTC().Truncate(time.Millisecond)
	if err := d.TouchAPIKey(ctx, "key1", used, "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if err := d.TouchAPIKey(ctx, "gone", used, "192.0.2.7"); err != nil {
		t.Fatalf("TouchAPIKey of a missing key: %v", err)
	}
	first := used.Add(time.Minute)
	gen, err := d.APIKeysGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RevokeAPIKey(ctx, "key1", first); err != nil {
		t.Fatal(err)
	}
	if g, _ := d.APIKeysGeneration(ctx); g == gen {
		t.Error("the api keys generation did not move on a revocation")
	}
	if err := d.RevokeAPIKey(ctx, "key1", first.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "RevokeAPIKey unknown", d.RevokeAPIKey(ctx, "nope", first), directory.ErrNotFound)
	got, _ = d.APIKey(ctx, "key1")
	if !got.RevokedAt.Equal(first) || !got.LastUsedAt.Equal(used) || got.LastUsedIP != "192.0.2.7" {
		t.Fatalf("after touch and revoke: %+v", got)
	}
}
