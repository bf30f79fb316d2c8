package sqldir_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

// listener records what Listen reports.
type listener struct {
	mu      sync.Mutex
	changes int
	states  []bool
}

func (l *listener) changed() { l.mu.Lock(); l.changes++; l.mu.Unlock() }
func (l *listener) state(up bool) {
	l.mu.Lock()
	l.states = append(l.states, up)
	l.mu.Unlock()
}

func (l *listener) count() int { l.mu.Lock(); defer l.mu.Unlock(); return l.changes }

// until polls cond for the notification under test (never a fixed wait).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// settle waits until no notification has arrived for 100 ms.
func settle(l *listener) {
	for c := -1; c != l.count(); {
		c = l.count()
		time.Sleep(100 * time.Millisecond)
	}
}

// listening opens a fresh PostgreSQL directory and runs Listen on it
// until the test ends, returning once it has listened.
func listening(t *testing.T) (string, *sqldir.DB, *listener) {
	t.Helper()
	dsn := directorytest.PostgresDSN(t)
	db := openTest(t, sqldir.Config{Driver: "postgres", DSN: dsn})
	l := &listener{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- db.Listen(ctx, l.changed, l.state) }()
	t.Cleanup(func() { cancel(); <-done })
	until(t, "first changed() after LISTEN", func() bool { return l.count() == 1 })
	return dsn, db, l
}

// TestListenNotifiesChanges: each change replicas keep in memory wakes a
// listener at commit; a user update that changes none of it does not.
func TestListenNotifiesChanges(t *testing.T) {
	_, db, l := listening(t)

	u := &directory.User{Username: "alice", Role: "sales"}
	steps := []struct {
		name   string
		do     func() error
		notify bool
	}{
		{"create user", func() error { return db.CreateUser(t.Context(), u) }, true},
		{"policy version", func() error {
			_, err := db.PutPolicy(t.Context(), []byte("methods: {password: true}\n"), "t", false)
			return err
		}, true},
		{"display name", func() error { u.DisplayName = "Alice"; return db.UpdateUser(t.Context(), u) }, false},
		{"disable", func() error { u.Disabled = true; return db.UpdateUser(t.Context(), u) }, true},
		{"enable", func() error { u.Disabled = false; return db.UpdateUser(t.Context(), u) }, true},
		{"allowlist", func() error {
			u.AllowList = directory.AllowList{{CIDR: "192.0.2.0/24"}}
			return db.UpdateUser(t.Context(), u)
		}, true},
		{"revocation", func() error { _, err := db.RevokeUserSessions(t.Context(), u.ID); return err }, true},
		// Replicas hold no devices: a login or a use wakes nobody; a
		// revocation moves the devices generation, which does.
		{"add device", func() error {
			return db.AddDevice(t.Context(), directory.Device{ID: "0123456789abcdef0123456789abcdef", UserID: u.ID})
		}, false},
		{"touch device", func() error {
			return db.TouchDevice(t.Context(), "0123456789abcdef0123456789abcdef", time.Now(), "192.0.2.1")
		}, false},
		{"revoke device", func() error {
			_, err := db.RevokeDevices(t.Context(), u.ID, nil, time.Now(), "revoked")
			return err
		}, true},
	}
	for _, s := range steps {
		if !s.notify {
			// A notifying step may send more than one notification (a row
			// and a generation); under load the later one can arrive after
			// the first was counted. Let them all land before measuring.
			settle(l)
		}
		before := l.count()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.notify {
			until(t, s.name+" notified", func() bool { return l.count() > before })
			continue
		}
		// Prove the silence: a change that does notify, made after, must
		// be the only one that arrives.
		if _, err := db.RevokeUserSessions(t.Context(), u.ID); err != nil {
			t.Fatal(err)
		}
		until(t, "marker notified", func() bool { return l.count() > before })
		time.Sleep(50 * time.Millisecond)
		if n := l.count() - before; n != 1 {
			t.Fatalf("%s: %d notifications, want none of its own", s.name, n-1)
		}
	}
}

// TestListenReconnects: the listening connection is killed server-side;
// the listener reports it down, connects again by itself, and asks for a
// re-read (notifications sent in the gap are lost).
func TestListenReconnects(t *testing.T) {
	dsn, db, l := listening(t)

	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	err = admin.QueryRowContext(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'gatehouse-listen' AND datname = current_database()`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate listener: %d killed, %v", killed, err)
	}
	until(t, "re-read asked after reconnecting", func() bool { return l.count() == 2 })
	l.mu.Lock()
	states := append([]bool(nil), l.states...)
	l.mu.Unlock()
	if len(states) != 3 || !states[0] || states[1] || !states[2] {
		t.Fatalf("states %v, want [up down up]", states)
	}
	before := l.count()
	if _, err := db.PutPolicy(t.Context(), []byte("methods: {password: true}\n"), "t", false); err != nil {
		t.Fatal(err)
	}
	until(t, "notified after reconnecting", func() bool { return l.count() > before })
}

func TestListenNeedsPostgres(t *testing.T) {
	db := openTest(t, sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err := db.Listen(t.Context(), func() {}, func(bool) {}); !errors.Is(err, sqldir.ErrNoPush) {
		t.Fatalf("got %v, want ErrNoPush", err)
	}
}
