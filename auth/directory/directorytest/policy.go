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
