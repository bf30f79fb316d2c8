package tor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// clock is an injected clock the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var base = time.Date(2024, 3, 12, 15, 0, 0, 0, time.UTC)

func writeFile(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func newTestLoader(t *testing.T, src Source, clk *clock) (*Loader, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewLoader(src, nil, log, clk.now), &logs
}

// TestLoaderFileKeepsLastGoodList runs refreshes in order: each step
// rewrites the file and loads it once, as Run would.
func TestLoaderFileKeepsLastGoodList(t *testing.T) {
	bulk := readFixture(t, "torbulkexitlist_2024-03-12.txt")
	exits := readFixture(t, "exit-addresses_2024-03-12.txt")
	steps := []struct {
		name         string
		data         []byte // nil removes the file
		wantErr      bool
		wantLen      int
		wantFormat   string
		wantFailures uint64
	}{
		{"good bulk list", bulk, false, 1174, FormatBulk, 0},
		{"stem malformed entry", readFixture(t, "stem_MALFORMED_ENTRY_1.txt"), true, 1174, FormatBulk, 1},
		{"empty file from a cut download", []byte{}, true, 1174, FormatBulk, 2},
		{"download cut mid-line", []byte("192.0.2.1\n192.0.2.2\n192.0."), true, 1174, FormatBulk, 3},
		{"file removed", nil, true, 1174, FormatBulk, 4},
		{"recovers on a good exit-addresses file", exits, false, 1174, FormatExitAddresses, 4},
		{"stem test descriptor", readFixture(t, "stem_TEST_DESC.txt"), false, 5, FormatExitAddresses, 4},
	}
	path := filepath.Join(t.TempDir(), "tor-exits.txt")
	clk := &clock{base}
	l, logs := newTestLoader(t, Source{File: path, MaxAge: 24 * time.Hour}, clk)
	for _, s := range steps {
		clk.t = clk.t.Add(time.Hour)
		if s.data == nil {
			os.Remove(path)
		} else {
			writeFile(t, path, s.data, clk.t)
		}
		before := l.List()
		logs.Reset()
		err := l.Load(context.Background())
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: Load() = %v, want error %v", s.name, err, s.wantErr)
		}
		st := l.Status(clk.t)
		if got := l.List(); s.wantErr && got != before {
			t.Errorf("%s: the list was replaced after a failed load", s.name)
		}
		if st.Count != s.wantLen || l.List().Format() != s.wantFormat || st.Failures != s.wantFailures {
			t.Errorf("%s: got Count %d, Format %q, Failures %d; want %d, %q, %d", s.name,
				st.Count, l.List().Format(), st.Failures, s.wantLen, s.wantFormat, s.wantFailures)
		}
		if s.wantErr && (st.LastError == "" || !strings.Contains(logs.String(), "level=WARN")) {
			t.Errorf("%s: got LastError %q and logs %q, want the error and a warning", s.name, st.LastError, logs)
		}
		if !s.wantErr && st.LastError != "" {
			t.Errorf("%s: got LastError %q after a good load, want it cleared", s.name, st.LastError)
		}
	}
}

func TestLoaderErrorNamesSourceAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tor-exits.txt")
	writeFile(t, path, readFixture(t, "stem_MALFORMED_ENTRY_2.txt"), base)
	l, _ := newTestLoader(t, Source{File: path}, &clock{base})
	err := l.Load(context.Background())
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want a ParseError on line 3 naming %s", err, path)
	}
}

func TestLoaderStatusAge(t *testing.T) {
	published := time.Date(2024, 3, 12, 14, 28, 38, 0, time.UTC) // newest time in the fixture
	tests := []struct {
		name      string
		fixture   string
		mtime     time.Time
		loadAt    time.Time
		at        time.Time
		wantAge   time.Duration
		wantStale bool
	}{
		{"exit-addresses: from Published", "exit-addresses_2024-03-12.txt", base, base, base.Add(time.Hour),
			base.Add(time.Hour).Sub(published), false},
		{"exit-addresses: stale after max_age", "exit-addresses_2024-03-12.txt", base, base, published.Add(25 * time.Hour),
			25 * time.Hour, true},
		{"bulk file: from its modification time", "torbulkexitlist_2024-03-12.txt", base.Add(-30 * time.Hour), base, base,
			30 * time.Hour, true},
		{"bulk file: fresh", "torbulkexitlist_2024-03-12.txt", base, base, base.Add(23 * time.Hour),
			23 * time.Hour, false},
		{"a date in the future counts as load time", "stem_TEST_DESC.txt", base, time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2013, 1, 1, 2, 0, 0, 0, time.UTC), 2 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tor-exits.txt")
			writeFile(t, path, readFixture(t, tt.fixture), tt.mtime)
			l, _ := newTestLoader(t, Source{File: path, MaxAge: 24 * time.Hour}, &clock{tt.loadAt})
			if err := l.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			st := l.Status(tt.at)
			if st.Age != tt.wantAge || st.Stale != tt.wantStale {
				t.Errorf("got Age %v, Stale %v; want %v, %v", st.Age, st.Stale, tt.wantAge, tt.wantStale)
			}
			if !st.LoadedAt.Equal(tt.loadAt) || !st.Published.Equal(l.List().Published()) {
				t.Errorf("got LoadedAt %v, Published %v; want %v, %v", st.LoadedAt, st.Published, tt.loadAt, l.List().Published())
			}
			if l.List() == nil || st.Count != l.List().Len() {
				t.Errorf("got Count %d, want the list's length", st.Count)
			}
		})
	}
}

func TestLoaderStaleIsOnlyReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tor-exits.txt")
	writeFile(t, path, readFixture(t, "exit-addresses_2024-03-12.txt"), base)
	l, _ := newTestLoader(t, Source{File: path, MaxAge: time.Hour}, &clock{base.Add(48 * time.Hour)})
	if err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := l.Status(base.Add(48 * time.Hour)); !st.Stale || l.List().Len() != 1174 {
		t.Errorf("got Stale %v with %d addresses, want a stale list still in use", st.Stale, l.List().Len())
	}
	never, _ := newTestLoader(t, Source{File: path}, &clock{base.Add(48 * time.Hour)})
	if err := never.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := never.Status(base.Add(1000 * time.Hour)); st.Stale {
		t.Error("got Stale with max_age 0, want never stale")
	}
}

func TestLoaderStatusBeforeFirstLoad(t *testing.T) {
	l, _ := newTestLoader(t, Source{File: "/nonexistent/tor-exits.txt"}, &clock{base})
	if l.List() != nil {
		t.Fatal("got a list before any load, want nil")
	}
	if err := l.Load(context.Background()); err == nil {
		t.Fatal("Load of a missing file: got nil error, want one")
	}
	st := l.Status(base)
	if st.Count != 0 || !st.Stale || st.Failures != 1 || l.List().Contains(mustAddr(t, "192.0.2.1")) {
		t.Errorf("got %+v, want Count 0, Stale, Failures 1 and a nil list that contains nothing", st)
	}
}

func TestRunReloadsEveryRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tor-exits.txt")
	synctest.Test(t, func(t *testing.T) {
		writeFile(t, path, []byte("192.0.2.1\n"), time.Now())
		l := NewLoader(Source{File: path, Refresh: time.Hour}, nil, nil, nil)
		if err := l.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()

		writeFile(t, path, []byte("192.0.2.2\n"), time.Now())
		time.Sleep(59 * time.Minute) // fake time: the bubble's clock
		synctest.Wait()
		if !l.List().Contains(mustAddr(t, "192.0.2.1")) {
			t.Error("list replaced before Refresh elapsed")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !l.List().Contains(mustAddr(t, "192.0.2.2")) {
			t.Error("list not reloaded after Refresh")
		}
		cancel()
		<-done
	})
}

func TestRunWithoutRefreshReturns(t *testing.T) {
	l := NewLoader(Source{File: "x"}, nil, nil, nil)
	l.Run(context.Background()) // must not block
}

func TestSourceValidate(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		want []string // substrings of the error; nil for valid
	}{
		{"file", Source{File: "/var/lib/gatehouse/tor-exits.txt", Refresh: time.Hour, MaxAge: 24 * time.Hour}, nil},
		{"url", Source{URL: "https://check.torproject.org/torbulkexitlist", Refresh: time.Hour}, nil},
		{"neither", Source{}, []string{"file, url: one is required"}},
		{"both", Source{File: "f", URL: "https://x"}, []string{"set one, not both"}},
		{"plain http", Source{URL: "http://check.torproject.org/torbulkexitlist"}, []string{"url: must be an https:// URL"}},
		{"no host", Source{URL: "https:///x"}, []string{"url: must be an https:// URL"}},
		{"refresh too fast for a url", Source{URL: "https://x", Refresh: time.Second}, []string{"refresh: at least 1m0s"}},
		{"all negative", Source{File: "f", Refresh: -1, MaxAge: -1}, []string{"refresh: must not be negative", "max_age: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.src.Validate()
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("Validate() = %v, want errors %q", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
