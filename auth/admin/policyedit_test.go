package admin_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

// TestCheckPolicyIsPlanWithoutScans: a save checks and merges exactly as
// the preview did (same document, diff and refusals) but does not scan
// users again: its impact says "not counted", where the preview found
// the user who must enrol a second factor (and not one with a passkey).
func TestCheckPolicyIsPlanWithoutScans(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := context.Background()
		svc := newService(dir, time.Now)
		if _, err := svc.SetPolicy(ctx, "test", []byte("mfa: {mode: optional}\n")); err != nil {
			t.Fatal(err)
		}
		if err := dir.CreateUser(ctx, &directory.User{Username: "alice", Email: "alice@corp.example", Role: "sales"}); err != nil {
			t.Fatal(err)
		}
		// Bob has a passkey only: not forced to enrol.
		bob := &directory.User{Username: "bob", Role: "sales"}
		if err := dir.CreateUser(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if err := dir.EnrollFirstPasskey(ctx, &directory.Passkey{UserID: bob.ID, CredentialID: []byte("b"), Credential: []byte("{}")}, nil); err != nil {
			t.Fatal(err)
		}
		doc := []byte("mfa: {mode: required}\n")
		full, err := svc.PlanPolicy(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(full.Impact.ForcedEnrolment, []string{"alice"}) {
			t.Fatalf("preview: forced enrolment %v, want [alice]", full.Impact.ForcedEnrolment)
		}
		check, err := svc.CheckPolicy(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		if string(check.Document) != string(full.Document) || !slices.Equal(check.Diff, full.Diff) || check.From.Version != full.From.Version || check.Merged != full.Merged {
			t.Fatalf("check and plan differ:\n%+v\n%+v", check, full)
		}
		if len(check.Impact.ForcedEnrolment) != 0 || check.Impact.SessionsEnding != -1 {
			t.Fatalf("check scanned: %+v", check.Impact)
		}
		if _, err := svc.CheckPolicy(ctx, []byte("mfa: {mode: sometimes}\n")); err == nil {
			t.Fatal("check accepted a bad mode")
		}
	})
}
