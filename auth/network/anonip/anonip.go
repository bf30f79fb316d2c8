// Package anonip answers whether a client address belongs to an anonymising
// network (VPN, public proxy, Tor exit, hosting provider, residential proxy)
// from a MaxMind DB file in the GeoIP2 Anonymous IP layout, and follows that
// file as geoipupdate or an admin replaces it.
//
// The database is read into memory rather than memory-mapped. A reload then
// only swaps a pointer: a lookup that still holds the previous reader keeps a
// valid buffer, and the garbage collector frees it once the last such lookup
// returns. With a mapping, the old file would have to be unmapped at a moment
// when no lookup can still touch it, which needs reference counting on the
// hot path. The cost is memory: the file's size on the heap, twice while a
// reload overlaps lookups still running on the old version.
package anonip

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	maxminddb "github.com/oschwald/maxminddb-golang/v2"
)

// Errors a caller can branch on with errors.Is.
var (
	// ErrClosed is returned by Lookup and Reload after Close.
	ErrClosed = errors.New("anonymous-IP database closed")
	// ErrInvalidAddr is returned by Lookup for the zero netip.Addr.
	ErrInvalidAddr = errors.New("invalid IP address")
	// ErrNotAnonymousIP is returned when a file is a valid MaxMind DB but not
	// one of anonymous-IP records (a City or ASN database, say).
	ErrNotAnonymousIP = errors.New("not an anonymous-IP database")
)

// DB is an anonymous-IP database loaded from a file. It is safe for
// concurrent use: lookups never block, and Reload swaps in a new version
// atomically.
type DB struct {
	path string
	log  *slog.Logger

	cur atomic.Pointer[version]
	// records recycles decode targets: the decoder takes an interface, so a
	// stack value would escape and cost an allocation on every lookup.
	records sync.Pool

	mu     sync.Mutex // serialises Reload and Close; guards closed and failed
	closed bool
	failed os.FileInfo // the file that last failed to load, so it is not re-read
	// Status reads these without mu, so that a health check does not wait
	// for a reload that is reading and verifying a large file.
	lastErr  atomic.Pointer[string]
	failures atomic.Uint64
}

// version is one loaded file. Only its cache changes after it is published.
type version struct {
	reader   *maxminddb.Reader
	file     os.FileInfo
	loadedAt time.Time
	cache    flagCache
}

// Status describes the loaded database for health checks, logs and
// `gatehouse check-ip`.
type Status struct {
	Path         string
	DatabaseType string
	BuildTime    time.Time // when MaxMind built the file, from its metadata
	LoadedAt     time.Time // when this process loaded it
	Failures     uint64    // failed reloads since Open
	LastError    string    // why the last reload failed; empty once one succeeds
}

// Open loads the database at path and checks that it holds anonymous-IP
// records. A nil log discards messages.
func Open(path string, log *slog.Logger) (*DB, error) {
	db := newDB(path, log)
	v, err := db.load()
	if err != nil {
		return nil, err
	}
	db.cur.Store(v)
	db.log.Info("anonymous-IP database loaded", "path", path,
		"database_type", v.reader.Metadata.DatabaseType, "build_time", v.reader.Metadata.BuildTime())
	return db, nil
}

func newDB(path string, log *slog.Logger) *DB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{path: path, log: log}
	db.records.New = func() any { return new(record) }
	return db
}

// Lookup returns the flags the database holds for a. An IPv4-mapped IPv6
// address is looked up as IPv4 and a zone is ignored; an address the
// database does not list has no flags. It does not allocate. An error means
// the database could not answer (a malformed record); whether that blocks
// the request is the caller's decision.
func (db *DB) Lookup(a netip.Addr) (Flags, error) {
	if !a.IsValid() {
		return 0, ErrInvalidAddr
	}
	v := db.cur.Load()
	if v == nil {
		return 0, ErrClosed
	}
	a = a.Unmap().WithZone("")
	// An IPv4-only database cannot list an IPv6 address; the library would
	// report an error where "not listed" is the truthful answer.
	if a.Is6() && v.reader.Metadata.IPVersion == 4 {
		return 0, nil
	}
	res := v.reader.Lookup(a)
	if !res.Found() {
		if err := res.Err(); err != nil {
			return 0, fmt.Errorf("anonymous-IP lookup %s: %w", a, err)
		}
		return 0, nil
	}
	off := uint64(res.Offset())
	if f, ok := v.cache.get(off); ok {
		return f, nil
	}
	rec := db.records.Get().(*record)
	*rec = record{}
	err := res.Decode(rec)
	f := rec.flags()
	db.records.Put(rec)
	if err != nil {
		return 0, fmt.Errorf("anonymous-IP lookup %s: %w", a, err)
	}
	v.cache.put(off, f)
	return f, nil
}

// Status reports the loaded version and the reload history.
func (db *DB) Status() Status {
	s := Status{Path: db.path, Failures: db.failures.Load()}
	if e := db.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	if v := db.cur.Load(); v != nil {
		s.DatabaseType = v.reader.Metadata.DatabaseType
		s.BuildTime = v.reader.Metadata.BuildTime()
		s.LoadedAt = v.loadedAt
	}
	return s
}

// Close makes later lookups fail with ErrClosed. Lookups already running
// finish against the version they hold; its memory is freed by the garbage
// collector, which is why the library's Reader.Close is never called: on a
// reader opened from bytes it only clears fields that those lookups read.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.closed = true
	db.cur.Store(nil)
	return nil
}

// record is the decode target: only the fields that become Flags. Other
// fields (the Anonymous Plus database's provider_name, say) are skipped.
type record struct {
	Anonymous        bool `maxminddb:"is_anonymous"`
	AnonymousVPN     bool `maxminddb:"is_anonymous_vpn"`
	PublicProxy      bool `maxminddb:"is_public_proxy"`
	TorExitNode      bool `maxminddb:"is_tor_exit_node"`
	HostingProvider  bool `maxminddb:"is_hosting_provider"`
	ResidentialProxy bool `maxminddb:"is_residential_proxy"`
}

func (r *record) flags() Flags {
	var f Flags
	for bit, set := range [...]bool{r.Anonymous, r.AnonymousVPN, r.PublicProxy,
		r.TorExitNode, r.HostingProvider, r.ResidentialProxy} {
		if set {
			f |= 1 << bit
		}
	}
	return f
}
