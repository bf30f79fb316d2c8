package tor

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// expectation is one file's entry in testdata/expected.json, computed by
// the fixture collector independently of this parser.
type expectation struct {
	UniqueIPs     int      `json:"unique_ips"`
	IPv6          int      `json:"ipv6"`
	SampleMembers []string `json:"sample_members"`
	HeaderLines   []string `json:"header_lines"`
	Several       *struct {
		FP    string   `json:"fp"`
		Addrs []string `json:"addrs"`
	} `json:"example_node_with_several"`
	SharedIP *string `json:"example_shared_ip"`
}

type crossChecks struct {
	BulkEqualsExitAddresses bool     `json:"bulk_2024_equals_exit_addresses_2024_ip_set"`
	In2022Not2024Count      int      `json:"in_2022_but_not_2024_count"`
	In2022Not2024           []string `json:"example_in_2022_not_2024"`
	InBothCount             int      `json:"in_both_2022_and_2024_count"`
	InBoth                  []string `json:"example_in_both"`
	NeverListed             []string `json:"never_listed_examples"`
}

func loadExpected(t *testing.T) (map[string]expectation, crossChecks) {
	t.Helper()
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(readFixture(t, "expected.json"), &raw); err != nil {
		t.Fatal(err)
	}
	var cc crossChecks
	if err := json.Unmarshal(raw["cross_checks"], &cc); err != nil {
		t.Fatal(err)
	}
	files := map[string]expectation{}
	for name, msg := range raw {
		if !strings.HasSuffix(name, ".txt") || strings.Contains(name, "MALFORMED") {
			continue
		}
		var e expectation
		if err := json.Unmarshal(msg, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files[name] = e
	}
	return files, cc
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseFixture(t testing.TB, name string) *List {
	t.Helper()
	l, err := Parse(bytes.NewReader(readFixture(t, name)))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return l
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseRealFixtures(t *testing.T) {
	files, cc := loadExpected(t)
	if len(files) != 5 {
		t.Fatalf("got %d fixtures in expected.json, want 5", len(files))
	}
	for name, want := range files {
		t.Run(name, func(t *testing.T) {
			l := parseFixture(t, name)
			if got := l.Len(); got != want.UniqueIPs {
				t.Errorf("Len() = %d, want %d", got, want.UniqueIPs)
			}
			wantFormat := FormatExitAddresses
			if strings.HasPrefix(name, "torbulkexitlist") {
				wantFormat = FormatBulk
			}
			if got := l.Format(); got != wantFormat {
				t.Errorf("Format() = %q, want %q", got, wantFormat)
			}
			members := want.SampleMembers
			if want.Several != nil {
				members = append(members, want.Several.Addrs...)
			}
			if want.SharedIP != nil {
				members = append(members, *want.SharedIP)
			}
			for _, s := range members {
				if !l.Contains(mustAddr(t, s)) {
					t.Errorf("Contains(%s) = false, want true", s)
				}
			}
			for _, s := range cc.NeverListed {
				if l.Contains(mustAddr(t, s)) {
					t.Errorf("Contains(%s) = true, want false", s)
				}
			}
		})
	}
}

func TestParsePublished(t *testing.T) {
	tests := []struct {
		file string
		want string // "" is the zero time
	}{
		{"torbulkexitlist_2024-03-12.txt", ""},
		// No header: the newest ExitAddress time.
		{"exit-addresses_2024-03-12.txt", "2024-03-12 14:28:38"},
		// CollecTor: the Downloaded header is newer than every record.
		{"collector_exit-list_2018-11-01-00-02-01.txt", "2018-11-01 00:02:01"},
		{"stem_TEST_DESC.txt", "2013-08-19 04:02:03"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var want time.Time
			if tt.want != "" {
				want, _ = time.Parse(timeLayout, tt.want)
			}
			if got := parseFixture(t, tt.file).Published(); !got.Equal(want) {
				t.Errorf("Published() = %v, want %v", got, want)
			}
		})
	}
}

func TestParseCrossChecks(t *testing.T) {
	_, cc := loadExpected(t)
	bulk24 := parseFixture(t, "torbulkexitlist_2024-03-12.txt")
	exit24 := parseFixture(t, "exit-addresses_2024-03-12.txt")
	bulk22 := parseFixture(t, "torbulkexitlist_2022-08-17.txt")

	if got := bulk24.set.Equal(exit24.set); got != cc.BulkEqualsExitAddresses {
		t.Errorf("bulk 2024 set equals exit-addresses 2024 set: got %v, want %v", got, cc.BulkEqualsExitAddresses)
	}
	var only22, both int
	for _, a := range addrsOf(bulk22) {
		if bulk24.Contains(a) {
			both++
		} else {
			only22++
		}
	}
	if only22 != cc.In2022Not2024Count || both != cc.InBothCount {
		t.Errorf("2022 vs 2024: got %d only in 2022 and %d in both, want %d and %d",
			only22, both, cc.In2022Not2024Count, cc.InBothCount)
	}
	for _, s := range cc.In2022Not2024 {
		if a := mustAddr(t, s); !bulk22.Contains(a) || bulk24.Contains(a) {
			t.Errorf("%s: got in 2022 %v, in 2024 %v; want true, false", s, bulk22.Contains(a), bulk24.Contains(a))
		}
	}
	for _, s := range cc.InBoth {
		if a := mustAddr(t, s); !bulk22.Contains(a) || !bulk24.Contains(a) {
			t.Errorf("%s: got in 2022 %v, in 2024 %v; want both true", s, bulk22.Contains(a), bulk24.Contains(a))
		}
	}
}

// addrsOf lists every address of l, for tests.
func addrsOf(l *List) []netip.Addr {
	var out []netip.Addr
	for _, r := range l.set.Ranges() {
		for a := r.From(); a.Compare(r.To()) <= 0 && a.IsValid(); a = a.Next() {
			out = append(out, a)
		}
	}
	return out
}

func TestParseBulkVariants(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int
		members []string
	}{
		{"ipv6 and ipv4", "2001:db8::1\n192.0.2.1\n", 2, []string{"2001:db8::1", "192.0.2.1"}},
		{"comments, blanks, CRLF, spaces", "# Tor exits\r\n\r\n  192.0.2.1  \r\n#x\n192.0.2.2", 2, []string{"192.0.2.1", "192.0.2.2"}},
		{"duplicates counted once", "192.0.2.1\n192.0.2.1\n::ffff:192.0.2.1\n", 1, []string{"192.0.2.1"}},
		{"mapped entry matches as ipv4", "::ffff:198.51.100.7\n", 1, []string{"198.51.100.7", "::ffff:198.51.100.7"}},
		{"adjacent addresses", "192.0.2.1\n192.0.2.2\n192.0.2.3\n", 3, []string{"192.0.2.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if l.Len() != tt.wantLen || l.Format() != FormatBulk {
				t.Errorf("got Len %d, Format %q; want %d, %q", l.Len(), l.Format(), tt.wantLen, FormatBulk)
			}
			for _, s := range tt.members {
				if !l.Contains(mustAddr(t, s)) {
					t.Errorf("Contains(%s) = false, want true", s)
				}
			}
			if l.Contains(mustAddr(t, "192.0.2.4")) {
				t.Error("Contains(192.0.2.4) = true, want false")
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	const node = "ExitNode 003A71137D959748C8157C4A76ECA639CEF5E33E\n"
	tests := []struct {
		name     string
		in       []byte
		wantLine int
		wantErr  error
	}{
		{"stem MALFORMED_ENTRY_1: Published Today!", readFixture(t, "stem_MALFORMED_ENTRY_1.txt"), 2, ErrSyntax},
		{"stem MALFORMED_ENTRY_2: Published Today!", readFixture(t, "stem_MALFORMED_ENTRY_2.txt"), 3, ErrSyntax},
		{"ExitAddress time Never", []byte(node + "ExitAddress 46.10.211.205 2013-08-18 Never\n"), 2, ErrSyntax},
		{"bad IP in bulk", []byte("192.0.2.1\n192.0.2.256\n"), 2, ErrSyntax},
		{"bad IP in ExitAddress", []byte(node + "ExitAddress 1.2.3 2013-08-18 13:18:48\n"), 2, ErrSyntax},
		{"ExitAddress before ExitNode", []byte("@type tordnsel 1.0\nExitAddress 192.0.2.1 2013-08-18 13:18:48\n"), 2, ErrSyntax},
		{"Published before ExitNode", []byte("Downloaded 2013-08-19 04:02:03\nPublished 2013-08-19 04:02:03\n"), 2, ErrSyntax},
		{"unknown keyword", []byte(node + "ExitAddress 192.0.2.1 2013-08-18 13:18:48\nExitPolicy accept *:*\n"), 3, ErrSyntax},
		{"comment in exit-addresses", []byte(node + "# hi\n"), 2, ErrSyntax},
		{"bad fingerprint", []byte("ExitNode 1.2.3.4\nExitAddress 192.0.2.1 2013-08-18 13:18:48\n"), 1, ErrSyntax},
		{"ExitNode without ExitAddress", []byte(node + "Published 2013-08-19 02:13:53\n" + node + "ExitAddress 192.0.2.1 2013-08-18 13:18:48\n"), 1, ErrSyntax},
		{"truncated after Published", []byte(node + "ExitAddress 192.0.2.1 2013-08-18 13:18:48\n" + node + "Published 2013-08-19 02:13:53\n"), 3, ErrSyntax},
		{"Published twice", []byte(node + "Published 2013-08-19 02:13:53\nPublished 2013-08-19 02:13:53\n"), 3, ErrSyntax},
		{"Downloaded after ExitNode", []byte(node + "ExitAddress 192.0.2.1 2013-08-18 13:18:48\nDownloaded 2013-08-19 04:02:03\n"), 3, ErrSyntax},
		{"@type not first", []byte("Downloaded 2013-08-19 04:02:03\n@type tordnsel 1.0\n"), 2, ErrSyntax},
		{"other @type", []byte("@type server-descriptor 1.0\n"), 1, ErrSyntax},
		{"zone in bulk", []byte("fe80::1%eth0\n"), 1, ErrSyntax},
		{"CIDR in bulk", []byte("192.0.2.0/24\n"), 1, ErrSyntax},
		{"HTML error page", []byte("<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n"), 1, ErrSyntax},
		{"binary garbage", []byte("\x00\x01\xff\xfe\n\x89PNG\r\n"), 1, ErrSyntax},
		{"empty file", nil, 0, ErrEmpty},
		{"only blank lines", []byte("\n\n  \n"), 3, ErrEmpty},
		{"only comments", []byte("# nothing\n# today\n"), 2, ErrEmpty},
		{"header only", []byte("@type tordnsel 1.0\nDownloaded 2013-08-19 04:02:03\n"), 2, ErrEmpty},
		{"over-long line", []byte("192.0.2.1\n# " + strings.Repeat("x", MaxLineLength) + "\n"), 2, ErrLineTooLong},
		{"oversized input", bytes.Repeat([]byte("192.0.2.1\n"), MaxSize/10+1), MaxSize/10 + 1, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(bytes.NewReader(tt.in))
			if l != nil {
				t.Errorf("got a list of %d addresses, want nil", l.Len())
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got error %v, want a *ParseError", err)
			}
			if pe.Line != tt.wantLine || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %q (line %d), want line %d and %v", err, pe.Line, tt.wantLine, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("got message %q, want it to start with the line number", err)
			}
		})
	}
}

func TestParseErrorQuotesHostileText(t *testing.T) {
	_, err := Parse(strings.NewReader("\x1b[31m" + strings.Repeat("A", 200) + "\n"))
	if err == nil {
		t.Fatal("got nil error, want one")
	}
	if msg := err.Error(); strings.ContainsRune(msg, '\x1b') || len(msg) > 150 {
		t.Errorf("got message %q (%d bytes), want escaped and cut short", msg, len(msg))
	}
}
