package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func cli(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out strings.Builder
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &out, nil)
	return code, out.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckConfig(t *testing.T) {
	// In a folder of its own: serve refuses a database in a folder open
	// to other users (such as this package's), and so does check-config.
	good := writeConfig(t, "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "x.db")+"}\n")
	if code, out := cli(t, "", "check-config", "--config", good); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("good config: %d %s", code, out)
	}
	bad := writeConfig(t, "session: {store: redis}\ndirectory: {driver: mysql}\npolicy: {session: {idle_timeout: 1s}}\nlisten: nope\nsurprise: 1\n")
	code, out := cli(t, "", "check-config", "--config", bad)
	if code != 1 || !strings.Contains(out, "surprise") {
		t.Fatalf("unknown key: got %d, want 1 naming the key\n%s", code, out)
	}
	bad = writeConfig(t, "session: {store: redis}\ndirectory: {driver: mysql}\npolicy: {session: {idle_timeout: 1s}}\nlisten: nope\n")
	code, out = cli(t, "", "check-config", "--config", bad)
	for _, key := range []string{"session.redis.addrs", "directory.driver", "policy.session.idle_timeout", "listen"} {
		if !strings.Contains(out, key) {
			t.Errorf("check-config output lacks %q:\n%s", key, out)
		}
	}
	if code != 1 {
		t.Fatalf("bad config: exit %d, want 1", code)
	}
}

func TestUserCommands(t *testing.T) {
	cfg := writeConfig(t, "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "d.db")+"}\n")
	if code, out := cli(t, "s3cret-passphrase-1\n", "user", "add", "--username", "Carol", "--email", "carol@corp.example",
		"--role", "manager", "--groups", "north,south", "--password-stdin", "--config", cfg); code != 0 {
		t.Fatalf("user add: %d %s", code, out)
	}
	if code, out := cli(t, "", "user", "add", "--username", "carol", "--email", "other@corp.example", "--role", "sales", "--config", cfg); code == 0 || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate user add: %d %s", code, out)
	}
	// A password from stdin that breaks the rules is an error (exit 1), not
	// a usage error; an empty line is an empty password, not "none".
	for _, stdin := range []string{"short\n", "\n"} {
		if code, out := cli(t, stdin, "user", "add", "--username", "dave", "--role", "sales", "--password-stdin", "--config", cfg); code != 1 ||
			!strings.Contains(out, "gatehouse user: password must be at least 8") {
			t.Fatalf("password %q accepted or misreported: %d %s", stdin, code, out)
		}
	}
	if code, out := cli(t, "short\n", "user", "set-password", "carol", "--password-stdin", "--config", cfg); code != 1 ||
		!strings.Contains(out, "gatehouse user: password must be at least 8") {
		t.Fatalf("set-password with a short password: %d %s", code, out)
	}
	if code, out := cli(t, "", "user", "allow-ips", "carol", "10.0.0.300", "--config", cfg); code != 2 ||
		!strings.Contains(out, `gatehouse user: usage: "10.0.0.300" is neither a CIDR nor an IP address`) {
		t.Fatalf("allow-ips with a bad address: %d %s", code, out)
	}
	if code, out := cli(t, "", "user", "add", "--username", "bad name", "--role", "Sales!", "--email", "a@b@c", "--config", cfg); code != 2 ||
		!strings.Contains(out, "--username") || !strings.Contains(out, "--role") || !strings.Contains(out, "--email") {
		t.Fatalf("invalid user add: %d %s", code, out)
	}
	code, out := cli(t, "", "user", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "carol") || !strings.Contains(out, "north,south") || !strings.Contains(out, "active") {
		t.Fatalf("user list: %d %s", code, out)
	}
	if strings.Contains(out, "argon2") {
		t.Fatal("user list prints password hashes")
	}
	if code, out := cli(t, "", "user", "disable", "carol", "--config", cfg); code != 0 {
		t.Fatalf("disable: %d %s", code, out)
	}
	if _, out := cli(t, "", "user", "list", "--config", cfg); !strings.Contains(out, "disabled") {
		t.Fatalf("list after disable: %s", out)
	}
	if code, out := cli(t, "another-good-passphrase\n", "user", "set-password", "carol", "--password-stdin", "--config", cfg); code != 0 {
		t.Fatalf("set-password: %d %s", code, out)
	}
	if code, out := cli(t, "", "user", "disable", "nobody", "--config", cfg); code != 1 || !strings.Contains(out, `no user "nobody"`) {
		t.Fatalf("disable unknown: %d %s", code, out)
	}
}

func TestPolicyCommands(t *testing.T) {
	cfg := writeConfig(t, "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "d.db")+"}\n")
	if code, out := cli(t, "", "policy", "show", "--config", cfg); code != 1 || !strings.Contains(out, "no login policy") {
		t.Fatalf("show before seeding: %d %s", code, out)
	}
	bad := writeConfig(t, "session: {absolute_lifetime: 1h, idle_timeout: 2h}\nmfa: {mode: sometimes}\nbogus: true\n")
	if code, out := cli(t, "", "policy", "set", "--yes", "--file", bad, "--config", cfg); code != 1 || !strings.Contains(out, "bogus") {
		t.Fatalf("invalid policy: %d %s", code, out)
	}
	bad = writeConfig(t, "session: {absolute_lifetime: 1h, idle_timeout: 2h}\nmfa: {mode: sometimes}\n")
	code, out := cli(t, "", "policy", "set", "--yes", "--file", bad, "--config", cfg)
	if code != 1 || !strings.Contains(out, "policy.session.idle_timeout") || !strings.Contains(out, "policy.mfa.mode") {
		t.Fatalf("invalid policy: %d %s", code, out)
	}
	good := writeConfig(t, "session: {absolute_lifetime: 8h, idle_timeout: 15m}\n")
	if code, out := cli(t, "", "policy", "set", "--yes", "--file", good, "--config", cfg); code != 0 || !strings.Contains(out, "version 1") {
		t.Fatalf("policy set: %d %s", code, out)
	}
	if code, out := cli(t, "", "policy", "show", "--config", cfg); code != 0 || !strings.Contains(out, "idle_timeout: 15m") {
		t.Fatalf("policy show: %d %s", code, out)
	}
}

func TestKeysCommands(t *testing.T) {
	// Its own key file: keys rotate seals the new key with it (the
	// default, data/gatehouse.keys, would be created in the package).
	cfg := writeConfig(t, "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "d.db")+"}\nsecrets: {key_file: "+keyFile(t)+"}\n")
	code, out := cli(t, "", "keys", "rotate", "--config", cfg)
	if code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	m := regexp.MustCompile(`new signing key (\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate output names no key: %s", out)
	}
	kid := m[1]
	if code, out := cli(t, "", "keys", "retire", kid, "--config", cfg); code != 0 {
		t.Fatalf("retire %s: %d %s", kid, code, out)
	}
	if _, out := cli(t, "", "keys", "list", "--config", cfg); !strings.Contains(out, kid) || !strings.Contains(out, "retired") {
		t.Fatalf("list: %s", out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, out := cli(t, "", "frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Fatalf("got %d %s", code, out)
	}
	if code, out := cli(t, "", "version"); code != 0 || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: %d %s", code, out)
	}
}

// TestKidsAsOperands: a key id that begins with "-" (one in 64) is an
// operand, not an unknown flag (TestKeysCommands failed on one).
func TestKidsAsOperands(t *testing.T) {
	kid := "-3tCILtuOVxmUM7VBe0BhYoxc-ZU0mB5OutsXBlSZEo"
	got := kidsAsOperands([]string{kid, "--config", "c.yaml"})
	fs := flag.NewFlagSet("keys retire", flag.ContinueOnError)
	cfg := fs.String("config", "", "")
	pos, err := parseInterspersed(fs, got)
	if err != nil || len(pos) != 1 || pos[0] != kid || *cfg != "c.yaml" {
		t.Fatalf("got %v %v (config %q)", pos, err, *cfg)
	}
}

// TestHelp: --help (or -h, or help) works at every level and succeeds;
// a command with subcommands shows its own usage lines.
func TestHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "usage: gatehouse <command>"},
		{[]string{"help"}, "commands:"},
		{[]string{"user", "--help"}, "user add --username U"},
		{[]string{"help", "policy"}, "policy rollback VERSION"},
		{[]string{"device", "-h"}, "device list U"},
		{[]string{"user", "add", "--help"}, "-email"},
		{[]string{"policy", "set", "--help"}, "-dry-run"},
		{[]string{"audit", "--help"}, "-format"},
	} {
		code, out := cli(t, "", c.args...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("gatehouse %s: %d\n%s", strings.Join(c.args, " "), code, out)
		}
	}
	if code, _ := cli(t, "", "user", "add", "--bogus"); code != 2 {
		t.Errorf("an unknown flag: exit %d, want 2", code)
	}
}
