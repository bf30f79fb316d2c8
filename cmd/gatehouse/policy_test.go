package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
)

// TestPolicyPartialFileMerged: a file naming one section changes that
// section only — the bug where a file holding only network: dropped
// mfa.mode from required to optional — and says it merged; null removes
// a key; a whole document replaces.
func TestPolicyPartialFileMerged(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), "policy:\n  mfa: {mode: required}\n  network: {allow_roles: {admin: [10.0.0.0/8]}}\n"), nil)
	code, out := runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "p.yaml", "network: {block_tor: \"off\", allow_roles: {admin: null}}\n"))
	if code != 0 || !strings.Contains(out, "merged onto version 1") || !strings.Contains(out, "+    block_tor: \"off\"") ||
		!strings.Contains(out, "-    block_tor: login") || !strings.Contains(out, "version 2 is in force") {
		t.Fatalf("partial set: %d\n%s", code, out)
	}
	_, out = runCLI(t, r, "policy", "show")
	if !strings.Contains(out, "mode: required") || strings.Contains(out, "10.0.0.0/8") || !strings.Contains(out, `block_tor: "off"`) {
		t.Fatalf("after a partial set, the policy is:\n%s", out)
	}
	// A whole document (every section, as `policy show` prints it) replaces.
	_, whole := runCLI(t, r, "policy", "show", "--version", "1")
	// (block_tor stays off: this replica has no Tor list to turn it on with.)
	whole = strings.Replace(whole, "block_tor: login", `block_tor: "off"`, 1)
	code, out = runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "w.yaml", whole))
	if code != 0 || !strings.Contains(out, "is a whole policy: it replaces version 2") {
		t.Fatalf("whole set: %d\n%s", code, out)
	}
	if _, out := runCLI(t, r, "policy", "show"); !strings.Contains(out, "10.0.0.0/8") {
		t.Fatalf("after the whole document: %s", out)
	}
}

// TestPolicyConfirmation: without a terminal, nothing is stored unless
// --yes says so; --dry-run and an unchanged policy store nothing either.
func TestPolicyConfirmation(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	f := writeFile(t, "p.yaml", "session: {idle_timeout: 10m}\n")
	if code, out := runCLI(t, r, "policy", "set", "--file", f); code != 2 || !strings.Contains(out, "add --yes") || !strings.Contains(out, "+    idle_timeout: 10m0s") {
		t.Fatalf("set without --yes: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "policy", "set", "--file", f, "--dry-run"); code != 0 || !strings.Contains(out, "nothing was stored") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if _, out := runCLI(t, r, "policy", "history"); strings.Contains(out, "\n2 ") {
		t.Fatalf("stored without confirmation:\n%s", out)
	}
	if code, out := runCLIStdin(t, r, "session: {idle_timeout: 10m}\n", "policy", "set", "--file", "-", "--yes"); code != 0 || !strings.Contains(out, "version 2 is in force") {
		t.Fatalf("set from stdin: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "policy", "set", "--file", f, "--yes"); code != 0 || !strings.Contains(out, "nothing to store") {
		t.Fatalf("unchanged: %d\n%s", code, out)
	}
}

// TestPolicyHistoryDiffRollback: versions are listed with who set them,
// a version's diff is shown, and a rollback stores the old document as a
// new version (history is never rewritten), audited.
func TestPolicyHistoryDiffRollback(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "a.yaml", "mfa: {mode: required}\n"))
	runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "b.yaml", "session: {idle_timeout: 5m}\n"))
	code, out := runCLI(t, r, "policy", "history")
	if code != 0 || !strings.Contains(out, "VERSION") || !strings.Contains(out, "(first)") || !strings.Contains(out, "\n3 ") || !strings.Contains(out, "seed") {
		t.Fatalf("history: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "policy", "diff", "--version", "2"); code != 0 || !strings.Contains(out, "-    mode: optional") || !strings.Contains(out, "+    mode: required") {
		t.Fatalf("diff --version 2: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "policy", "diff", "--file", writeFile(t, "c.yaml", "mfa: {mode: \"off\"}\n")); code != 0 || !strings.Contains(out, "+    mode: \"off\"") {
		t.Fatalf("diff --file: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "policy", "rollback", "1", "--yes"); code != 0 || !strings.Contains(out, "version 4 is in force") {
		t.Fatalf("rollback: %d\n%s", code, out)
	}
	_, v1 := runCLI(t, r, "policy", "show", "--version", "1")
	_, v4 := runCLI(t, r, "policy", "show", "--version", "4")
	if body(v1) != body(v4) {
		t.Fatalf("rollback stored\n%s\nwant\n%s", v4, v1)
	}
	if code, out := runCLI(t, r, "policy", "rollback", "99", "--yes"); code == 0 || !strings.Contains(out, "no version 99") {
		t.Fatalf("rollback to a missing version: %d %s", code, out)
	}
	evs, err := r.a.dir.ListAudit(context.Background(), 5)
	if err != nil || evs[0].Event != "policy_changed" || evs[0].Detail["rollback_to"] != "1" {
		t.Fatalf("audit: %+v %v", evs, err)
	}
}

// body drops `policy show`'s header line.
func body(show string) string { _, b, _ := strings.Cut(show, "\n"); return b }

// TestPolicyStaleEdit: a change planned against version N is refused
// once someone else stored N+1 (the admin API answers 409 with it).
func TestPolicyStaleEdit(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	a, svc, err := openAdmin(context.Background(), &env{vars: r.vars, stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader("")}, r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	plan, err := svc.PlanPolicy(ctx, []byte("session: {idle_timeout: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetPolicy(ctx, "other-admin", []byte("mfa: {mode: required}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ApplyPolicy(ctx, "admin", plan, nil); !errors.Is(err, admin.ErrPolicyChanged) {
		t.Fatalf("stale apply: %v, want ErrPolicyChanged", err)
	}
}

// TestPolicyRefusesBlockingWithoutList: turning on Tor or anonymizer
// blocking that no configured list can enforce is refused with the
// reason, rather than stored as protection that blocks nothing.
func TestPolicyRefusesBlockingWithoutList(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "a.yaml", "network: {block_tor: \"off\"}\n")); code != 0 {
		t.Fatalf("block_tor off: %d %s", code, out)
	}
	for doc, want := range map[string]string{
		"network: {block_tor: all}\n":                     "network.tor_exit_list names no file or url",
		"network: {block_anonymous: [is_public_proxy]}\n": "network.anonymous_ip_db names no file",
	} {
		if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "b.yaml", doc)); code == 0 || !strings.Contains(out, want) {
			t.Errorf("%s: %d %s", doc, code, out)
		}
	}
	if _, out := runCLI(t, r, "policy", "show"); !strings.Contains(out, `block_tor: "off"`) {
		t.Fatalf("a refused change was stored:\n%s", out)
	}
}
