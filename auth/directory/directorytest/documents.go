package directorytest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func testDocuments(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	_, err := d.CurrentDocument(ctx, directory.DocTemplates)
	wantErr(t, "CurrentDocument before any", err, directory.ErrNotFound)
	h, err := d.DocumentHistory(ctx, directory.DocTemplates, 10)
	if err != nil || len(h) != 0 {
		t.Fatalf("history before any: %v %v", h, err)
	}

	steps := []struct {
		body, actor string
		after       int64
		wantErr     error
		wantVersion int64
	}{
		{"templates: {}\n", "seed", 0, nil, 1},
		{"templates: {a: {features: []}}\n", "cli:root", 1, nil, 2},
		{"templates: {b: {features: []}}\n", "admin", 1, directory.ErrConflict, 2}, // edited a stale version
		{"templates: {c: {features: []}}\n", "seed", 0, directory.ErrConflict, 2},  // seeding when one exists
		{"templates: {}\n", "admin", 2, nil, 3},
	}
	for _, s := range steps {
		put, err := d.PutDocument(ctx, directory.DocTemplates, []byte(s.body), s.actor, s.after)
		if s.wantErr != nil {
			wantErr(t, fmt.Sprintf("PutDocument(after %d)", s.after), err, s.wantErr)
		} else if err != nil {
			t.Fatalf("PutDocument(after %d): %v", s.after, err)
		} else {
			wantUTC(t, "PutDocument CreatedAt", put.CreatedAt)
			if put.Version != s.wantVersion || put.Kind != directory.DocTemplates {
				t.Errorf("PutDocument: %+v, want version %d", put, s.wantVersion)
			}
		}
		got, err := d.CurrentDocument(ctx, directory.DocTemplates)
		if err != nil || got.Version != s.wantVersion {
			t.Fatalf("CurrentDocument after %q: %+v %v; want version %d", s.actor, got, err, s.wantVersion)
		}
	}
	h, err = d.DocumentHistory(ctx, directory.DocTemplates, 2)
	if err != nil || len(h) != 2 || h[0].Version != 3 || h[1].Version != 2 || string(h[1].Body) != steps[1].body || h[1].Actor != "cli:root" {
		t.Errorf("history: %+v %v", h, err)
	}
	// Kinds are separate histories.
	if _, err := d.PutDocument(ctx, "other", []byte("x"), "seed", 0); err != nil {
		t.Errorf("another kind's first version: %v", err)
	}
	if _, err := d.PutDocument(ctx, "other", []byte{0xff}, "seed", 1); err == nil {
		t.Error("a document that is not UTF-8 was stored")
	}
}

// testDocumentsConcurrentPut has writers race from the same version: one
// wins, the rest get ErrConflict, none is lost silently.
func testDocumentsConcurrentPut(t *testing.T, d directory.Directory) {
	const writers = 8
	errs := runConcurrently(writers, func(w int) error {
		_, err := d.PutDocument(t.Context(), directory.DocTemplates, fmt.Appendf(nil, "# writer %d\n", w), "w", 0)
		return err
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, directory.ErrConflict):
			t.Errorf("racing put: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers won from version 0, want 1", won)
	}
}
