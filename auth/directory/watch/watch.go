// Package watch keeps a gateway replica's view of the directory current:
// the login policy in force, the access table compiled from it and the
// permission templates, the disabled users, the users' network lists, the
// session revocations and the revoked device logins. With PostgreSQL the
// directory pushes: its triggers NOTIFY on every such change and the
// replica re-reads at once (Poke). Polling stays underneath as the safety
// net: it works the same on SQLite, bounds how long a change can take when
// a notification is lost (the poll interval), and lets the gateway notice
// a directory outage and fail closed.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/records"
)

// Source is what the watcher reads.
type Source interface {
	directory.Policies
	DisabledUserIDs(ctx context.Context) ([]string, error)
	UserAllowlists(ctx context.Context) (map[string][]string, error)
	RecentRevocations(ctx context.Context, since time.Time) ([]directory.Revocation, error)
	CurrentDocument(ctx context.Context, kind string) (directory.Document, error)
	GroupsGeneration(ctx context.Context) (int64, error)
	APIKeysGeneration(ctx context.Context) (int64, error)
	DevicesGeneration(ctx context.Context) (int64, error)
	RevokedDevicesSince(ctx context.Context, since time.Time) ([]directory.Device, error)
	ListUsers(ctx context.Context) ([]directory.User, error)
	ListGroups(ctx context.Context) ([]directory.Group, error)
}

// revocationWindow is how far back each poll looks for revocations. It is
// much longer than the poll interval so a row committed late (sequence
// order is not commit order) is still seen; seen ids are remembered.
const revocationWindow = 5 * time.Minute

// Watcher polls a Source.
type Watcher struct {
	src      Source
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	policy atomic.Pointer[policy.Versioned]
	access access.Live
	// templates is the version of the template set in access (0: none
	// stored, an empty set); only Refresh touches it.
	templates int64
	tplSeen   bool
	// records is the access policy set in force and people the copy of
	// the users and groups it decides over, with the versions they were
	// read at; only Refresh writes the versions.
	records    atomic.Pointer[records.PolicySet]
	people     atomic.Pointer[records.People]
	recordsVer int64
	recordsSet bool
	peopleGen  int64
	keysGen    int64 // api keys generation last seen; -1 before the first poll
	onKeys     []func()
	disabled   atomic.Pointer[map[string]struct{}]
	lastOK     atomic.Int64 // unix nanos of the last successful poll
	poke       chan struct{}
	push       atomic.Int32 // pushNone, pushLive, pushDown

	// refreshing makes polls one at a time: Run's ticker, a push's poke
	// and a direct Refresh (a test, a command) may overlap, and the
	// fields only Refresh touches (the generations, devicesSeen) are not
	// otherwise locked.
	refreshing sync.Mutex

	mu           sync.Mutex
	onDisable    []func(ctx context.Context, userID string) error
	onPolicy     []func(ctx context.Context, c *policy.Versioned)
	onAllowlists []func(ctx context.Context, lists map[string][]string)
	allowlists   map[string][]string // last seen; guarded by mu
	onRevoke     []func(ctx context.Context, r directory.Revocation) error
	revoked      map[int64]time.Time // revocation ids seen; guarded by mu
	// pending are ends of sessions whose hook failed (the session store
	// stalled): retried at every poll until they succeed, and meanwhile
	// published in unapplied so the gateway refuses the sessions they
	// were meant to end. Guarded by mu.
	pending   map[string]pendingEnd
	unapplied atomic.Pointer[map[string]time.Time] // user id → latest pending At
	onDevices []func(ids []string)                 // guarded by mu

	// devicesGen is the devices generation last seen (-1 before the first
	// poll) and devicesSeen the revoked devices already reported, by id,
	// with their revocation time (forgotten after 2*revocationWindow);
	// only Refresh touches them.
	devicesGen  int64
	devicesSeen map[string]time.Time
}

// pendingEnd is a revocation or a disable whose hook has not succeeded.
type pendingEnd struct {
	userID string
	at     time.Time
	apply  func(ctx context.Context) error
}

// New returns a Watcher; call Refresh once, then Run.
func New(src Source, log *slog.Logger, interval time.Duration, now func() time.Time) *Watcher {
	if now == nil {
		now = time.Now
	}
	w := &Watcher{src: src, log: log.With("component", "watch"), now: now, interval: interval, pending: map[string]pendingEnd{},
		poke: make(chan struct{}, 1), keysGen: -1, devicesGen: -1, devicesSeen: map[string]time.Time{}}
	w.disabled.Store(&map[string]struct{}{})
	w.unapplied.Store(&map[string]time.Time{})
	return w
}

// OnDisable registers f to run for each user newly seen disabled; an
// error means the sessions could not be ended, and the watcher tries again
// at every poll until it succeeds.
func (w *Watcher) OnDisable(f func(ctx context.Context, userID string) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onDisable = append(w.onDisable, f)
}

// OnPolicy registers f to run when a new policy version comes into force.
func (w *Watcher) OnPolicy(f func(ctx context.Context, c *policy.Versioned)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onPolicy = append(w.onPolicy, f)
}

// OnAllowlists registers f to run with every user's network allowlist
// whenever any of them changed (and after the first Refresh).
func (w *Watcher) OnAllowlists(f func(ctx context.Context, lists map[string][]string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onAllowlists = append(w.onAllowlists, f)
}

// OnRevoke registers f to run for each revocation recorded in the
// directory ("end this user's sessions created before At"); an error
// means it was not applied, and the watcher tries again at every poll
// until it succeeds.
func (w *Watcher) OnRevoke(f func(ctx context.Context, r directory.Revocation) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onRevoke = append(w.onRevoke, f)
}

// Policy returns the policy in force; nil before the first Refresh.
func (w *Watcher) Policy() *policy.Versioned { return w.policy.Load() }

// Access returns the access table in force (the policy's access section
// over the stored templates); nil before the first Refresh.
func (w *Watcher) Access() *access.Table { return w.access.Table() }

// Disabled reports whether the user was disabled at the last poll.
func (w *Watcher) Disabled(userID string) bool {
	_, ok := (*w.disabled.Load())[userID]
	return ok
}

// RevokedBefore returns the latest time before which the user's sessions
// should have ended but a revocation or disable could not yet be applied
// to the session store (zero when none is pending). The gateway refuses
// sessions created before it, so a store stall at the wrong moment cannot
// let them live on (review finding F4). It does not lock: it runs on
// every request.
func (w *Watcher) RevokedBefore(userID string) time.Time {
	return (*w.unapplied.Load())[userID]
}

// Fresh reports whether the last successful poll is recent enough
// (maxAge) to trust; a gateway refuses authenticated traffic otherwise,
// because it can no longer learn about revocations.
func (w *Watcher) Fresh(maxAge time.Duration) bool {
	last := w.lastOK.Load()
	return last != 0 && w.now().Sub(time.Unix(0, last)) <= maxAge
}

// Push states, as PushState reports them.
const (
	pushNone = iota
	pushLive
	pushDown
)

// Poke asks Run to read the directory now (a change notification
// arrived). It never blocks: pokes that arrive while a read is pending
// or running fold into one more read.
func (w *Watcher) Poke() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// SetPush records whether change notifications are arriving; the
// directory listener calls it.
func (w *Watcher) SetPush(up bool) {
	next := int32(pushDown)
	if up {
		next = pushLive
	}
	switch prev := w.push.Swap(next); {
	case prev == pushLive && !up:
		w.log.Warn("directory change notifications lost; polling every " + w.interval.String() + " until they are back")
	case prev == pushDown && up:
		w.log.Info("directory change notifications back")
	}
}

// WriteMetrics writes the push state in the Prometheus text format.
func (w *Watcher) WriteMetrics(out io.Writer) {
	live := 0
	if w.push.Load() == pushLive {
		live = 1
	}
	fmt.Fprintln(out, "# HELP gatehouse_directory_push_live 1 while PostgreSQL change notifications arrive; 0 while the replica relies on polling alone.")
	fmt.Fprintln(out, "# TYPE gatehouse_directory_push_live gauge")
	fmt.Fprintf(out, "gatehouse_directory_push_live %d\n", live)
}

// PushState is what /readyz shows: "none" (no notifications; polling
// only, as with SQLite), "live", or down and polling.
func (w *Watcher) PushState() string {
	switch w.push.Load() {
	case pushLive:
		return "live"
	case pushDown:
		return "down: polling every " + w.interval.String()
	}
	return "none: polling every " + w.interval.String()
}

// Run reads the directory at every poll interval and whenever poked,
// until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.poke:
		}
		err := w.Refresh(ctx)
		switch {
		case err != nil && !failing:
			w.log.ErrorContext(ctx, "directory poll failed; authenticated requests are refused until it recovers", "error", err)
		case err == nil && failing:
			w.log.InfoContext(ctx, "directory poll recovered")
		}
		failing = err != nil
	}
}

// Refresh polls once; concurrent calls take turns.
func (w *Watcher) Refresh(ctx context.Context) error {
	w.refreshing.Lock()
	defer w.refreshing.Unlock()
	ctx, cancel := context.WithTimeout(ctx, max(w.interval, time.Second))
	defer cancel()
	pv, err := w.src.CurrentPolicy(ctx)
	if err != nil {
		return fmt.Errorf("poll policy: %w", err)
	}
	ids, err := w.src.DisabledUserIDs(ctx)
	if err != nil {
		return fmt.Errorf("poll disabled users: %w", err)
	}
	lists, err := w.src.UserAllowlists(ctx)
	if err != nil {
		return fmt.Errorf("poll user allowlists: %w", err)
	}
	w.updateAllowlists(ctx, lists)
	revs, err := w.src.RecentRevocations(ctx, w.now().Add(-revocationWindow))
	if err != nil {
		return fmt.Errorf("poll revocations: %w", err)
	}
	w.applyRevocations(ctx, revs)
	w.retryPending(ctx)
	// Disabled users and revoked devices first: a policy version or a
	// document that does not parse must not hold up ending sessions.
	w.updateDisabled(ctx, ids)
	if err := w.updateDevices(ctx); err != nil {
		return err
	}
	if err := w.updateTemplates(ctx); err != nil {
		return err
	}
	if err := w.updateRecords(ctx); err != nil {
		return err
	}
	if gen, err := w.src.APIKeysGeneration(ctx); err != nil {
		return fmt.Errorf("poll api keys: %w", err)
	} else if gen != w.keysGen {
		first := w.keysGen == -1 // the first poll only learns where the counter stands
		w.keysGen = gen
		if !first {
			w.mu.Lock()
			hooks := slices.Clone(w.onKeys)
			w.mu.Unlock()
			for _, f := range hooks {
				f()
			}
		}
	}
	if cur := w.policy.Load(); cur == nil || cur.Version != pv.Version {
		p, err := policy.Parse(pv.Document)
		if err != nil {
			// A stored version that does not parse (written by a newer
			// release?) must not silently loosen anything: keep the last
			// good policy, and fail closed if there is none.
			return fmt.Errorf("policy version %d: %w", pv.Version, err)
		}
		c := &policy.Versioned{Policy: p, Version: pv.Version}
		if err := w.access.SetConfig(p.Access); err != nil {
			return fmt.Errorf("policy version %d: access: %w", pv.Version, err)
		}
		w.policy.Store(c)
		if cur != nil {
			w.log.InfoContext(ctx, "login policy changed", "version", pv.Version)
		}
		w.mu.Lock()
		hooks := slices.Clone(w.onPolicy)
		w.mu.Unlock()
		for _, f := range hooks {
			f(ctx, c)
		}
	}
	w.lastOK.Store(w.now().UnixNano())
	return nil
}

// OnAPIKeysRevoked registers f, called when a poll finds an API key was
// revoked since the last one (anywhere: another replica, the CLI).
func (w *Watcher) OnAPIKeysRevoked(f func()) {
	w.mu.Lock()
	w.onKeys = append(w.onKeys, f)
	w.mu.Unlock()
}

// OnDevicesRevoked registers f, called with the ids of the device logins
// a poll finds newly revoked (anywhere: another replica, the CLI), oldest
// revocation first; f deletes their sessions. Each id is passed once
// while its revocation is within the revocation window (deleting a
// session twice is harmless, so the bound is on memory, not on
// correctness). Like OnAPIKeysRevoked, the first poll calls nothing: it
// only learns where the devices generation stands; revocations it found
// within the window are passed with the next one.
func (w *Watcher) OnDevicesRevoked(f func(ids []string)) {
	w.mu.Lock()
	w.onDevices = append(w.onDevices, f)
	w.mu.Unlock()
}

// updateDevices reads the revoked devices when the devices generation
// moved (the generation is read first, so every revocation it counts is
// visible to the read) and reports the ones not reported before.
func (w *Watcher) updateDevices(ctx context.Context) error {
	gen, err := w.src.DevicesGeneration(ctx)
	if err != nil {
		return fmt.Errorf("poll devices: %w", err)
	}
	if gen == w.devicesGen {
		return nil
	}
	if w.devicesGen == -1 { // the first poll only learns where the counter stands
		w.devicesGen = gen
		return nil
	}
	now := w.now()
	devs, err := w.src.RevokedDevicesSince(ctx, now.Add(-revocationWindow))
	if err != nil {
		return fmt.Errorf("poll revoked devices: %w", err)
	}
	w.devicesGen = gen
	var fresh []string
	for _, d := range devs {
		if _, seen := w.devicesSeen[d.ID]; !seen {
			w.devicesSeen[d.ID] = d.RevokedAt
			fresh = append(fresh, d.ID)
		}
	}
	for id, at := range w.devicesSeen {
		if now.Sub(at) > 2*revocationWindow {
			delete(w.devicesSeen, id)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	w.mu.Lock()
	hooks := slices.Clone(w.onDevices)
	w.mu.Unlock()
	for _, f := range hooks {
		f(slices.Clone(fresh))
	}
	return nil
}

// Records returns the access policy set in force and the users and
// groups it decides over; nil before the first Refresh.
func (w *Watcher) Records() (*records.PolicySet, *records.People) {
	return w.records.Load(), w.people.Load()
}

// updateRecords installs a new access policy set (none stored: the
// shipped one) and re-reads the users and groups when their generation
// moved. A stored set that does not parse keeps the last good one and
// fails the poll, like a bad template set.
func (w *Watcher) updateRecords(ctx context.Context) error {
	doc, err := w.src.CurrentDocument(ctx, directory.DocAccessPolicies)
	if errors.Is(err, directory.ErrNotFound) {
		doc = directory.Document{Body: records.DefaultPolicies}
	} else if err != nil {
		return fmt.Errorf("poll access policies: %w", err)
	}
	if !w.recordsSet || doc.Version != w.recordsVer {
		ps, err := records.ParsePolicies(doc.Body)
		if err != nil {
			return fmt.Errorf("access policies version %d: %w", doc.Version, err)
		}
		if w.recordsSet {
			w.log.InfoContext(ctx, "access policies changed", "version", doc.Version)
		}
		w.records.Store(ps)
		w.recordsVer, w.recordsSet = doc.Version, true
	}
	gen, err := w.src.GroupsGeneration(ctx)
	if err != nil {
		return fmt.Errorf("poll groups: %w", err)
	}
	if w.people.Load() != nil && gen == w.peopleGen {
		return nil
	}
	users, err := w.src.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("poll users: %w", err)
	}
	groups, err := w.src.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("poll groups: %w", err)
	}
	w.people.Store(records.NewPeople(users, groups))
	w.peopleGen = gen
	return nil
}

// SeedAccessPolicies stores the shipped access policy set as the first
// version when the directory has none.
func SeedAccessPolicies(ctx context.Context, dir directory.Documents) (seeded bool, err error) {
	_, err = dir.PutDocument(ctx, directory.DocAccessPolicies, records.DefaultPolicies, "seed", 0)
	if errors.Is(err, directory.ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// updateTemplates installs a new template set; none stored is an empty
// set (every role then grants nothing, which only matters once a route
// rule asks for a feature). One that does not parse keeps the last good
// set and fails the poll, so a replica with none refuses (fail closed).
func (w *Watcher) updateTemplates(ctx context.Context) error {
	doc, err := w.src.CurrentDocument(ctx, directory.DocTemplates)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		doc = directory.Document{Body: []byte("templates: {}\n")}
	case err != nil:
		return fmt.Errorf("poll templates: %w", err)
	}
	if w.tplSeen && doc.Version == w.templates {
		return nil
	}
	set, err := access.ParseTemplates(doc.Body, nil)
	if err != nil {
		return fmt.Errorf("templates version %d: %w", doc.Version, err)
	}
	if err := w.access.SetTemplates(set); err != nil {
		return fmt.Errorf("templates version %d: %w", doc.Version, err)
	}
	if w.tplSeen {
		w.log.InfoContext(ctx, "permission templates changed", "version", doc.Version)
	}
	w.templates, w.tplSeen = doc.Version, true
	return nil
}

func (w *Watcher) applyRevocations(ctx context.Context, revs []directory.Revocation) {
	w.mu.Lock()
	if w.revoked == nil {
		w.revoked = map[int64]time.Time{}
	}
	var fresh []directory.Revocation
	for _, r := range revs {
		if _, seen := w.revoked[r.ID]; !seen {
			w.revoked[r.ID] = r.At
			fresh = append(fresh, r)
		}
	}
	for id, at := range w.revoked {
		if w.now().Sub(at) > 2*revocationWindow {
			delete(w.revoked, id)
		}
	}
	hooks := slices.Clone(w.onRevoke)
	w.mu.Unlock()
	for _, r := range fresh {
		w.attempt(ctx, fmt.Sprintf("revocation:%d", r.ID), r.UserID, r.At, func(ctx context.Context) error {
			var errs []error
			for _, f := range hooks {
				errs = append(errs, f(ctx, r))
			}
			return errors.Join(errs...)
		})
	}
}

// attempt runs apply; when it fails the end is kept pending (retried at
// every poll, and its user's older sessions refused meanwhile).
func (w *Watcher) attempt(ctx context.Context, key, userID string, at time.Time, apply func(context.Context) error) {
	if err := apply(ctx); err != nil {
		w.log.ErrorContext(ctx, "could not end a user's sessions; retrying at every poll, and refusing them meanwhile",
			"user_id", userID, "what", key, "error", err)
		w.mu.Lock()
		w.pending[key] = pendingEnd{userID: userID, at: at, apply: apply}
		w.publishPending()
		w.mu.Unlock()
	}
}

// retryPending applies the ends that failed before.
func (w *Watcher) retryPending(ctx context.Context) {
	w.mu.Lock()
	todo := maps.Clone(w.pending)
	w.mu.Unlock()
	for key, p := range todo {
		if err := p.apply(ctx); err != nil {
			continue
		}
		w.log.InfoContext(ctx, "ended a user's sessions after a retry", "user_id", p.userID, "what", key)
		w.mu.Lock()
		delete(w.pending, key)
		w.publishPending()
		w.mu.Unlock()
	}
}

// publishPending rebuilds the lock-free view RevokedBefore reads; the
// caller holds mu.
func (w *Watcher) publishPending() {
	m := make(map[string]time.Time, len(w.pending))
	for _, p := range w.pending {
		if p.at.After(m[p.userID]) {
			m[p.userID] = p.at
		}
	}
	w.unapplied.Store(&m)
}

func (w *Watcher) updateAllowlists(ctx context.Context, lists map[string][]string) {
	w.mu.Lock()
	changed := w.allowlists == nil || !maps.EqualFunc(w.allowlists, lists, slices.Equal)
	w.allowlists = lists
	hooks := slices.Clone(w.onAllowlists)
	w.mu.Unlock()
	if changed {
		for _, f := range hooks {
			f(ctx, lists)
		}
	}
}

func (w *Watcher) updateDisabled(ctx context.Context, ids []string) {
	old := *w.disabled.Load()
	next := make(map[string]struct{}, len(ids))
	var newly []string
	for _, id := range ids {
		next[id] = struct{}{}
		if _, was := old[id]; !was {
			newly = append(newly, id)
		}
	}
	w.disabled.Store(&next)
	slices.Sort(newly)
	w.mu.Lock()
	hooks := slices.Clone(w.onDisable)
	w.mu.Unlock()
	now := w.now()
	for _, id := range newly {
		w.attempt(ctx, "disable:"+id, id, now, func(ctx context.Context) error {
			var errs []error
			for _, f := range hooks {
				errs = append(errs, f(ctx, id))
			}
			return errors.Join(errs...)
		})
	}
}

// Seed stores the config's policy as version 1 when the directory has
// none. When one exists and differs from the config's, it returns a
// warning for the log naming the command that applies the config's policy;
// the stored policy stays in force, because it may carry admins' changes.
func Seed(ctx context.Context, dir directory.Policies, fromConfig policy.Policy) (seeded bool, warning string, err error) {
	cur, err := dir.CurrentPolicy(ctx)
	if errors.Is(err, directory.ErrNotFound) {
		doc, err := fromConfig.Marshal()
		if err != nil {
			return false, "", err
		}
		_, err = dir.PutPolicy(ctx, doc, "seed", true)
		if errors.Is(err, directory.ErrConflict) {
			return false, "", nil // another replica seeded first
		}
		return err == nil, "", err
	}
	if err != nil {
		return false, "", err
	}
	stored, err := policy.Parse(cur.Document)
	if err != nil {
		return false, "", fmt.Errorf("stored policy version %d: %w", cur.Version, err)
	}
	if !policy.Equal(stored, fromConfig) {
		warning = fmt.Sprintf("the config's policy section differs from the login policy in force (version %d); "+
			"the stored policy stays in force. To apply the config's, run: gatehouse policy set --file <file with the policy section>", cur.Version)
	}
	return false, warning, nil
}

// SeedTemplates stores set as the first template version when the
// directory has none; a stored set (perhaps edited by admins) stays.
func SeedTemplates(ctx context.Context, dir directory.Documents, set access.TemplateSet) (seeded bool, err error) {
	doc, err := set.Marshal()
	if err != nil {
		return false, err
	}
	_, err = dir.PutDocument(ctx, directory.DocTemplates, doc, "seed", 0)
	if errors.Is(err, directory.ErrConflict) {
		return false, nil // stored already, or another replica seeded first
	}
	return err == nil, err
}
