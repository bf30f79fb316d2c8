package anonip_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

var (
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// specA and specB list the same network with different flags, and B
	// adds one, so a lookup shows which version answered.
	specA = dbSpec{epoch: t0.Unix(), entries: []entry{
		flagged("192.0.2.0/24", anonip.Anonymous|anonip.AnonymousVPN),
	}}
	specB = dbSpec{epoch: t0.Add(24 * time.Hour).Unix(), entries: []entry{
		flagged("192.0.2.0/24", anonip.Anonymous|anonip.TorExitNode),
		flagged("198.51.100.0/24", anonip.Anonymous|anonip.PublicProxy),
	}}
)

func reload(t *testing.T, db *anonip.DB, want bool) {
	t.Helper()
	got, err := db.Reload()
	if err != nil || got != want {
		t.Fatalf("Reload: got %v, %v; want %v, nil", got, err, want)
	}
}

func wantFlags(t *testing.T, db *anonip.DB, addr string, want anonip.Flags) {
	t.Helper()
	if got := lookup(t, db, addr); got != want {
		t.Errorf("Lookup(%s): got %v, want %v", addr, got, want)
	}
}

func TestReload(t *testing.T) {
	db, path := openSpec(t, specA)
	wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.AnonymousVPN)

	reload(t, db, false) // unchanged

	replace(t, path, build(t, specB), t0.Add(time.Hour))
	reload(t, db, true)
	wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.TorExitNode)
	wantFlags(t, db, "198.51.100.1", anonip.Anonymous|anonip.PublicProxy)
	if got, want := db.Status().BuildTime, t0.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("Status.BuildTime: got %v, want %v", got, want)
	}
	reload(t, db, false)
}

// TestReloadGarbageKeepsOldVersion: a half-downloaded or wrong file must not
// turn off anonymous-IP blocking; the last good version keeps answering.
func TestReloadGarbageKeepsOldVersion(t *testing.T) {
	db, path := openSpec(t, specA)
	replace(t, path, []byte("<html>502 Bad Gateway</html>"), t0.Add(time.Hour))

	ok, err := db.Reload()
	if ok || err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Reload(garbage): got %v, %v; want false and an error naming %s", ok, err, path)
	}
	wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.AnonymousVPN)
	s := db.Status()
	if s.Failures != 1 || s.LastError != err.Error() || !s.BuildTime.Equal(t0) {
		t.Errorf("Status: got %+v, want 1 failure, LastError %q, the old build time", s, err)
	}

	// The same bad file is not re-read on every tick.
	reload(t, db, false)
	if got := db.Status().Failures; got != 1 {
		t.Errorf("Status.Failures after retrying the same file: got %d, want 1", got)
	}

	replace(t, path, build(t, specB), t0.Add(2*time.Hour))
	reload(t, db, true)
	wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.TorExitNode)
	if s := db.Status(); s.Failures != 1 || s.LastError != "" {
		t.Errorf("Status after recovery: got %+v, want 1 failure, no LastError", s)
	}
}

func TestReloadMissingFile(t *testing.T) {
	db, path := openSpec(t, specA)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		if ok, err := db.Reload(); ok || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Reload(missing): got %v, %v; want false, ErrNotExist", ok, err)
		}
		if got := db.Status().Failures; got != want {
			t.Errorf("Status.Failures: got %d, want %d", got, want)
		}
	}
	wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.AnonymousVPN)
}

// TestReloadInPlaceRewrite: a file rewritten in place (same inode) is
// noticed by its modification time even when its size is unchanged.
func TestReloadInPlaceRewrite(t *testing.T) {
	swapped := specA
	swapped.entries = []entry{flagged("192.0.2.0/24", anonip.Anonymous|anonip.TorExitNode)}
	a, b := build(t, specA), build(t, swapped)
	if len(a) != len(b) {
		t.Fatalf("fixture: sizes %d and %d differ; the test needs equal sizes", len(a), len(b))
	}
	db, path := openSpec(t, specA)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, t0.Add(time.Minute), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	reload(t, db, true)
	wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.TorExitNode)
}

// TestReloadConcurrentLookups runs lookups while versions are swapped; under
// -race it checks that no lookup sees a half-published or freed version.
func TestReloadConcurrentLookups(t *testing.T) {
	a, b := build(t, specA), build(t, specB)
	db, path := openSpec(t, specA)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				got, err := db.Lookup(mustAddr("192.0.2.1"))
				if err != nil || (got != anonip.Anonymous|anonip.AnonymousVPN && got != anonip.Anonymous|anonip.TorExitNode) {
					t.Errorf("Lookup during reload: got %v, %v; want A's or B's flags", got, err)
					return
				}
			}
		})
	}
	for i := range 40 {
		data := a
		if i%2 == 0 {
			data = b
		}
		replace(t, path, data, t0.Add(time.Duration(i+1)*time.Minute))
		reload(t, db, true)
	}
	stop.Store(true)
	wg.Wait()
}

// TestRun: the periodic loop picks up a replaced file, stamps LoadedAt from
// the clock, and stops when the context ends. Under synctest the clock is
// fake, so the interval passes without waiting.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, path := openSpec(t, specA)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go db.Run(ctx, time.Minute)

		replace(t, path, build(t, specB), t0.Add(time.Hour))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.AnonymousVPN) // not yet due

		time.Sleep(30 * time.Second)
		synctest.Wait()
		wantFlags(t, db, "192.0.2.1", anonip.Anonymous|anonip.TorExitNode)
		if got, want := db.Status().LoadedAt, time.Now(); !got.Equal(want) {
			t.Errorf("Status.LoadedAt: got %v, want %v", got, want)
		}
	})
}

// TestRunStopsOnClose: synctest fails the test if the loop is still blocked
// when the bubble ends.
func TestRunStopsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openSpec(t, specA)
		go db.Run(context.Background(), time.Minute)
		db.Close()
		time.Sleep(time.Minute)
		synctest.Wait()
	})
}

func TestReloadFailureLogsWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anon.mmdb")
	replace(t, path, build(t, specA), t0)
	var logs bytes.Buffer
	db, err := anonip.Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	replace(t, path, []byte("not a database"), t0.Add(time.Hour))
	if _, err := db.Reload(); err == nil {
		t.Fatal("Reload(garbage): got nil error")
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, path) {
		t.Errorf("log: got %q, want a warning naming %s", out, path)
	}
}
