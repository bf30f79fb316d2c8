package sqldir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

// TestCheckWritesNothing: Check judges what Open would, names the SQLite
// file it would create, and creates neither it nor its folder.
func TestCheckWritesNothing(t *testing.T) {
	path := directorytest.SQLitePath(t) // in a folder that does not exist
	got, err := sqldir.Check(t.Context(), sqldir.Config{Driver: "sqlite", DSN: path}, true)
	if err != nil || got != path {
		t.Fatalf("Check: got %q, %v; want %q", got, err, path)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("Check created %s (stat: %v)", filepath.Dir(path), err)
	}
}

func TestCheckRefusesWhatOpenRefuses(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  sqldir.Config
		want string
	}{
		{"missing dsn file", sqldir.Config{Driver: "postgres", DSNFile: filepath.Join(t.TempDir(), "nope")}, "directory.dsn_file: open "},
		{"folder open to others", sqldir.Config{Driver: "sqlite", DSN: filepath.Join(open, "gh.db")}, "directory.dsn: the folder " + open + " is open to other users"},
		{"postgres down", sqldir.Config{Driver: "postgres", DSN: "postgres://gatehouse@127.0.0.1:1/gatehouse?connect_timeout=2"}, "directory.dsn: PostgreSQL does not answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sqldir.Check(t.Context(), tc.cfg, true); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: got %v, want %q", err, tc.want)
			}
			db, err := sqldir.Open(t.Context(), tc.cfg)
			if err == nil {
				db.Close()
				t.Errorf("Open accepted what Check refuses")
			}
		})
	}
	// Without ping, PostgreSQL is not asked.
	if _, err := sqldir.Check(t.Context(), tests[2].cfg, false); err != nil {
		t.Errorf("Check without ping: %v", err)
	}
}
