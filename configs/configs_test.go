package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestShippedFilesAreValid loads every YAML file in configs/ so the examples
// cannot rot.
func TestShippedFilesAreValid(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("got %d YAML files in configs/, want at least gatehouse.yaml and production.example.yaml", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if _, err := Load(f, nil); err != nil {
				t.Errorf("Load(%q): %v", f, err)
			}
		})
	}
}

func TestEmbeddedDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"public_url", c.PublicURL, "http://127.0.0.1:8080"},
		{"public_url parsed host", c.PublicURLParsed.Host, "127.0.0.1:8080"},
		{"dev insecure cookies", c.DevInsecureCookies, true},
		{"upstream", c.Upstream, "demo"},
		{"upstream URL is nil for demo", c.UpstreamURL == nil, true},
		{"trusted_proxies", len(c.TrustedProxyPrefixes), 0},
		{"metrics_listen", c.MetricsListen, ""},
		{"session.store", c.Session.Store, "memory"},
		{"session.cache_ttl", c.Session.CacheTTL, 30 * time.Second},
		{"session.touch_fraction", c.Session.TouchFraction, 20},
		{"session.redis.key_prefix", c.Session.Redis.KeyPrefix, "gatehouse:"},
		{"directory.driver", c.Directory.Driver, "sqlite"},
		{"directory.dsn", c.Directory.DSN, "data/gatehouse.db"},
		{"login.max_concurrent_hashes", c.Login.MaxConcurrentHashes, 4},
		{"login.account_attempts", c.Login.AccountAttempts, 5},
		{"login.ip_attempts", c.Login.IPAttempts, 20},
		{"login.lockout_window", c.Login.LockoutWindow, 15 * time.Minute},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"policy.session.absolute_lifetime", c.Policy.Session.AbsoluteLifetime, 12 * time.Hour},
		{"policy.session.idle_timeout", c.Policy.Session.IdleTimeout, 30 * time.Minute},
		{"policy.methods.password", c.Policy.Methods["password"], true},
		{"policy.mfa.mode", c.Policy.MFA.Mode, "optional"},
		{"policy.mfa.federated", c.Policy.MFA.Federated, "trust_idp"},
		{"policy.mfa.remember_device", c.Policy.MFA.RememberDevice, time.Duration(0)},
		{"policy.network.block_tor", c.Policy.Network.BlockTor, "login"},
		{"policy.network.allow", len(c.Policy.Network.Allow), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// TestEmbeddedFileMatchesBuiltInDefaults keeps gatehouse.yaml honest: what
// it spells out must be what an empty file gets from SetDefaults.
func TestEmbeddedFileMatchesBuiltInDefaults(t *testing.T) {
	fromFile, err := Parse(Defaults(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fromEmpty, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, want := mustMarshal(t, fromFile), mustMarshal(t, fromEmpty)
	if got != want {
		t.Errorf("embedded gatehouse.yaml differs from built-in defaults:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestDurationsDecodeFromStrings(t *testing.T) {
	c, err := Parse([]byte("login: {lockout_window: 12h}\npolicy: {session: {idle_timeout: 90s}}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Login.LockoutWindow != 12*time.Hour {
		t.Errorf("lockout_window: got %s, want 12h", c.Login.LockoutWindow)
	}
	if c.Policy.Session.IdleTimeout != 90*time.Second {
		t.Errorf("idle_timeout: got %s, want 1m30s", c.Policy.Session.IdleTimeout)
	}
	// A bare number would be nanoseconds; the decoder refuses it instead.
	if _, err := Parse([]byte("login: {lockout_window: 900}"), nil); err == nil {
		t.Error("lockout_window: 900 accepted, want an error (durations need a unit)")
	}
}

func TestUnknownOrDuplicateKeyIsAnError(t *testing.T) {
	tests := []struct{ doc, key string }{
		{"sesion: {store: redis}", "line 1: sesion: unknown key"},
		{"session: {stor: redis}", "line 1: session.stor: unknown key"},
		{"session:\n  redis: {address: x}", "line 2: session.redis.address: unknown key"},
		{"policy: {network: {block_tors: all}}", "policy.network.block_tors: unknown key"},
		{"providers: [{id: corp, type: oidc, client_idd: x}]", "client_idd: unknown key"},
		{"listen: a:1\nlisten: b:2", `mapping key "listen" already defined`},
		// A near miss is named; another word is not guessed at.
		{"sesion: {store: redis}", "did you mean session?"},
		{"session: {stor: redis}", "did you mean store?"},
		{"policy: {network: {block_tors: all}}", "did you mean block_tor?"},
		{"policy: {mobile: {single_devise: true}}", "did you mean single_device?"},
	}
	if _, err := Parse([]byte("session: {flavour: x}"), nil); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a key nothing like a known one got a guess: %v", err)
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), nil)
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("Parse(%q): got %v, want an error containing %q", tt.doc, err, tt.key)
		}
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("listen: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "listen:") {
		t.Errorf("got %v, want an error naming %s and listen", err, path)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
}

func TestEmptyDocumentMeansDefaults(t *testing.T) {
	for _, doc := range []string{"", "# nothing but a comment\n", "---\n"} {
		c, err := Parse([]byte(doc), nil)
		if err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
			continue
		}
		if c.Listen != DefaultListen {
			t.Errorf("Parse(%q): got listen %q, want %q", doc, c.Listen, DefaultListen)
		}
	}
}

func TestMultipleDocumentsRejected(t *testing.T) {
	_, err := Parse([]byte("listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n"), nil)
	if !errors.Is(err, errMultipleDocuments) {
		t.Errorf("got %v, want errMultipleDocuments", err)
	}
}

func TestLogValueHidesSecrets(t *testing.T) {
	c, err := Parse([]byte("session: {store: redis, redis: {addrs: [r:6379], password: hunter2}}\ndirectory: {driver: postgres, dsn: 'postgres://u:s3cret@db/g'}\nsecrets: {key_file: /run/k}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.LogValue().String()
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(got, secret) {
			t.Errorf("LogValue() = %s, want no %q", got, secret)
		}
	}
}

func mustMarshal(t *testing.T, c *Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEmbeddedFileListsEveryKey keeps gatehouse.yaml a complete reference:
// a key added to any section must be added there too, with its default.
func TestEmbeddedFileListsEveryKey(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(Defaults(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		node := any(doc)
		for key := range strings.SplitSeq(path, ".") {
			m, _ := node.(map[string]any)
			var ok bool
			if node, ok = m[key]; !ok {
				t.Errorf("gatehouse.yaml lacks %s", path)
				break
			}
		}
	}
}

// keyPaths lists the dotted YAML path of every leaf key below t.
func keyPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || key == "-" || key == "" {
			continue
		}
		if sf.Type.Kind() == reflect.Struct {
			paths = append(paths, keyPaths(sf.Type, prefix+key+".")...)
			continue
		}
		paths = append(paths, prefix+key)
	}
	return paths
}

// TestEveryProblemAtOnce: a misspelt key used to stop loading before any
// value was judged, so fixing one problem revealed the next. Decode,
// environment and validation problems now come together, one a line, each
// with its key path and the line of that key (or the variable that set
// it), in file order.
func TestEveryProblemAtOnce(t *testing.T) {
	doc := `listen: nope
sesion: {store: redis}
login:
  lockout_window: soon
session: {store: etcd}
providers:
  - id: corp
    type: oidc
    client_idd: x
    issuer: https://login.corp.example
`
	_, err := Parse([]byte(doc), []string{"GATEHOUSE_LOG_LEVEL=loud"})
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`line 1: listen: "nope" is not host:port`,
		"line 2: sesion: unknown key",
		`line 4: login.lockout_window: want a duration such as 30s, 15m or 12h, got "soon"`,
		`line 5: session.store: must be "memory" or "redis"`,
		"line 7: providers[0].client_secret_file: set exactly one",
		"line 7: providers[0].client_id: required",
		"line 9: providers[0].client_idd: unknown key for type oidc",
		`log.level: must be debug, info, warn or error, got "loud" (set by GATEHOUSE_LOG_LEVEL)`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: got %q, want it to start with %q", i, got[i], want[i])
		}
	}
}
