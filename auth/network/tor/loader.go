package tor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Loader keeps the current exit list. Request goroutines read it through
// List without locking; Load and Run replace it only with a list that
// parsed, so a failed refresh leaves the last good one in place.
type Loader struct {
	src    Source
	name   string // src as logs show it
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	list atomic.Pointer[List]

	load       sync.Mutex // one Load at a time
	validators validators // guarded by load

	mu       sync.Mutex // guards the fields below and their consistency with list
	loadedAt time.Time
	asOf     time.Time // when the current list was current; Age counts from here
	failures uint64
	lastErr  string
}

// Status is the loader's state for health checks, metrics and logs.
type Status struct {
	Count     int           // addresses on the current list; 0 before the first success
	LoadedAt  time.Time     // last successful load (or 304 confirmation)
	Published time.Time     // the list's own date; zero for the bulk format
	Age       time.Duration // see Loader.Status
	Stale     bool          // Age > MaxAge, or no list at all
	Failures  uint64        // failed loads since start
	LastError string        // why the latest load failed; empty once one succeeds
}

// NewLoader returns a loader with no list yet; call Load, then Run. A nil
// client gets a default one; either way redirects to anything but https are
// refused. A nil log discards, a nil now is time.Now.
func NewLoader(src Source, client *http.Client, log *slog.Logger, now func() time.Time) *Loader {
	var c http.Client
	if client != nil {
		c = *client // a copy, so the redirect rule stays ours
	}
	c.CheckRedirect = httpsRedirectsOnly
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Loader{src: src, name: src.name(), client: &c, log: log.With("component", "tor"), now: now}
}

// List is the current list, nil until the first successful Load.
func (l *Loader) List() *List { return l.list.Load() }

// Load fetches and parses the list once. On success the new list replaces
// the old one; on failure the old one stays, the failure is counted and
// logged as a warning, and the error is returned.
func (l *Loader) Load(ctx context.Context) error {
	l.load.Lock()
	defer l.load.Unlock()
	list, srcTime, err := l.fetch(ctx)
	now := l.now()
	switch {
	case errors.Is(err, errNotModified):
		l.confirm(ctx, now)
		return nil
	case err != nil:
		err = fmt.Errorf("tor exit list %s: %w", l.name, err)
		l.fail(ctx, err)
		return err
	}
	l.mu.Lock()
	l.list.Store(list)
	l.loadedAt, l.asOf, l.lastErr = now, dataTime(list, srcTime, now), ""
	l.mu.Unlock()
	l.logLoaded(ctx, list, now)
	return nil
}

func (l *Loader) fetch(ctx context.Context) (*List, time.Time, error) {
	if l.src.File != "" {
		return readFile(l.src.File)
	}
	var v validators
	if l.List() != nil {
		v = l.validators
	}
	list, v, err := fetchURL(ctx, l.client, l.src.URL, v)
	l.validators = v
	return list, time.Time{}, err
}

// dataTime is when the list's content was current: its own date, else the
// file's modification time, else now. A date in the future is taken as now,
// so a wrong clock upstream cannot make a list look fresh forever.
func dataTime(list *List, srcTime, now time.Time) time.Time {
	t := list.Published()
	if t.IsZero() {
		t = srcTime
	}
	if t.IsZero() || t.After(now) {
		t = now
	}
	return t
}

// confirm records a 304: the server says the current list is still the
// one it publishes.
func (l *Loader) confirm(ctx context.Context, now time.Time) {
	l.mu.Lock()
	l.loadedAt, l.asOf, l.lastErr = now, dataTime(l.List(), time.Time{}, now), ""
	l.mu.Unlock()
	l.log.DebugContext(ctx, "tor exit list not modified", "source", l.name)
}

func (l *Loader) fail(ctx context.Context, err error) {
	l.mu.Lock()
	l.failures++
	l.lastErr = err.Error()
	failures := l.failures
	l.mu.Unlock()
	l.log.WarnContext(ctx, "tor exit list refresh failed, keeping the last good list",
		"source", l.name, "error", err, "failures", failures, "count", l.List().Len())
}

func (l *Loader) logLoaded(ctx context.Context, list *List, now time.Time) {
	st := l.Status(now)
	level := slog.LevelInfo
	if st.Stale {
		level = slog.LevelWarn // loaded fine, but whatever updates the source has stopped
	}
	l.log.Log(ctx, level, "tor exit list loaded", "source", l.name, "format", list.Format(),
		"count", list.Len(), "published", list.Published(), "age", st.Age, "stale", st.Stale)
}

// Status reports the loader's state at now. Age counts from the list's own
// date (exit-addresses), else from the file's modification time (a file
// source), else from the last successful load (a URL serving the bulk
// list). Staleness is only reported: the list stays in use, and the caller
// decides what a stale list means.
func (l *Loader) Status(now time.Time) Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.List()
	st := Status{
		Count:     list.Len(),
		LoadedAt:  l.loadedAt,
		Published: list.Published(),
		Failures:  l.failures,
		LastError: l.lastErr,
	}
	if list == nil {
		st.Stale = true // nothing to block with is worse than an old list
		return st
	}
	st.Age = now.Sub(l.asOf)
	st.Stale = l.src.MaxAge > 0 && st.Age > l.src.MaxAge
	return st
}

// Run reloads the list every Refresh until ctx ends. The first load is the
// caller's, so startup can decide whether a missing list is fatal. Errors
// are logged and counted by Load.
func (l *Loader) Run(ctx context.Context) {
	if l.src.Refresh <= 0 {
		return
	}
	t := time.NewTicker(l.src.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.Load(ctx)
		}
	}
}
