package directorytest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func testPolicy(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	_, err := d.CurrentPolicy(ctx)
	wantErr(t, "CurrentPolicy before any", err, directory.ErrNotFound)

	steps := []struct {
		doc, actor  string
		ifNone      bool
		wantErr     error
		wantVersion int64 // of the current policy afterwards
	}{
		{"session: {idle_timeout: 30m}\n", "seed", true, nil, 1},
		{"session: {idle_timeout: 15m}\n", "cli:root", false, nil, 2},
		{"session: {idle_timeout: 1h}\n", "seed", true, directory.ErrConflict, 2},
		{"mfa: {mode: required}\n", "admin", false, nil, 3},
	}
	var current directory.PolicyVersion
	for _, s := range steps {
		put, err := d.PutPolicy(ctx, []byte(s.doc), s.actor, s.ifNone)
		if s.wantErr != nil {
			wantErr(t, fmt.Sprintf("PutPolicy(%q, ifNone=%v)", s.actor, s.ifNone), err, s.wantErr)
		} else if err != nil {
			t.Fatalf("PutPolicy(%q): %v", s.actor, err)
		} else {
			current = put
			wantUTC(t, "PutPolicy CreatedAt", put.CreatedAt)
		}
		got, err := d.CurrentPolicy(ctx)
		if err != nil {
			t.Fatalf("CurrentPolicy: %v", err)
		}
		if got.Version != s.wantVersion || got.Version != current.Version ||
			string(got.Document) != string(current.Document) || got.Actor != current.Actor ||
			!got.CreatedAt.Equal(current.CreatedAt) {
			t.Errorf("CurrentPolicy after %q: got %d %q by %q at %v, want %d %q by %q at %v",
				s.actor, got.Version, got.Document, got.Actor, got.CreatedAt,
				s.wantVersion, current.Document, current.Actor, current.CreatedAt)
		}
	}
}

// testPolicyHistory: versions read back one by one and newest first, and
// PutPolicyAfter stores only over the version the writer edited.
func testPolicyHistory(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	if h, err := d.PolicyHistory(ctx, 10); err != nil || len(h) != 0 {
		t.Fatalf("PolicyHistory before any: %v %v", h, err)
	}
	_, err := d.PutPolicyAfter(ctx, []byte("a: 1\n"), "admin", 1)
	wantErr(t, "PutPolicyAfter(1) on an empty history", err, directory.ErrConflict)
	v1, err := d.PutPolicyAfter(ctx, []byte("a: 1\n"), "admin", 0)
	if err != nil || v1.Version != 1 {
		t.Fatalf("PutPolicyAfter(0): %+v %v", v1, err)
	}
	if _, err := d.PutPolicy(ctx, []byte("a: 2\n"), "cli", false); err != nil {
		t.Fatal(err)
	}
	// An admin who edited version 1 while someone saved version 2.
	_, err = d.PutPolicyAfter(ctx, []byte("a: 3\n"), "admin", 1)
	wantErr(t, "PutPolicyAfter(stale)", err, directory.ErrConflict)
	v3, err := d.PutPolicyAfter(ctx, []byte("a: 3\n"), "admin", 2)
	if err != nil || v3.Version != 3 {
		t.Fatalf("PutPolicyAfter(2): %+v %v", v3, err)
	}
	h, err := d.PolicyHistory(ctx, 2)
	if err != nil || len(h) != 2 || h[0].Version != 3 || h[1].Version != 2 || string(h[1].Document) != "a: 2\n" || h[1].Actor != "cli" {
		t.Fatalf("PolicyHistory(2): %+v %v", h, err)
	}
	wantUTC(t, "PolicyHistory CreatedAt", h[0].CreatedAt)
	got, err := d.PolicyAt(ctx, 1)
	if err != nil || string(got.Document) != "a: 1\n" || got.Actor != "admin" {
		t.Fatalf("PolicyAt(1): %+v %v", got, err)
	}
	_, err = d.PolicyAt(ctx, 9)
	wantErr(t, "PolicyAt(9)", err, directory.ErrNotFound)
}

// testPolicyConcurrentPut has several writers store versions at once, as
// admins on different replicas might: every version is handed out once.
func testPolicyConcurrentPut(t *testing.T, d directory.Directory) {
	const writers, each = 6, 4
	var got [writers][each]int64
	errs := runConcurrently(writers, func(w int) error {
		for i := range each {
			doc := fmt.Sprintf("# writer %d put %d\n", w, i)
			p, err := d.PutPolicy(t.Context(), []byte(doc), fmt.Sprintf("w%d", w), false)
			if err != nil {
				return err
			}
			if i > 0 && p.Version <= got[w][i-1] {
				return fmt.Errorf("version %d after %d: not increasing", p.Version, got[w][i-1])
			}
			got[w][i] = p.Version
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent PutPolicy: %v", err)
	}
	var all []int64
	for w := range got {
		all = append(all, got[w][:]...)
	}
	slices.Sort(all)
	for i, v := range all {
		if v != int64(i+1) {
			t.Fatalf("versions handed out: got %v, want 1..%d each once", all, writers*each)
		}
	}
	cur, err := d.CurrentPolicy(t.Context())
	if err != nil || cur.Version != writers*each {
		t.Errorf("CurrentPolicy: got version %d, %v, want %d", cur.Version, err, writers*each)
	}
}

// testPolicySeedRace starts several replicas seeding at once: one stores
// version 1, the rest get ErrConflict.
func testPolicySeedRace(t *testing.T, d directory.Directory) {
	const replicas = 8
	errs := runConcurrently(replicas, func(i int) error {
		_, err := d.PutPolicy(t.Context(), fmt.Appendf(nil, "# replica %d\n", i), "seed", true)
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("replica %d also seeded after replica %d", i, winner)
		case err == nil:
			winner = i
		default:
			wantErr(t, fmt.Sprintf("replica %d", i), err, directory.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no replica seeded the policy")
	}
	cur, err := d.CurrentPolicy(t.Context())
	want := fmt.Sprintf("# replica %d\n", winner)
	if err != nil || cur.Version != 1 || string(cur.Document) != want {
		t.Errorf("CurrentPolicy: got %d %q, %v, want 1 %q", cur.Version, cur.Document, err, want)
	}
}
