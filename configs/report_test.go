package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectKeepsTheConfig: Inspect returns the configuration with its
// problems, and problems added for the files it names are worded and
// ordered with them, each with its key's line or the variable that set
// it.
func TestInspectKeepsTheConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.yaml")
	body := "listen: nowhere\ntls: {cert_file: /c, key_file: /k}\nnetwork:\n  deny_file: /d\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, r, err := Inspect(path, []string{"GATEHOUSE_SECRETS_KEY_FILE=/keys"})
	if err != nil || cfg == nil {
		t.Fatalf("Inspect: %v", err)
	}
	if r.Valid() {
		t.Fatal("a bad listen address: Valid")
	}
	if cfg.TLS.KeyFile != "/k" || cfg.Secrets.KeyFile != "/keys" {
		t.Fatalf("the config was not kept: %+v %+v", cfg.TLS, cfg.Secrets)
	}
	r.Add(errors.New("network.deny_file: open /d: no such file or directory"),
		errors.New("tls.key_file: open /k: no such file or directory"),
		errors.New("secrets.key_file: open /keys: no such file or directory"))
	got := r.Err().Error()
	want := "config " + path + ":\n" +
		"line 1: listen: \"nowhere\" is not host:port; use e.g. 127.0.0.1:8080 or :8080\n" +
		"line 2: tls.key_file: open /k: no such file or directory\n" +
		"line 4: network.deny_file: open /d: no such file or directory\n" +
		"secrets.key_file: open /keys: no such file or directory (set by GATEHOUSE_SECRETS_KEY_FILE)"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "line 1: listen:") {
		t.Errorf("Load: %v", err)
	}
}

// TestProviderDurationNamedByKey: a bad duration in a provider's own keys
// says what to write, as one elsewhere does, not the Go type.
func TestProviderDurationNamedByKey(t *testing.T) {
	_, err := Parse([]byte("providers:\n  - id: adfs\n    type: saml\n    clock_skew: soon\n"), nil)
	want := `line 4: providers[0].clock_skew: want a duration such as 30s, 15m or 12h, got "soon"`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("got %v, want %q", err, want)
	}
}
