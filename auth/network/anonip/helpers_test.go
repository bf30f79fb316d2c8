package anonip_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"go4.org/netipx"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

// entry is one network of a generated database and its record.
type entry struct {
	prefix string
	record mmdbtype.Map
}

// flagged is the record MaxMind writes for a flag set: only true fields.
func flagged(prefix string, f anonip.Flags) entry {
	rec := mmdbtype.Map{}
	for _, name := range f.Names() {
		rec[mmdbtype.String(name)] = mmdbtype.Bool(true)
	}
	return entry{prefix, rec}
}

// dbSpec describes a database to generate.
type dbSpec struct {
	dbType    string // default GeoIP2-Anonymous-IP
	ipVersion int    // default 6
	epoch     int64  // build time; default fixed
	entries   []entry
}

// build writes the database the way MaxMind's do: an IPv6 tree whose IPv4
// networks live in the ::/96 subtree. mmdbwriter puts a network whose
// net.IPNet has a 4-byte IP there, and aliases ::ffff:0:0/96 (and 6to4,
// Teredo) onto it; netipx.PrefixIPNet yields 4-byte IPs for IPv4 prefixes.
// The documentation ranges the tests use are reserved, hence
// IncludeReservedNetworks.
func build(t testing.TB, spec dbSpec) []byte {
	t.Helper()
	opts := mmdbwriter.Options{
		DatabaseType:            spec.dbType,
		IPVersion:               spec.ipVersion,
		BuildEpoch:              spec.epoch,
		IncludeReservedNetworks: true,
		// Reader.Verify, which Open runs, insists on a description.
		Description: map[string]string{"en": "gatehouse test database"},
	}
	if opts.DatabaseType == "" {
		opts.DatabaseType = "GeoIP2-Anonymous-IP"
	}
	if opts.BuildEpoch == 0 {
		opts.BuildEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix()
	}
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatalf("mmdbwriter.New: %v", err)
	}
	for _, e := range spec.entries {
		if err := tree.Insert(netipx.PrefixIPNet(netip.MustParsePrefix(e.prefix)), e.record); err != nil {
			t.Fatalf("insert %s: %v", e.prefix, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatalf("write database: %v", err)
	}
	return buf.Bytes()
}

// replace puts data at path the way geoipupdate does, by renaming a complete
// temporary file over it, then sets its modification time.
func replace(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// openSpec writes spec to a fresh file and opens it.
func openSpec(t testing.TB, spec dbSpec) (*anonip.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "anon.mmdb")
	replace(t, path, build(t, spec), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db, err := anonip.Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// lookup fails the test on a lookup error.
func lookup(t testing.TB, db *anonip.DB, addr string) anonip.Flags {
	t.Helper()
	f, err := db.Lookup(netip.MustParseAddr(addr))
	if err != nil {
		t.Fatalf("Lookup(%s): %v", addr, err)
	}
	return f
}
