package admin_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

// formulaStarts are the first characters that make a spreadsheet run a
// cell (OWASP CSV injection).
const formulaStarts = "=+-@\t\r"

// TestAuditCSVInjection: an export opened in a spreadsheet must not run
// what an attacker put in a field the log records, and the defused cells
// still say what was recorded.
func TestAuditCSVInjection(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 5_000_000, time.FixedZone("CET", 3600))
	events := []audit.Event{
		{ID: 7, Time: at, Event: audit.LoginFailure, Actor: "@SUM(1+1)", UserID: "-2+3", ClientIP: "+cmd|' /C calc'!A0",
			Detail: map[string]string{"reason": "=cmd|' /C calc'!A0", "method": "password"}},
		{ID: 8, Time: at, Event: audit.LoginFailure, Actor: "=HYPERLINK(\"http://evil.example\",\"x\")", UserID: "\tu", ClientIP: "\r192.0.2.1",
			Detail: map[string]string{"=cmd|' /C calc'!A0": "x"}},
		{ID: 9, Time: at, Event: audit.Logout, Actor: "alice", UserID: "u1", ClientIP: "192.0.2.1, 198.51.100.2"},
	}
	var buf bytes.Buffer
	if err := admin.WriteAuditCSV(&buf, events); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, buf.String())
	}
	if !slices.Equal(rows[0], []string{"id", "time", "event", "actor", "user_id", "client_ip", "detail"}) {
		t.Errorf("header: got %q", rows[0])
	}
	if len(rows) != len(events)+1 {
		t.Fatalf("got %d rows, want a header and %d", len(rows), len(events))
	}
	for i, row := range rows {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune(formulaStarts, rune(cell[0])) {
				t.Errorf("row %d column %s: %q begins a formula", i, rows[0][j], cell)
			}
		}
	}
	want := [][]string{
		{"7", "2026-03-01T08:30:00.005Z", "login_failure", "'@SUM(1+1)", "'-2+3", "'+cmd|' /C calc'!A0",
			`method=password reason="=cmd|' /C calc'!A0"`},
		{"8", "2026-03-01T08:30:00.005Z", "login_failure", `'=HYPERLINK("http://evil.example","x")`, "'\tu", "'\r192.0.2.1",
			`"=cmd|' /C calc'!A0"=x`},
		{"9", "2026-03-01T08:30:00.005Z", "logout", "alice", "u1", "192.0.2.1, 198.51.100.2", ""},
	}
	for i, w := range want {
		if !slices.Equal(rows[i+1], w) {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, rows[i+1], w)
		}
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "alice": "alice", "a=b": "a=b", "1-2": "1-2", "'quoted": "'quoted", "192.0.2.1": "192.0.2.1",
	} {
		if got := admin.CSVSafe(in); got != want {
			t.Errorf("CSVSafe(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestFormatDetail(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"reason": "bad_password", "method": "password"}, "method=password reason=bad_password"},
		{map[string]string{"note": "two words", "empty": "", "eq": "a=b", "q": `say "hi"`},
			`empty="" eq="a=b" note="two words" q="say \"hi\""`},
		{map[string]string{"ua": "curl\n\x1b[31mred", "bad": "\xff"}, `bad="\xff" ua="curl\n\x1b[31mred"`},
		{map[string]string{"name": "Zoë"}, "name=Zoë"},
	}
	for _, tc := range tests {
		if got := admin.FormatDetail(tc.in); got != tc.want {
			t.Errorf("FormatDetail(%q): got %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestAuditNDJSONRoundTrips: one object per line, the same field names on
// every line, and every event reads back as written.
func TestAuditNDJSONRoundTrips(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 120_000_000, time.UTC)
	events := []audit.Event{
		{ID: 1, Time: at, Event: audit.LoginSuccess, Actor: "alice", UserID: "u1", ClientIP: "2001:db8::1",
			Detail: map[string]string{"method": "password", "note": "line\nbreak <b>&\"quotes\" ünïcode"}},
		{ID: 2, Time: at.Add(time.Millisecond), Event: audit.PolicyChanged, Actor: "cli:root"},
	}
	var buf bytes.Buffer
	if err := admin.WriteAuditNDJSON(&buf, events); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var got []audit.Event
	for sc.Scan() {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", len(got)+1, err, sc.Bytes())
		}
		keys := slices.Sorted(maps.Keys(fields))
		if want := []string{"actor", "client_ip", "detail", "event", "id", "time", "user_id"}; !slices.Equal(keys, want) {
			t.Errorf("line %d fields: got %v, want %v", len(got)+1, keys, want)
		}
		if string(fields["detail"]) == "null" {
			t.Errorf("line %d: detail is null, want an object", len(got)+1)
		}
		var r admin.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		tm, err := time.Parse(time.RFC3339, r.Time)
		if err != nil {
			t.Errorf("line %d time %q: %v", len(got)+1, r.Time, err)
		}
		got = append(got, audit.Event{ID: r.ID, Time: tm, Event: r.Event, Actor: r.Actor, UserID: r.UserID, ClientIP: r.ClientIP, Detail: r.Detail})
	}
	if len(got) != len(events) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(events), buf.String())
	}
	for i, w := range events {
		g := got[i]
		if g.ID != w.ID || !g.Time.Equal(w.Time) || g.Event != w.Event || g.Actor != w.Actor || g.UserID != w.UserID ||
			g.ClientIP != w.ClientIP || !maps.Equal(g.Detail, w.Detail) {
			t.Errorf("event %d: got %+v, want %+v", i, g, w)
		}
	}
}

// TestAuditEventNamesComplete: the event filter accepts every name
// auth/audit defines, so adding an event there without listing it here
// fails.
func TestAuditEventNamesComplete(t *testing.T) {
	files, err := filepath.Glob("../audit/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("auth/audit sources: %v", err)
	}
	fset := token.NewFileSet()
	var defined []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						defined = append(defined, s)
					}
				}
			}
		}
	}
	if len(defined) < 40 {
		t.Fatalf("found only %d event names in auth/audit; has the file moved?", len(defined))
	}
	slices.Sort(defined)
	if got := admin.EventNames(); !slices.Equal(got, defined) {
		t.Errorf("admin event names differ from auth/audit's:\n got %v\nwant %v", got, defined)
	}
}

func TestAuditQuery(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		alice, err := svc.AddUser(ctx, "cli", admin.NewUser{Username: "alice", Role: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		for i, e := range []audit.Event{
			{Time: t0, Event: audit.LoginFailure, UserID: alice.ID},
			{Time: t0.Add(time.Minute), Event: audit.LoginSuccess, Actor: "alice", UserID: alice.ID},
			{Time: t0.Add(2 * time.Minute), Event: audit.LoginFailure, UserID: "someone-else"},
		} {
			if err := dir.AppendAudit(ctx, e); err != nil {
				t.Fatalf("AppendAudit %d: %v", i, err)
			}
		}
		names := func(events []audit.Event) string {
			var s []string
			for _, e := range events {
				s = append(s, e.Event)
			}
			return strings.Join(s, " ")
		}
		for _, tc := range []struct {
			f    admin.AuditFilter
			want string
		}{
			{admin.AuditFilter{Username: "ALICE"}, "user_created login_success login_failure"}, // created now, logged in an hour ago
			{admin.AuditFilter{UserID: alice.ID, Event: " Login_Failure "}, "login_failure"},
			{admin.AuditFilter{Event: audit.LoginFailure}, "login_failure login_failure"},
			{admin.AuditFilter{Username: "alice", Since: t0, Until: t0.Add(time.Minute)}, "login_failure"},
			{admin.AuditFilter{Limit: 1}, "user_created"},
		} {
			got, err := svc.Audit(ctx, tc.f)
			if err != nil || names(got) != tc.want {
				t.Errorf("Audit(%+v): got %q, %v, want %q", tc.f, names(got), err, tc.want)
			}
		}

		if _, err := svc.Audit(ctx, admin.AuditFilter{Username: "nobody"}); !errors.Is(err, admin.ErrNoUser) {
			t.Errorf("unknown username: got %v, want ErrNoUser", err)
		}
		for _, tc := range []struct {
			f            admin.AuditFilter
			field, words string
		}{
			{admin.AuditFilter{Event: "login_fail"}, "event", "login_failure"},
			{admin.AuditFilter{Event: "bogus"}, "event", "in all"},
			{admin.AuditFilter{Username: "alice", UserID: alice.ID}, "user", "not both"},
			{admin.AuditFilter{Since: t0, Until: t0}, "until", "after"},
			{admin.AuditFilter{Limit: directory.AuditPageMax + 1}, "limit", fmt.Sprint(directory.AuditPageMax)},
			{admin.AuditFilter{Limit: -1}, "limit", "between"},
			{admin.AuditFilter{Before: -1}, "before", "previous page"},
		} {
			_, err := svc.Audit(ctx, tc.f)
			var inv *admin.InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) != 1 || inv.Problems[0].Field != tc.field ||
				!strings.Contains(inv.Problems[0].Message, tc.words) {
				t.Errorf("Audit(%+v): got %v, want a problem with %s mentioning %q", tc.f, err, tc.field, tc.words)
			}
		}
		// A bad filter is reported before an unknown user is looked up.
		var inv *admin.InvalidError
		if _, err := svc.Audit(ctx, admin.AuditFilter{Username: "nobody", Event: "bogus"}); !errors.As(err, &inv) {
			t.Errorf("bad event and unknown user: got %v, want *InvalidError", err)
		}
	})
}

// TestAuditAllPages: an export longer than the directory's largest page
// reads page after page, each event once, newest first, up to max.
func TestAuditAllPages(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		total := directory.AuditPageMax + 5
		t0 := time.Now().Add(-time.Hour)
		for i := range total {
			// Pairs share a millisecond, so pages also split ties.
			e := audit.Event{Time: t0.Add(time.Duration(i/2) * time.Millisecond), Event: audit.LoginFailure, Actor: fmt.Sprint(i)}
			if err := dir.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct{ max, want int }{{3, 3}, {directory.AuditPageMax + 2, directory.AuditPageMax + 2}, {10 * total, total}} {
			got, err := svc.AuditAll(ctx, admin.AuditFilter{Event: audit.LoginFailure, Limit: 1}, tc.max)
			if err != nil {
				t.Fatalf("AuditAll(max %d): %v", tc.max, err)
			}
			if len(got) != tc.want {
				t.Fatalf("AuditAll(max %d): got %d events, want %d", tc.max, len(got), tc.want)
			}
			for i, e := range got {
				if want := fmt.Sprint(total - 1 - i); e.Actor != want {
					t.Fatalf("AuditAll(max %d) event %d: got %s, want %s", tc.max, i, e.Actor, want)
				}
			}
		}
		var inv *admin.InvalidError
		if _, err := svc.AuditAll(ctx, admin.AuditFilter{}, 0); !errors.As(err, &inv) || inv.Problems[0].Field != "limit" {
			t.Errorf("AuditAll(max 0): got %v, want a limit problem", err)
		}
	})
}
