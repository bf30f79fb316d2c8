package network

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// refuseAll is an HTTP client's transport that reaches nothing.
type refuseAll struct{}

var errRefused = errors.New("refused by the test")

func (refuseAll) RoundTrip(*http.Request) (*http.Response, error) { return nil, errRefused }

// TestCheckReportsEveryList: Check loads what New loads and says what is
// wrong with each list at once, where New stops at the first.
func TestCheckReportsEveryList(t *testing.T) {
	cfg := Config{
		TorExitList:   TorExitList{File: filepath.Join(t.TempDir(), "none")},
		AnonymousIPDB: AnonymousIPDB{File: write(t, "x.mmdb", "not a database")},
		DenyFile:      write(t, "deny.txt", "10.0.0.0/8\nnot-a-cidr\n"),
	}
	cfg.SetDefaults()
	err := Check(t.Context(), cfg, nil)
	for _, want := range []string{"network.tor_exit_list.file: ", "network.anonymous_ip_db.file: ", "network.deny_file: line 2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q in it", err, want)
		}
	}
	good := Config{TorExitList: TorExitList{File: write(t, "tor", "198.51.100.7\n")}, AnonymousIPDB: AnonymousIPDB{File: testDB},
		DenyFile: write(t, "deny.txt", "192.0.2.0/24\n")}
	good.SetDefaults()
	if err := Check(t.Context(), good, nil); err != nil {
		t.Errorf("good lists: %v", err)
	}
}

// TestCheckURLOnlyOnline: a Tor list URL is left out without a client
// (offline) and, with one, its failure is reported, where New only logs
// it.
func TestCheckURLOnlyOnline(t *testing.T) {
	cfg := Config{TorExitList: TorExitList{URL: "https://tor.example/exits"}}
	cfg.SetDefaults()
	if err := Check(t.Context(), cfg, nil); err != nil {
		t.Errorf("offline: %v", err)
	}
	err := Check(t.Context(), cfg, &http.Client{Transport: refuseAll{}})
	if !errors.Is(err, errRefused) || !strings.HasPrefix(err.Error(), "network.tor_exit_list.url: ") {
		t.Errorf("online: got %v, want the fetch's failure under network.tor_exit_list.url", err)
	}
}
