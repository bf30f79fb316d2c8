package watch_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory/watch"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

func TestSeedEmptyDirectory(t *testing.T) {
	dir := openDir(t)
	seeded, warning, err := watch.Seed(t.Context(), dir, strictPolicy())
	if !seeded || warning != "" || err != nil {
		t.Fatalf("Seed(empty): got %v, %q, %v, want true, \"\", nil", seeded, warning, err)
	}
	cur, err := dir.CurrentPolicy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version != 1 || cur.Actor != "seed" {
		t.Errorf("stored: got version %d by %q, want 1 by \"seed\"", cur.Version, cur.Actor)
	}
	if p, err := policy.Parse(cur.Document); err != nil || !policy.Equal(p, strictPolicy()) {
		t.Errorf("stored document: got %+v, %v, want the seeded policy", p, err)
	}
}

func TestSeedAgain(t *testing.T) {
	other := policy.Default()
	tests := []struct {
		name        string
		second      policy.Policy
		wantWarning bool
	}{
		{"same policy", strictPolicy(), false},
		{"different policy", other, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := openDir(t)
			if _, _, err := watch.Seed(t.Context(), dir, strictPolicy()); err != nil {
				t.Fatal(err)
			}
			seeded, warning, err := watch.Seed(t.Context(), dir, tc.second)
			if seeded || err != nil {
				t.Errorf("second Seed: got seeded=%v, err=%v, want false, nil", seeded, err)
			}
			if got := warning != ""; got != tc.wantWarning {
				t.Errorf("second Seed: got warning %q, want one=%v", warning, tc.wantWarning)
			}
			if tc.wantWarning && (!strings.Contains(warning, "gatehouse policy set") || !strings.Contains(warning, "version 1")) {
				t.Errorf("warning: got %q, want it to name `gatehouse policy set` and version 1", warning)
			}
			cur, _ := dir.CurrentPolicy(t.Context())
			if p, _ := policy.Parse(cur.Document); cur.Version != 1 || !policy.Equal(p, strictPolicy()) {
				t.Errorf("after second Seed: got version %d %+v, want version 1 unchanged", cur.Version, p)
			}
		})
	}
}

// TestSeedAfterAdminChange: once an admin has changed the policy, a
// config still holding the seeded one warns (naming the version in force)
// and does not undo the change.
func TestSeedAfterAdminChange(t *testing.T) {
	dir := openDir(t)
	watch.Seed(t.Context(), dir, policy.Default())
	putPolicy(t, dir, strictPolicy())
	seeded, warning, err := watch.Seed(t.Context(), dir, policy.Default())
	if seeded || err != nil || !strings.Contains(warning, "version 2") {
		t.Errorf("Seed after change: got %v, %q, %v, want false, a warning naming version 2, nil", seeded, warning, err)
	}
}

func TestSeedStoredUnparsable(t *testing.T) {
	dir := openDir(t)
	putDoc(t, dir, []byte("mfa: {mode: sometimes}\n"))
	if _, _, err := watch.Seed(t.Context(), dir, policy.Default()); err == nil || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("Seed over an unparsable version: got %v, want an error naming version 1", err)
	}
}
