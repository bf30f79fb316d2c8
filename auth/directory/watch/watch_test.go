package watch_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/directory/watch"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// clock is an injected clock, safe to read from Run's goroutine.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func openDir(t *testing.T) *sqldir.DB {
	t.Helper()
	dir, err := sqldir.Open(t.Context(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

func putPolicy(t *testing.T, dir directory.Policies, p policy.Policy) int64 {
	t.Helper()
	doc, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return putDoc(t, dir, doc)
}

func putDoc(t *testing.T, dir directory.Policies, doc []byte) int64 {
	t.Helper()
	v, err := dir.PutPolicy(t.Context(), doc, "test", false)
	if err != nil {
		t.Fatalf("PutPolicy: %v", err)
	}
	return v.Version
}

func strictPolicy() policy.Policy {
	p := policy.Default()
	p.MFA.Mode = "required"
	p.Session.IdleTimeout = 5 * time.Minute
	return p
}

// hooks records what the watcher's callbacks saw.
type hooks struct {
	mu       sync.Mutex
	versions []int64
	disabled []string
}

func (h *hooks) policy(_ context.Context, c *policy.Versioned) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.versions = append(h.versions, c.Version)
}

func (h *hooks) disable(_ context.Context, userID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.disabled = append(h.disabled, userID)
	return nil
}

// takeDisabled returns and forgets the ids seen since the last call.
func (h *hooks) takeDisabled() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := h.disabled
	h.disabled = nil
	return ids
}

func newWatcher(t *testing.T, dir watch.Source, clk *clock) (*watch.Watcher, *hooks) {
	w := watch.New(dir, slog.New(slog.NewTextHandler(t.Output(), nil)), time.Second, clk.Now)
	h := &hooks{}
	w.OnPolicy(h.policy)
	w.OnDisable(h.disable)
	return w, h
}

func TestRefreshPolicy(t *testing.T) {
	dir := openDir(t)
	w, h := newWatcher(t, dir, newClock())
	if w.Policy() != nil {
		t.Fatalf("Policy before Refresh: got %+v, want nil", w.Policy())
	}
	putPolicy(t, dir, policy.Default())
	for range 2 {
		if err := w.Refresh(t.Context()); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	}
	if got := w.Policy(); got == nil || got.Version != 1 || !policy.Equal(got.Policy, policy.Default()) {
		t.Fatalf("Policy: got %+v, want version 1, the default", got)
	}
	putPolicy(t, dir, strictPolicy())
	for range 2 {
		if err := w.Refresh(t.Context()); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	}
	if got := w.Policy(); got.Version != 2 || !policy.Equal(got.Policy, strictPolicy()) {
		t.Errorf("Policy after change: got %+v, want version 2, the strict policy", got)
	}
	if want := []int64{1, 2}; !slices.Equal(h.versions, want) {
		t.Errorf("OnPolicy calls: got versions %v, want %v (once per version)", h.versions, want)
	}
}

func TestRefreshDisabled(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	w, h := newWatcher(t, dir, newClock())
	ctx := t.Context()
	users := map[string]*directory.User{}
	for _, name := range []string{"ann", "ben", "cat"} {
		u := &directory.User{Username: name, Role: "sales"}
		if err := dir.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users[name] = u
	}
	setDisabled := func(name string, disabled bool) {
		users[name].Disabled = disabled
		if err := dir.UpdateUser(ctx, users[name]); err != nil {
			t.Fatal(err)
		}
	}
	id := func(names ...string) []string {
		var ids []string
		for _, n := range names {
			ids = append(ids, users[n].ID)
		}
		slices.Sort(ids)
		return ids
	}
	steps := []struct {
		name      string
		change    func()
		disabled  []string // names Disabled reports true for
		newlySeen []string // names OnDisable is called for
	}{
		{"nobody disabled", func() {}, nil, nil},
		{"disable ann and ben", func() { setDisabled("ann", true); setDisabled("ben", true) }, []string{"ann", "ben"}, []string{"ann", "ben"}},
		{"no change", func() {}, []string{"ann", "ben"}, nil},
		{"enable ann", func() { setDisabled("ann", false) }, []string{"ben"}, nil},
		{"disable ann again", func() { setDisabled("ann", true) }, []string{"ann", "ben"}, []string{"ann"}},
	}
	for _, s := range steps {
		s.change()
		if err := w.Refresh(ctx); err != nil {
			t.Fatalf("%s: Refresh: %v", s.name, err)
		}
		for name := range users {
			if got, want := w.Disabled(users[name].ID), slices.Contains(s.disabled, name); got != want {
				t.Errorf("%s: Disabled(%s): got %v, want %v", s.name, name, got, want)
			}
		}
		if got, want := h.takeDisabled(), id(s.newlySeen...); !slices.Equal(got, want) {
			t.Errorf("%s: OnDisable calls: got %v, want %v", s.name, got, want)
		}
	}
}

func TestFresh(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	clk := newClock()
	w, _ := newWatcher(t, dir, clk)
	const maxAge = 10 * time.Second
	if w.Fresh(maxAge) {
		t.Errorf("Fresh before the first Refresh: got true, want false")
	}
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    bool
	}{
		{0, true},
		{maxAge, true},
		{time.Nanosecond, false},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if got := w.Fresh(maxAge); got != s.want {
			t.Errorf("Fresh at +%v: got %v, want %v", s.advance, got, s.want)
		}
	}
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !w.Fresh(maxAge) {
		t.Errorf("Fresh after another Refresh: got false, want true")
	}
}

// TestRefreshUnparsableVersion: a stored version this release cannot
// parse keeps the last good policy in force and is reported, but does not
// stop disabled users from being seen.
func TestRefreshUnparsableVersion(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	clk := newClock()
	w, h := newWatcher(t, dir, clk)
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	putDoc(t, dir, []byte("mfa: {mode: sometimes}\nfuture_key: 1\n"))
	u := &directory.User{Username: "dan", Role: "sales", Disabled: true}
	if err := dir.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	err := w.Refresh(t.Context())
	if err == nil || !strings.Contains(err.Error(), "policy version 2") {
		t.Fatalf("Refresh over a bad version: got %v, want an error naming policy version 2", err)
	}
	if got := w.Policy(); got.Version != 1 || !policy.Equal(got.Policy, policy.Default()) {
		t.Errorf("Policy after a bad version: got %+v, want version 1 kept", got)
	}
	if !w.Disabled(u.ID) {
		t.Errorf("Disabled(dan) after a bad version: got false, want true")
	}
	if w.Fresh(30 * time.Second) {
		t.Errorf("Fresh after a failed Refresh: got true, want false")
	}
	putPolicy(t, dir, strictPolicy())
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh after a good version 3: %v", err)
	}
	if got := w.Policy(); got.Version != 3 {
		t.Errorf("Policy after version 3: got version %d, want 3", got.Version)
	}
	if want := []int64{1, 3}; !slices.Equal(h.versions, want) {
		t.Errorf("OnPolicy calls: got %v, want %v", h.versions, want)
	}
}

// TestRefreshFirstUnparsable: with no good version ever seen, there is no
// policy in force, so the gateway fails closed.
func TestRefreshFirstUnparsable(t *testing.T) {
	dir := openDir(t)
	putDoc(t, dir, []byte("session: {idle_timeout: never}\n"))
	w, _ := newWatcher(t, dir, newClock())
	if err := w.Refresh(t.Context()); err == nil {
		t.Errorf("Refresh: got nil, want an error")
	}
	if w.Policy() != nil || w.Fresh(time.Hour) {
		t.Errorf("after a failed first Refresh: got policy %+v, fresh %v, want nil, false", w.Policy(), w.Fresh(time.Hour))
	}
}

func TestRefreshNoPolicy(t *testing.T) {
	w, _ := newWatcher(t, openDir(t), newClock())
	if err := w.Refresh(t.Context()); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("Refresh on an empty directory: got %v, want ErrNotFound", err)
	}
}

func TestRefreshClosedDirectory(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	clk := newClock()
	w, _ := newWatcher(t, dir, clk)
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	dir.Close()
	clk.Advance(5 * time.Second)
	if err := w.Refresh(t.Context()); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Refresh on a closed directory: got %v, want ErrUnavailable", err)
	}
	if w.Policy() == nil || w.Policy().Version != 1 {
		t.Errorf("Policy after a failed Refresh: got %+v, want version 1 kept", w.Policy())
	}
	if w.Fresh(time.Second) {
		t.Errorf("Fresh(1s) 5s after the last good poll: got true, want false")
	}
}

// TestRunPicksUpChange: the polling loop brings a new version into force
// and stops when its context ends.
func TestRunPicksUpChange(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	w := watch.New(dir, slog.New(slog.NewTextHandler(t.Output(), nil)), 5*time.Millisecond, nil)
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	changed := make(chan int64, 1)
	w.OnPolicy(func(_ context.Context, c *policy.Versioned) { changed <- c.Version })
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(stopped)
	}()
	putPolicy(t, dir, strictPolicy())
	select {
	case v := <-changed:
		if v != 2 {
			t.Errorf("OnPolicy from Run: got version %d, want 2", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not bring version 2 into force within 10s")
	}
	cancel()
	<-stopped
}

// stallingStore is a session store's revocation hook that fails while
// stalled, recording what it was asked to end.
type stallingStore struct {
	mu      sync.Mutex
	stalled bool
	ended   []string // user ids whose sessions were ended
}

func (s *stallingStore) end(userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled {
		return errors.New("session store: i/o timeout")
	}
	s.ended = append(s.ended, userID)
	return nil
}

func (s *stallingStore) setStalled(b bool) {
	s.mu.Lock()
	s.stalled = b
	s.mu.Unlock()
}

func (s *stallingStore) endedFor(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range s.ended {
		if id == userID {
			n++
		}
	}
	return n
}

// TestRevocationRetriedAfterStoreStall: a revocation (set-password, user
// logout, reset-2fa) or a disable whose session-store hook failed used to
// be marked applied anyway, so the old sessions lived on (review finding
// F4). Now it stays pending, is retried at every poll until the store is
// back, and meanwhile RevokedBefore tells the gateway to refuse the
// sessions it was meant to end.
func TestRevocationRetriedAfterStoreStall(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	clk := newClock()
	w := watch.New(dir, slog.New(slog.NewTextHandler(t.Output(), nil)), time.Second, clk.Now)
	st := &stallingStore{}
	w.OnRevoke(func(_ context.Context, r directory.Revocation) error { return st.end(r.UserID) })
	w.OnDisable(func(_ context.Context, id string) error { return st.end(id) })
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	alice := &directory.User{Username: "alice", Role: "sales"}
	bob := &directory.User{Username: "bob", Role: "sales"}
	for _, u := range []*directory.User{alice, bob} {
		if err := dir.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	st.setStalled(true)
	rev, err := dir.RevokeUserSessions(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	bob.Disabled = true
	if err := dir.UpdateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.RevokedBefore(alice.ID); !got.Equal(rev.At) {
		t.Fatalf("RevokedBefore(alice) during the stall = %v, want the revocation's time %v", got, rev.At)
	}
	if w.RevokedBefore(bob.ID).IsZero() {
		t.Fatal("RevokedBefore(bob) during the stall is zero: a failed disable must be refused too")
	}
	if st.endedFor(alice.ID) != 0 || st.endedFor(bob.ID) != 0 {
		t.Fatal("a stalled store recorded an end")
	}
	// Re-enabling bob during the stall must not bring his old sessions back.
	bob.Disabled = false
	if err := dir.UpdateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	st.setStalled(false)
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st.endedFor(alice.ID) != 1 || st.endedFor(bob.ID) != 1 {
		t.Fatalf("after the stall: alice ended %d times, bob %d; want each once", st.endedFor(alice.ID), st.endedFor(bob.ID))
	}
	if !w.RevokedBefore(alice.ID).IsZero() || !w.RevokedBefore(bob.ID).IsZero() {
		t.Fatal("RevokedBefore still set after the ends were applied")
	}
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st.endedFor(alice.ID) != 1 {
		t.Fatal("an applied revocation was applied again")
	}
}

// TestPokeReadsAtOnce: with an hour between polls, only a poke can
// explain the new policy being seen.
func TestPokeReadsAtOnce(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	w := watch.New(dir, slog.New(slog.DiscardHandler), time.Hour, nil)
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := w.PushState(); !strings.HasPrefix(got, "none") {
		t.Fatalf("PushState before any listener: %q", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	want := putPolicy(t, dir, policy.Default())
	w.Poke()
	w.Poke() // pokes fold together; none may block
	for deadline := time.Now().Add(5 * time.Second); w.Policy().Version != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("poke did not make the watcher read")
		}
	}
	w.SetPush(true)
	if w.PushState() != "live" {
		t.Fatalf("PushState %q", w.PushState())
	}
	w.SetPush(false)
	if got := w.PushState(); !strings.HasPrefix(got, "down") {
		t.Fatalf("PushState %q", got)
	}
}

// TestRefreshAccess: the access table follows both the policy's access
// section and the stored templates, and a template document that does
// not parse keeps the last good table and fails the poll.
func TestRefreshAccess(t *testing.T) {
	dir := openDir(t)
	w, _ := newWatcher(t, dir, newClock())
	p := policy.Default()
	p.Access.Routes = []access.Route{{Pattern: "GET /export/", Feature: "leads.export"}}
	putPolicy(t, dir, p)
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	decide := func() access.Decision {
		tbl := w.Access()
		return tbl.Decide("GET", "/export/x", tbl.GrantsFor("manager", ""))
	}
	if d := decide(); d.Allowed || d.Feature != "leads.export" {
		t.Fatalf("no templates stored: %+v; want refused (the role's template does not exist)", d)
	}
	if _, err := watch.SeedTemplates(t.Context(), dir, access.DefaultTemplates()); err != nil {
		t.Fatal(err)
	}
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := decide(); !d.Allowed {
		t.Fatalf("default templates: %+v; want a manager allowed to export", d)
	}
	if seeded, err := watch.SeedTemplates(t.Context(), dir, access.TemplateSet{}); seeded || err != nil {
		t.Fatalf("second seed: seeded=%v err=%v; want it to leave the stored set", seeded, err)
	}
	if _, err := dir.PutDocument(t.Context(), directory.DocTemplates, []byte("templates: [oops"), "test", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh accepted a template document that does not parse")
	}
	if d := decide(); !d.Allowed {
		t.Fatalf("after a bad document: %+v; want the last good table kept", d)
	}
	if _, err := dir.PutDocument(t.Context(), directory.DocTemplates, []byte("templates: {sales_manager: {features: [leads.view]}}\n"), "test", 2); err != nil {
		t.Fatal(err)
	}
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := decide(); d.Allowed {
		t.Fatalf("template without leads.export: %+v; want refused", d)
	}
}

// deviceCalls records what OnDevicesRevoked passed, one entry a call.
type deviceCalls struct {
	mu    sync.Mutex
	calls [][]string
}

func (d *deviceCalls) hook(ids []string) {
	d.mu.Lock()
	d.calls = append(d.calls, ids)
	d.mu.Unlock()
}

// take returns and forgets the calls since the last take.
func (d *deviceCalls) take() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

// TestDevicesRevoked: a poll that finds the devices generation moved
// passes the newly revoked device ids once (however often it polls, and
// whoever revoked); the first poll only learns where the counter stands.
func TestDevicesRevoked(t *testing.T) {
	dir := openDir(t)
	putPolicy(t, dir, policy.Default())
	clk := newClock()
	w := watch.New(dir, slog.New(slog.NewTextHandler(t.Output(), nil)), time.Second, clk.Now)
	dc := &deviceCalls{}
	w.OnDevicesRevoked(dc.hook)
	ctx := t.Context()
	refresh := func(want ...[]string) {
		t.Helper()
		if err := w.Refresh(ctx); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		got := dc.take()
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("OnDevicesRevoked calls: got %v, want %v", got, want)
		}
	}
	revoke := func(userID string, ids ...string) { // no ids: all of the user's
		t.Helper()
		if _, err := dir.RevokeDevices(ctx, userID, ids, clk.Now(), "revoked"); err != nil {
			t.Fatalf("RevokeDevices: %v", err)
		}
	}
	alice := &directory.User{Username: "alice", Role: "sales"}
	bob := &directory.User{Username: "bob", Role: "sales"}
	for _, u := range []*directory.User{alice, bob} {
		if err := dir.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for id, u := range map[string]*directory.User{"a0": alice, "a1": alice, "a2": alice, "a3": alice, "b1": bob, "b2": bob} {
		if err := dir.AddDevice(ctx, directory.Device{ID: id, UserID: u.ID, FirstSeen: clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// Revoked before the watcher starts: the first poll calls nothing.
	revoke(alice.ID, "a0")
	refresh()
	refresh()

	clk.Advance(time.Second)
	revoke(alice.ID, "a1")
	refresh([]string{"a0", "a1"}) // a0 rides along: the first poll only learned the counter
	refresh()

	// Several revocations, by several callers, between two polls: one
	// call, oldest revocation first, none repeated.
	clk.Advance(time.Second)
	revoke(bob.ID, "b1")
	clk.Advance(time.Second)
	revoke(alice.ID) // a2, a3; a0 and a1 were revoked already
	refresh([]string{"b1", "a2", "a3"})
	refresh()

	// Revoking what is revoked moves nothing; a later revocation is
	// passed alone although the earlier ones are still in the window.
	revoke(alice.ID, "a1")
	refresh()
	clk.Advance(2 * time.Minute)
	revoke(bob.ID, "b2")
	refresh([]string{"b2"})

	// A directory that fails the read is a failed poll, and the
	// revocation is passed by the next good one. (Ten minutes on, the
	// revocations above are out of the window.)
	clk.Advance(10 * time.Minute)
	if err := dir.AddDevice(ctx, directory.Device{ID: "b3", UserID: bob.ID, FirstSeen: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	revoke(bob.ID, "b3") // before wf's first poll: passed with b4
	failing := &failRevokedDevices{DB: dir}
	wf := watch.New(failing, slog.New(slog.DiscardHandler), time.Second, clk.Now)
	wf.OnDevicesRevoked(dc.hook)
	if err := wf.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := dir.AddDevice(ctx, directory.Device{ID: "b4", UserID: bob.ID, FirstSeen: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	revoke(bob.ID, "b4")
	failing.fail.Store(true)
	if err := wf.Refresh(ctx); err == nil {
		t.Fatal("Refresh with RevokedDevicesSince failing: got nil, want an error")
	}
	failing.fail.Store(false)
	if err := wf.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := dc.take(); !slices.EqualFunc(got, [][]string{{"b3", "b4"}}, slices.Equal) {
		t.Fatalf("after the failed poll: got %v, want [[b3 b4]]", got)
	}
}

// failRevokedDevices is a directory whose RevokedDevicesSince fails on
// demand.
type failRevokedDevices struct {
	*sqldir.DB
	fail atomic.Bool
}

func (f *failRevokedDevices) RevokedDevicesSince(ctx context.Context, since time.Time) ([]directory.Device, error) {
	if f.fail.Load() {
		return nil, directory.ErrUnavailable
	}
	return f.DB.RevokedDevicesSince(ctx, since)
}
