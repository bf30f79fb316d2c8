package tor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listServer plays check.torproject.org: it serves whatever the test set
// last, and answers 304 to a matching If-None-Match.
type listServer struct {
	mu            sync.Mutex
	status        int
	body          []byte
	etag          string
	contentLength bool // declare Content-Length; otherwise a big body goes out chunked
	ifNoneMatch   string
	hits          int
}

func (s *listServer) set(status int, body []byte, etag string, contentLength bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.etag, s.contentLength = status, body, etag, contentLength
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	s.ifNoneMatch = r.Header.Get("If-None-Match")
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
		if s.ifNoneMatch == s.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if s.contentLength {
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
	}
	w.WriteHeader(s.status)
	w.Write(s.body)
}

func TestLoaderURLKeepsLastGoodList(t *testing.T) {
	bulk := readFixture(t, "torbulkexitlist_2024-03-12.txt")
	exits := readFixture(t, "exit-addresses_2024-03-12.txt")
	huge := bytes.Repeat([]byte("192.0.2.1\n"), MaxSize/10+1)
	steps := []struct {
		name          string
		status        int
		body          []byte
		etag          string
		contentLength bool
		wantErr       error // nil: success; errAny: any error
		wantFormat    string
		wantFailures  uint64
	}{
		{"200 bulk list", 200, bulk, "", false, nil, FormatBulk, 0},
		{"500 keeps the old list", 500, []byte("oops"), "", false, errAny, FormatBulk, 1},
		{"200 error page keeps the old list", 200, []byte("<html>maintenance</html>\n"), "", false, ErrSyntax, FormatBulk, 2},
		{"200 empty body keeps the old list", 200, nil, "", false, ErrEmpty, FormatBulk, 3},
		{"oversized chunked body refused", 200, huge, "", false, ErrTooLarge, FormatBulk, 4},
		{"oversized Content-Length refused", 200, huge, "", true, ErrTooLarge, FormatBulk, 5},
		{"200 exit-addresses with an ETag", 200, exits, `"v2"`, false, nil, FormatExitAddresses, 5},
		{"304 keeps the list and confirms it", 200, exits, `"v2"`, false, nil, FormatExitAddresses, 5},
	}
	srv := &listServer{}
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	clk := &clock{base}
	l := NewLoader(Source{URL: ts.URL + "/exit-addresses"}, ts.Client(), nil, clk.now)
	for _, s := range steps {
		clk.t = clk.t.Add(time.Hour)
		srv.set(s.status, s.body, s.etag, s.contentLength)
		before := l.List()
		err := l.Load(context.Background())
		switch {
		case s.wantErr == nil && err != nil, s.wantErr != nil && err == nil:
			t.Fatalf("%s: Load() = %v, want %v", s.name, err, s.wantErr)
		case s.wantErr != nil && s.wantErr != errAny && !errors.Is(err, s.wantErr):
			t.Errorf("%s: Load() = %v, want %v", s.name, err, s.wantErr)
		}
		if s.wantErr != nil && l.List() != before {
			t.Errorf("%s: the list was replaced after a failed load", s.name)
		}
		st := l.Status(clk.t)
		if st.Count != 1174 || l.List().Format() != s.wantFormat || st.Failures != s.wantFailures {
			t.Errorf("%s: got Count %d, Format %q, Failures %d; want 1174, %q, %d",
				s.name, st.Count, l.List().Format(), st.Failures, s.wantFormat, s.wantFailures)
		}
		if !st.LoadedAt.Equal(clk.t) && s.wantErr == nil {
			t.Errorf("%s: got LoadedAt %v, want %v", s.name, st.LoadedAt, clk.t)
		}
	}
	if srv.ifNoneMatch != `"v2"` {
		t.Errorf("last request sent If-None-Match %q, want %q", srv.ifNoneMatch, `"v2"`)
	}
}

// errAny marks a step that must fail without caring why.
var errAny = errors.New("any error")

func TestLoaderURLRefusesPlainHTTP(t *testing.T) {
	plain := &listServer{status: 200, body: []byte("192.0.2.1\n")}
	ps := httptest.NewServer(plain)
	defer ps.Close()
	l := NewLoader(Source{URL: ps.URL}, ps.Client(), nil, nil)
	if err := l.Load(context.Background()); err == nil || l.List() != nil {
		t.Errorf("got error %v and list %v, want an error and no list", err, l.List())
	}
	if plain.hits != 0 {
		t.Errorf("got %d requests to the http server, want 0", plain.hits)
	}
}

// TestLoaderURLRedirectDowngradeAttack: an https source that redirects to
// plain http would let anyone on the path rewrite who counts as Tor.
func TestLoaderURLRedirectDowngradeAttack(t *testing.T) {
	plain := &listServer{status: 200, body: []byte("192.0.2.1\n")}
	ps := httptest.NewServer(plain)
	defer ps.Close()
	ts := httptest.NewTLSServer(http.RedirectHandler(ps.URL+"/list", http.StatusFound))
	defer ts.Close()
	l := NewLoader(Source{URL: ts.URL}, ts.Client(), nil, nil)
	if err := l.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "non-https") {
		t.Errorf("Load() = %v, want the redirect refused", err)
	}
	plain.mu.Lock()
	defer plain.mu.Unlock()
	if plain.hits != 0 || l.List() != nil {
		t.Errorf("got %d requests to the http server and list %v, want none", plain.hits, l.List())
	}
	if ts.Client().CheckRedirect != nil {
		t.Error("the caller's client was modified, want it left alone")
	}
}

func TestLoaderURLLogsNoPassword(t *testing.T) {
	srv := &listServer{status: 500}
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	u := strings.Replace(ts.URL, "https://", "https://gatehouse:s3cret@", 1)
	l := NewLoader(Source{URL: u}, ts.Client(), log, nil)
	err := l.Load(context.Background())
	if err == nil {
		t.Fatal("Load() = nil, want the 500 reported")
	}
	st := l.Status(time.Now())
	for what, s := range map[string]string{"log": logs.String(), "error": err.Error(), "LastError": st.LastError} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("%s contains the URL password: %q", what, s)
		}
	}
	if !strings.Contains(logs.String(), "127.0.0.1") {
		t.Errorf("log %q does not name the source", logs.String())
	}
}
