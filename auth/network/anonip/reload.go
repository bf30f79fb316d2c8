package anonip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	maxminddb "github.com/oschwald/maxminddb-golang/v2"
)

// probeRecords bounds how many records openBytes decodes to judge a
// database's shape: enough to catch a City or ASN file, cheap on a large one.
const probeRecords = 64

// Reload loads the file again if it changed since the loaded version (another
// file renamed over it, or a different size or modification time). It reports
// whether a new version is now in use. A file that fails to load leaves the
// current version in place, is logged as a warning and counted in Status;
// Reload then skips that same file until it changes again, so callers need
// not log the error themselves.
func (db *DB) Reload() (bool, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := db.cur.Load()
	if db.closed || cur == nil {
		return false, ErrClosed
	}
	fi, err := os.Stat(db.path)
	if err != nil {
		return false, db.fail(fmt.Errorf("stat anonymous-IP database: %w", err))
	}
	if sameFile(fi, cur.file) || (db.failed != nil && sameFile(fi, db.failed)) {
		return false, nil
	}
	v, err := db.load()
	if err != nil {
		db.failed = fi
		return false, db.fail(err)
	}
	db.cur.Store(v)
	db.failed = nil
	db.lastErr.Store(nil)
	db.log.Info("anonymous-IP database reloaded", "path", db.path,
		"database_type", v.reader.Metadata.DatabaseType, "build_time", v.reader.Metadata.BuildTime())
	return true, nil
}

// Run calls Reload every interval until ctx ends or the DB is closed. A
// non-positive interval disables reloading.
func (db *DB) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Other errors were logged and counted by Reload.
			if _, err := db.Reload(); errors.Is(err, ErrClosed) {
				return
			}
		}
	}
}

// fail records a reload failure; db.mu is held.
func (db *DB) fail(err error) error {
	db.failures.Add(1)
	msg := err.Error()
	db.lastErr.Store(&msg)
	db.log.Warn("anonymous-IP database reload failed; keeping the loaded version",
		"path", db.path, "error", err)
	return err
}

// load reads and checks the file. The file is stat'ed through the open
// descriptor so the recorded size and time belong to the bytes read, even if
// the path is renamed over meanwhile.
func (db *DB) load() (*version, error) {
	f, err := os.Open(db.path)
	if err != nil {
		return nil, fmt.Errorf("open anonymous-IP database: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat anonymous-IP database: %w", err)
	}
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("read anonymous-IP database %s: %w", db.path, err)
	}
	r, err := openBytes(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("anonymous-IP database %s: %w", db.path, err)
	}
	return &version{reader: r, file: fi, loadedAt: time.Now()}, nil
}

// openBytes parses a database and checks that lookups into it will work:
// the library's Verify validates the whole tree and data section, so a
// truncated or corrupt file is refused here rather than failing lookups
// later, and the shape check refuses a valid file of the wrong kind.
func openBytes(data []byte) (*maxminddb.Reader, error) {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parse MaxMind DB: %w", err)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("verify MaxMind DB: %w", err)
	}
	if err := checkShape(r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkShape accepts a database whose type names it anonymous-IP, or whose
// first records carry at least one of the flags (a home-built list written
// with the same field names). Either way those records must decode.
func checkShape(r *maxminddb.Reader) error {
	typ := r.Metadata.DatabaseType
	known := strings.Contains(strings.ToLower(typ), "anonymous")
	n := 0
	for res := range r.Networks() {
		var rec record
		if err := res.Decode(&rec); err != nil {
			return fmt.Errorf("%w: database type %q: record for %s: %w", ErrNotAnonymousIP, typ, res.Prefix(), err)
		}
		if rec.flags() != 0 {
			known = true
			break
		}
		if n++; n == probeRecords {
			break
		}
	}
	if !known {
		return fmt.Errorf("%w: database type %q, and its records have no is_* fields", ErrNotAnonymousIP, typ)
	}
	return nil
}

// sameFile reports whether two stats describe the same unchanged file.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
