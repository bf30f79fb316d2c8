package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// runAudit runs `gatehouse audit args… --config` and returns the exit
// code, stdout and stderr apart: an export is stdout alone.
func runAudit(t *testing.T, r *replica, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	args = append(append([]string{"audit"}, args...), "--config", r.cfgPath)
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, r.vars)
	return code, stdout.String(), stderr.String()
}

// ndjsonEvents decodes an NDJSON export.
func ndjsonEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(events)+1, err, out)
		}
		events = append(events, m)
	}
	return events
}

// TestAuditCLI: logins through a running gateway show up in `gatehouse
// audit`, filtered, as a table and as exports, and an attacker's text in
// the log reaches neither a spreadsheet's formula engine nor a terminal.
func TestAuditCLI(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	alice := r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	newBrowser(t, r.URL).Login(t, "alice", alicePW)
	resp, _ := newBrowser(t, r.URL).Do(t, http.MethodPost, "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"not her password"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", resp.StatusCode)
	}
	newBrowser(t, r.URL).Login(t, "bob", alicePW)
	// What a hostile client could get into the log.
	hostile := audit.Event{Event: audit.LoginFailure, Actor: "@SUM(1+1)", ClientIP: "192.0.2.66",
		Detail: map[string]string{"reason": "=cmd|' /C calc'!A0", "username": "x\x1b[2J\ty"}}
	if err := r.a.dir.AppendAudit(context.Background(), hostile); err != nil {
		t.Fatal(err)
	}

	t.Run("table", func(t *testing.T) {
		code, out, errOut := runAudit(t, r, "--user", "alice")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "TIME EVENT ACTOR USER IP DETAIL" {
			t.Fatalf("got\n%s\nwant a header and alice's two events", out)
		}
		for i, want := range [][]string{
			{"login_failure", "-", "alice", "127.0.0.1", "method=password", "reason="},
			{"login_success", "alice", "alice", "127.0.0.1", "method=password"},
		} {
			f := strings.Fields(lines[i+1])
			if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
				t.Errorf("line %d time: %v", i+1, err)
			}
			for j, w := range want {
				if j+1 >= len(f) || !strings.HasPrefix(f[j+1], w) {
					t.Errorf("line %d: got %q, want %q", i+1, lines[i+1], want)
					break
				}
			}
		}

		code, out, errOut = runAudit(t, r, "--event", "LOGIN_FAILURE")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if strings.ContainsAny(out, "\x1b") || !strings.Contains(out, `username="x\x1b[2J\ty"`) {
			t.Errorf("a control character reached the terminal, or the detail is missing:\n%q", out)
		}
		if n := strings.Count(out, "\n"); n != 3 || strings.Contains(out, "login_success") {
			t.Errorf("--event login_failure: got\n%s\nwant a header and two failures", out)
		}
	})

	t.Run("ndjson", func(t *testing.T) {
		code, out, errOut := runAudit(t, r, "--user", "alice", "--format", "ndjson", "--since", "1h")
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		events := ndjsonEvents(t, out)
		if len(events) != 2 || events[0]["event"] != audit.LoginFailure || events[1]["event"] != audit.LoginSuccess {
			t.Fatalf("got %v, want alice's failure then her success", events)
		}
		for _, ev := range events {
			if ev["user_id"] != alice.ID || ev["client_ip"] != "127.0.0.1" {
				t.Errorf("got %v, want alice's id and the loopback address", ev)
			}
		}
		if id0, id1 := events[0]["id"].(float64), events[1]["id"].(float64); id0 <= id1 {
			t.Errorf("ids %v, %v: want newest first", id0, id1)
		}
	})

	t.Run("csv", func(t *testing.T) {
		code, out, errOut := runAudit(t, r, "--event", "login_failure", "--format", "csv")
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, out)
		}
		if len(rows) != 3 || strings.Join(rows[0], ",") != "id,time,event,actor,user_id,client_ip,detail" {
			t.Fatalf("got %q, want a header and two failures", rows)
		}
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("cell %q begins a formula", cell)
				}
			}
		}
		if got := rows[1]; got[3] != "'@SUM(1+1)" || got[5] != "192.0.2.66" ||
			got[6] != `reason="=cmd|' /C calc'!A0" username="x\x1b[2J\ty"` {
			t.Errorf("hostile row: got %q", got)
		}
		if got := rows[2]; got[4] != alice.ID || !strings.HasPrefix(got[1], time.Now().UTC().Format("2006-01-02")) {
			t.Errorf("alice's failure: got %q", got)
		}
	})

	t.Run("time bounds", func(t *testing.T) {
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		for _, args := range [][]string{
			{"--since", future},
			{"--until", "2020-01-01"},
			{"--since", "2020-01-01", "--until", "2020-01-02T00:00:00Z"},
		} {
			code, out, errOut := runAudit(t, r, append(args, "--format", "ndjson")...)
			if code != 0 || out != "" {
				t.Errorf("%v: exit %d, got %q %s, want no events", args, code, out, errOut)
			}
		}
		code, out, _ := runAudit(t, r, "--since", "7d", "--until", future, "--event", "login_success", "--format", "ndjson")
		if events := ndjsonEvents(t, out); code != 0 || len(events) != 2 {
			t.Errorf("last week: exit %d, got %v, want both successes", code, events)
		}
	})

	t.Run("limit", func(t *testing.T) {
		code, out, errOut := runAudit(t, r, "--event", "login_success", "--limit", "1", "--format", "ndjson")
		if events := ndjsonEvents(t, out); code != 0 || len(events) != 1 || events[0]["actor"] != "bob" {
			t.Errorf("--limit 1: exit %d, got %v, want bob's login only", code, events)
		}
		if !strings.Contains(errOut, "newest 1 events; there are more") {
			t.Errorf("stderr: got %q, want a note that the list was cut", errOut)
		}
		_, _, errOut = runAudit(t, r, "--event", "login_success", "--limit", "2", "--format", "ndjson")
		if errOut != "" {
			t.Errorf("--limit exactly reached: stderr %q, want nothing", errOut)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args  []string
			code  int
			words []string
		}{
			{[]string{"--since", "yesterday"}, 2, []string{"--since", `"yesterday"`, "24h"}},
			{[]string{"--until", "7x"}, 2, []string{"--until"}},
			{[]string{"--since", "-5h"}, 2, []string{"--since"}},
			{[]string{"--format", "xml"}, 2, []string{"--format", "table, ndjson or csv"}},
			{[]string{"--limit", "0"}, 2, []string{"--limit", "positive"}},
			{[]string{"--limit", "-3"}, 2, []string{"--limit"}},
			{[]string{"--event", "login_fail"}, 2, []string{"--event", "login_failure"}},
			{[]string{"--since", "2026-02-01", "--until", "2026-01-01"}, 2, []string{"--until", "after"}},
			{[]string{"alice"}, 2, []string{"unexpected argument"}},
			{[]string{"--user", "nobody"}, 1, []string{`no user "nobody"`}},
		} {
			code, out, errOut := runAudit(t, r, tc.args...)
			if code != tc.code || out != "" {
				t.Errorf("%v: exit %d, stdout %q, want %d and nothing", tc.args, code, out, tc.code)
			}
			for _, w := range tc.words {
				if !strings.Contains(errOut, w) {
					t.Errorf("%v: stderr %q, want it to mention %s", tc.args, errOut, w)
				}
			}
		}
	})
}

// TestAuditCLIExportPages: an export larger than the directory's page
// (1000) arrives whole, each event once, newest first; without --limit
// the table stops at 50 and an export at 1000.
func TestAuditCLIExportPages(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	const n = 1234
	t0 := time.Now().Add(-time.Hour)
	for i := range n {
		e := audit.Event{Time: t0.Add(time.Duration(i/3) * time.Millisecond), Event: audit.Logout, Actor: fmt.Sprint(i)}
		if err := r.a.dir.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runAudit(t, r, "--event", "logout", "--format", "ndjson", "--limit", "5000")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	events := ndjsonEvents(t, out)
	if len(events) != n {
		t.Fatalf("got %d events, want %d", len(events), n)
	}
	for i, ev := range events {
		if want := fmt.Sprint(n - 1 - i); ev["actor"] != want {
			t.Fatalf("event %d: got actor %v, want %s (each once, newest first)", i, ev["actor"], want)
		}
	}

	code, out, errOut = runAudit(t, r, "--event", "logout", "--format", "csv")
	if rows, err := csv.NewReader(strings.NewReader(out)).ReadAll(); code != 0 || err != nil || len(rows) != 1+1000 {
		t.Errorf("csv without --limit: exit %d, %v, got %d rows, want a header and 1000", code, err, len(rows))
	}
	if !strings.Contains(errOut, "newest 1000 events") {
		t.Errorf("csv without --limit: stderr %q, want a note that the list was cut", errOut)
	}
	code, out, _ = runAudit(t, r, "--event", "logout")
	if lines := strings.Count(out, "\n"); code != 0 || lines != 1+50 {
		t.Errorf("table without --limit: exit %d, got %d lines, want a header and 50", code, lines)
	}
}
