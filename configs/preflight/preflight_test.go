package preflight

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCreatable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, note, err string
	}{
		{path: file},
		{path: filepath.Join(dir, "new.db"), note: " in " + dir + ", which exists"},
		{path: filepath.Join(dir, "a", "b", "new.db"), note: ", and the folder " + filepath.Join(dir, "a", "b") + " (mode 0700) it goes in"},
		{path: filepath.Join(file, "new.db"), err: file + " is not a folder"},
		{path: dir, err: dir + " is not a regular file"},
	}
	for _, tc := range tests {
		note, err := creatable(tc.path)
		if note != tc.note || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("creatable(%s): got %q, %v; want %q, %q", tc.path, note, err, tc.note, tc.err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("creatable wrote in %s: %v", dir, entries)
	}
}

// countingClient counts requests and answers none.
type countingClient struct{ n atomic.Int64 }

var errNoServer = errors.New("no server in this test")

func (c *countingClient) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errNoServer
}

// TestOnlineOnlyForAValidConfig: an online check runs OIDC discovery
// through the client and reports its failure under the provider's key;
// for a configuration that is itself wrong nothing is asked.
func TestOnlineOnlyForAValidConfig(t *testing.T) {
	dir := t.TempDir()
	body := "public_url: https://crm.example.com\ndirectory: {driver: sqlite, dsn: " + filepath.Join(dir, "data", "d.db") + "}\n" +
		"secrets: {key_file: " + filepath.Join(dir, "data", "k") + "}\n" +
		"providers: [{id: corp, type: oidc, issuer: 'https://login.corp.example', client_id: gh, client_secret: s}]\n"
	for _, tc := range []struct {
		extra    string
		requests bool
		want     string
	}{
		{"", true, "providers[0]: oidc corp discovery"},
		{"listen: nowhere\n", false, "listen:"},
	} {
		path := filepath.Join(dir, "g.yaml")
		if err := os.WriteFile(path, []byte(body+tc.extra), 0o600); err != nil {
			t.Fatal(err)
		}
		rt := &countingClient{}
		_, err := Check(t.Context(), path, nil, Options{Online: true, Client: &http.Client{Transport: rt}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.extra, err, tc.want)
		}
		if got := rt.n.Load() > 0; got != tc.requests {
			t.Errorf("%q: asked the network: %v, want %v", tc.extra, got, tc.requests)
		}
		// Offline, the same provider passes: discovery is left out.
		if _, err := Check(t.Context(), path, nil, Options{Client: &http.Client{Transport: rt}}); tc.extra == "" && err != nil {
			t.Errorf("offline: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("Check created the data folder")
	}
}
