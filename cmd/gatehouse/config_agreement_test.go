package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// errNoNetwork is what the agreement test's HTTP client answers: reaching
// a provider is not part of judging a configuration.
var errNoNetwork = errors.New("no network in this test")

type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) { return nil, errNoNetwork }

// TestCheckConfigAndServeAgree runs `gatehouse check-config` and serve's
// start-up (loading the configuration, then opening every provider as
// serve does) over every shipped config and every file in
// testdata/config, and requires the same verdict: check-config used to
// pass an oidc provider with hosted_domains, or a plain-http public_url
// with an OIDC provider, that serve then refused. Opening may fail only
// for want of a file or the network, which check-config does not judge.
func TestCheckConfigAndServeAgree(t *testing.T) {
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
			code, out := cliEnv(t, vars, "check-config", "--config", f)
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
// of opening the stores: load it, then open each provider (each on its
// own, so one that cannot reach its files does not hide the next). A file
// or the network out of reach is not a refusal of the configuration.
func serveStartup(t *testing.T, path string, vars []string) error {
	t.Helper()
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
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNoNetwork) {
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
// deployment configurations: the image's passes check-config; compose's
// is refused for want of secrets.key_file until issue 16 fixes it (when
// it does, this test must change with the README).
func TestDeployConfigs(t *testing.T) {
	vars := []string{"GATEHOUSE_DIRECTORY_DSN=postgres://gatehouse@postgres:5432/gatehouse"}
	if code, out := cliEnv(t, vars, "check-config", "--config", "../../deploy/docker/gatehouse.yaml"); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("deploy/docker/gatehouse.yaml: %d\n%s", code, out)
	}
	if code, out := cliEnv(t, vars, "check-config", "--config", "../../deploy/compose/gatehouse.yaml"); code == 0 || !strings.Contains(out, "secrets.key_file") {
		t.Fatalf("deploy/compose/gatehouse.yaml: %d\n%s\n(the README says it is refused for want of secrets.key_file)", code, out)
	}
}
