package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session/memory"

	"go.yaml.in/yaml/v3"
)

// errNoNetwork is what the agreement test's HTTP client answers: reaching
// a provider is not part of judging a configuration.
var errNoNetwork = errors.New("no network in this test")

type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) { return nil, errNoNetwork }

// TestCheckConfigAndServeAgree runs `gatehouse check-config --offline`
// and serve's start-up (its start-up check, then opening every provider
// as serve does) over every shipped config and every file in
// testdata/config, and requires the same verdict: check-config used to
// pass an oidc provider with hosted_domains, or a plain-http public_url
// with an OIDC provider, or a file that does not exist, that serve then
// refused. Only the network is left out of both.
func TestCheckConfigAndServeAgree(t *testing.T) {
	makeConfigFiles(t)
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../deploy/compose/gatehouse.yaml", "../../deploy/docker/gatehouse.yaml")
	cases, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil || len(cases) < 10 {
		t.Fatalf("got %d cases (%v), want the bad files under testdata/config", len(cases), err)
	}
	for _, f := range append(files, cases...) {
		t.Run(strings.TrimPrefix(f, "../../"), func(t *testing.T) {
			// What the deploy gives the container besides the file.
			vars := []string{"GATEHOUSE_DIRECTORY_DSN=postgres://gatehouse@postgres:5432/gatehouse"}
			code, out := cliEnv(t, vars, "check-config", "--offline", "--config", f)
			checkOK := code == 0
			serveErr := serveStartup(t, f, vars)
			serveOK := serveErr == nil
			if checkOK != serveOK {
				t.Fatalf("check-config says ok=%v:\n%s\nserve's start-up says ok=%v: %v", checkOK, out, serveOK, serveErr)
			}
			want := wantOf(t, f)
			switch {
			case want == nil && strings.HasPrefix(f, "testdata/"):
				t.Fatalf("%s has no `# want:` first line", f)
			case want == nil:
				return // a shipped file: agreement is the point here
			case len(want) == 0 && !checkOK:
				t.Fatalf("want ok, both refused:\n%s", out)
			}
			for _, w := range want {
				if !strings.Contains(out, w) || !strings.Contains(serveErr.Error(), w) {
					t.Errorf("want %q in both\ncheck-config:\n%s\nserve: %v", w, out, serveErr)
				}
			}
		})
	}
}

// serveStartup is what serve does with a config before it listens, short
// of opening the stores: its start-up check, then open each provider
// (each on its own, so one that fails does not hide the next). The
// network out of reach is not a refusal of the configuration.
func serveStartup(t *testing.T, path string, vars []string) error {
	t.Helper()
	if err := startupCheck(t.Context(), &env{vars: vars}, path); err != nil {
		return err
	}
	cfg, err := configs.Load(path, vars)
	if err != nil {
		return err
	}
	store := memory.New(nil)
	defer store.Close()
	shared := federation.Env{Transactions: store, Client: &http.Client{Transport: noNetwork{}}}
	for i := range cfg.Providers {
		one := *cfg
		one.Providers = cfg.Providers[i : i+1]
		_, err := openConfiguredProviders(t.Context(), &one, shared)
		if err != nil && !errors.Is(err, errNoNetwork) {
			return err
		}
	}
	return nil
}

// wantOf reads a test file's `# want:` line: nil when it has none, empty
// for ok, else the problems both must report.
func wantOf(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	spec, ok := strings.CutPrefix(first, "# want: ")
	if !ok {
		return nil
	}
	if spec == "ok" {
		return []string{}
	}
	var want []string
	for w := range strings.SplitSeq(spec, "|") {
		want = append(want, strings.TrimSpace(w))
	}
	return want
}

func cliEnv(t *testing.T, vars []string, args ...string) (int, string) {
	t.Helper()
	var out strings.Builder
	code := run(t.Context(), args, strings.NewReader(""), &out, &out, vars)
	return code, out.String()
}

// TestDeployConfigs pins what deploy/README.md says of the shipped
// deployment configurations: each passes check-config with the
// environment it would get, and each names the shared key file at the
// path its deployment mounts it (compose: a secret under /run/secrets;
// Helm: the existing Secret at /run/secrets/gatehouse, mode 0440, which
// the key-ring loader accepts for a root-owned file — see
// auth/secret.TestKeyringModeForServiceUser). Neither is rendered by
// helm or started by docker here (no engine on these machines): the
// files a deployment mounts are written by the test and named by their
// variables, and check-config runs --offline (no redis or postgres host
// here).
func TestDeployConfigs(t *testing.T) {
	vars := []string{"GATEHOUSE_DIRECTORY_DSN=postgres://gatehouse@postgres:5432/gatehouse", "GATEHOUSE_SECRETS_KEY_FILE=" + keyFile(t)}
	for _, f := range []string{"../../deploy/docker/gatehouse.yaml", "../../deploy/compose/gatehouse.yaml"} {
		if code, out := cliEnv(t, vars, "check-config", "--offline", "--config", f); code != 0 || !strings.Contains(out, "configuration ok") {
			t.Fatalf("%s: %d\n%s", f, code, out)
		}
	}
	var compose struct {
		Services map[string]struct {
			Secrets []string `yaml:"secrets"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	readYAML(t, "../../deploy/docker-compose.yml", &compose)
	var composeCfg struct {
		Secrets struct {
			KeyFile string `yaml:"key_file"`
		} `yaml:"secrets"`
	}
	readYAML(t, "../../deploy/compose/gatehouse.yaml", &composeCfg)
	if !slices.Contains(compose.Services["gatehouse"].Secrets, "gatehouse-keys") || compose.Secrets["gatehouse-keys"].File == "" ||
		composeCfg.Secrets.KeyFile != "/run/secrets/gatehouse-keys" {
		t.Fatalf("compose: the key secret is not mounted where the config reads it: %+v %+v", compose, composeCfg)
	}

	// Helm: values.yaml's config is rendered verbatim as gatehouse.yaml.
	var values struct {
		Config map[string]any `yaml:"config"`
	}
	readYAML(t, "../../deploy/helm/gatehouse/values.yaml", &values)
	rendered, err := yaml.Marshal(values.Config)
	if err != nil {
		t.Fatal(err)
	}
	helmCfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(helmCfg, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	secretFiles := []string{"GATEHOUSE_SECRETS_KEY_FILE=" + keyFile(t),
		"GATEHOUSE_SESSION_REDIS_PASSWORD_FILE=" + writeFile(t, "redis-password", "not-a-real-password\n"),
		"GATEHOUSE_DIRECTORY_DSN_FILE=" + writeFile(t, "gatehouse-dsn", "postgres://gatehouse@postgres:5432/gatehouse\n")}
	if code, out := cliEnv(t, secretFiles, "check-config", "--offline", "--config", helmCfg); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("helm values config: %d\n%s", code, out)
	}
	dep, err := os.ReadFile("../../deploy/helm/gatehouse/templates/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, _ := values.Config["secrets"].(map[string]any)["key_file"].(string)
	if !strings.HasPrefix(keyFile, "/run/secrets/gatehouse/") || !strings.Contains(string(dep), "mountPath: /run/secrets/gatehouse") ||
		!strings.Contains(string(dep), "defaultMode: 0440") {
		t.Fatalf("helm: secrets.key_file %q is not in the Secret the Deployment mounts (0440)", keyFile)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
