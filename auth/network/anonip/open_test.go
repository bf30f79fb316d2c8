package anonip_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

func TestOpenErrors(t *testing.T) {
	real, err := os.ReadFile("testdata/GeoIP2-Anonymous-IP-Test.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	city := dbSpec{dbType: "GeoIP2-City", entries: []entry{{"192.0.2.0/24", mmdbtype.Map{
		"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Exampleton")}},
		"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")},
	}}}}
	tests := []struct {
		name    string
		data    []byte // nil: no file at all
		wantIs  error
		wantMsg string
	}{
		{"missing file", nil, fs.ErrNotExist, ""},
		{"empty file", []byte{}, nil, "parse MaxMind DB"},
		{"not an mmdb", []byte("203.0.113.7\n198.51.100.0/24\n"), nil, "parse MaxMind DB"},
		{"truncated", real[:len(real)/2], nil, "MaxMind DB"},
		{"corrupt search tree", corruptTree(real), nil, "verify MaxMind DB"},
		{"city database", build(t, city), anonip.ErrNotAnonymousIP, `"GeoIP2-City"`},
		{"empty database of another type", build(t, dbSpec{dbType: "GeoLite2-ASN"}), anonip.ErrNotAnonymousIP, `"GeoLite2-ASN"`},
		{"flag of the wrong type", build(t, dbSpec{entries: []entry{{"192.0.2.0/24",
			mmdbtype.Map{"is_anonymous": mmdbtype.String("yes")}}}}), anonip.ErrNotAnonymousIP, "192.0.2.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "anon.mmdb")
			if tt.data != nil {
				replace(t, path, tt.data, time.Now())
			}
			db, err := anonip.Open(path, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open: got nil error, want one")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

// corruptTree overwrites the search tree's first node, so the file still
// parses but points outside itself.
func corruptTree(data []byte) []byte {
	bad := append([]byte(nil), data...)
	for i := range 6 {
		bad[i] = 0xff
	}
	return bad
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	if db, err := anonip.Open(dir, nil); err == nil || !strings.Contains(err.Error(), dir) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open(directory): got %v, want an error naming %s", err, dir)
	}
}

// TestOpenCustomType: a home-built list with MaxMind's field names is
// accepted whatever its database_type, because its records carry the flags.
func TestOpenCustomType(t *testing.T) {
	db, _ := openSpec(t, dbSpec{dbType: "Example-Corp-Blocklist", entries: []entry{
		flagged("192.0.2.0/24", anonip.Anonymous|anonip.PublicProxy),
	}})
	if got, want := lookup(t, db, "192.0.2.9"), anonip.Anonymous|anonip.PublicProxy; got != want {
		t.Errorf("Lookup: got %v, want %v", got, want)
	}
}

// TestOpenEmptyAnonymousDatabase: a database of the right type that lists
// nothing is valid and answers "not anonymous".
func TestOpenEmptyAnonymousDatabase(t *testing.T) {
	db, _ := openSpec(t, dbSpec{})
	if got := lookup(t, db, "192.0.2.1"); got != 0 {
		t.Errorf("Lookup: got %v, want none", got)
	}
}

func TestOpenStatus(t *testing.T) {
	before := time.Now()
	build := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	db, path := openSpec(t, dbSpec{epoch: build.Unix()})
	s := db.Status()
	if s.Path != path || s.DatabaseType != "GeoIP2-Anonymous-IP" || !s.BuildTime.Equal(build) ||
		s.Failures != 0 || s.LastError != "" {
		t.Errorf("Status: got %+v, want path %s, type GeoIP2-Anonymous-IP, build time %v, no failures", s, path, build)
	}
	if s.LoadedAt.Before(before) || s.LoadedAt.After(time.Now()) {
		t.Errorf("Status.LoadedAt: got %v, want during Open", s.LoadedAt)
	}
}

func TestClose(t *testing.T) {
	db, _ := openSpec(t, generated)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := db.Lookup(mustAddr("192.0.2.1")); !errors.Is(err, anonip.ErrClosed) {
		t.Errorf("Lookup after Close: got %v, want ErrClosed", err)
	}
	if _, err := db.Reload(); !errors.Is(err, anonip.ErrClosed) {
		t.Errorf("Reload after Close: got %v, want ErrClosed", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}
