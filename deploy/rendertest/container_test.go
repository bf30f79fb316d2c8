package rendertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the gateway's checkout: this module lives in deploy/rendertest.
var repoRoot = func() string {
	abs, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return abs
}()

// binDir holds the gatehouse binary built for the whole run; TestMain
// removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce   sync.Once
	gatehouseAt string
	buildErr    error
)

// gatehouse builds cmd/gatehouse once per run, as the image builds it
// (CGO_ENABLED=0, -trimpath), into a directory the container's user may
// read, and learns whether check-config has --offline yet.
func gatehouse(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-rendertest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "gatehouse")
		start := time.Now()
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/gatehouse")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/gatehouse in %s: %v\n%s", repoRoot, err, out)
			return
		}
		t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
		gatehouseAt = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return gatehouseAt
}

// needRoot skips a test that must give files the owners a container
// runtime gives them and run the gateway as the container's user.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root under CI=true: the container's files are owned by root and uid 65532, and check-config runs as uid 65532")
		}
		t.Skip("needs root: the container's files are owned by root and uid 65532, and check-config runs as uid 65532 (make test runs as root)")
	}
}

// entry is one file, directory or symlink of a container's filesystem,
// as the runtime would lay it out.
type entry struct {
	path     string // in the container
	kind     byte   // 'f' file, 'd' directory, 'l' symlink
	data     []byte
	target   string // of a symlink
	mode     fs.FileMode
	uid, gid int
	config   bool // a YAML file whose paths are rewritten under the root
}

// container is what the gateway's process would get: its command line,
// environment, user and working directory, and the files mounted into
// it. Paths are the container's.
type container struct {
	name     string
	argv     []string
	env      []string
	workdir  string
	uid, gid int
	groups   []uint32
	// mounts are the container paths this view lays out; a string in the
	// configuration, the environment or the command line naming one of
	// them, or something under it, is rewritten to the same path under
	// the view's root. Nothing else is: a path the deployment does not
	// mount stays as it is and is not found.
	mounts  []string
	entries []entry
}

func (c *container) add(e entry) { c.entries = append(c.entries, e) }

// mount records a mount at path: what the image had there is hidden.
func (c *container) mount(path string) {
	c.mounts = append(c.mounts, path)
	c.entries = slices.DeleteFunc(c.entries, func(e entry) bool {
		return e.path == path || strings.HasPrefix(e.path, strings.TrimSuffix(path, "/")+"/")
	})
}

// rewrite maps a container path under one of the mounts to the view
// under root.
func (c *container) rewrite(root, s string) string {
	for _, m := range c.mounts {
		if s == m || strings.HasPrefix(s, strings.TrimSuffix(m, "/")+"/") {
			return root + s
		}
	}
	return s
}

// lay writes the container's files under a new directory and returns it.
// Each entry gets its mode and owner; directories created on the way are
// root's, 0755, as in an image.
func (c *container) lay(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "gatehouse-container-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range c.entries {
		p := root + e.path
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch e.kind {
		case 'd':
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case 'f':
			data := e.data
			if e.config {
				data = c.rewriteYAML(t, root, e.path, data)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		case 'l':
			if err := os.Symlink(e.target, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Lchown(p, e.uid, e.gid); err != nil {
			t.Fatal(err)
		}
		if e.kind != 'l' {
			if err := os.Chmod(p, e.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// rewriteYAML rewrites every string scalar naming a mounted path, keeping
// the file's comments and layout.
func (c *container) rewriteYAML(t *testing.T, root, name string, data []byte) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	changed := false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
			if r := c.rewrite(root, n.Value); r != n.Value {
				n.Value, changed = r, true
			}
		}
		for _, k := range n.Content {
			walk(k)
		}
	}
	walk(&doc)
	if !changed {
		return data
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fileRef is a configuration key naming a file (every key ending in
// _file).
type fileRef struct{ key, path string }

func fileRefs(t *testing.T, data []byte) []fileRef {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var refs []fileRef
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, k := range n.Content {
				walk(k, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, val := n.Content[i].Value, n.Content[i+1]
				p := strings.TrimPrefix(path+"."+key, ".")
				if strings.HasSuffix(key, "_file") && val.Kind == yaml.ScalarNode && val.Value != "" {
					refs = append(refs, fileRef{p, val.Value})
				}
				walk(val, p)
			}
		case yaml.SequenceNode:
			for i, k := range n.Content {
				walk(k, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(&doc, "")
	return refs
}

// configPath is the container path the command line's --config names.
func (c *container) configPath(t *testing.T) string {
	t.Helper()
	for i, a := range c.argv {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		} else if a == "--config" && i+1 < len(c.argv) {
			return c.argv[i+1]
		}
	}
	t.Fatalf("%s: the command line %q names no --config", c.name, c.argv)
	return ""
}

// checkFiles requires the configuration file and every file its *_file
// keys name to be regular files in the view under root (following
// symlinks, as open does). It is the test's own check, so it holds
// whether or not check-config opens files.
func (c *container) checkFiles(t *testing.T, root string) error {
	t.Helper()
	cfg := c.configPath(t)
	data, err := os.ReadFile(c.rewrite(root, cfg))
	if err != nil {
		return fmt.Errorf("--config %s is not in the container (mounted: %q)", cfg, c.mounts)
	}
	var errs []error
	// data is the laid-out file: its paths under a mount are rewritten.
	for _, r := range fileRefs(t, data) {
		shown := strings.TrimPrefix(r.path, root)
		if !strings.HasPrefix(r.path, root+"/") {
			errs = append(errs, fmt.Errorf("%s: %s is in no volume the container mounts (mounted: %q)", r.key, shown, c.mounts))
			continue
		}
		fi, err := os.Stat(r.path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %s is not in the container", r.key, shown))
		case !fi.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("%s: %s is not a regular file", r.key, shown))
		}
	}
	return errors.Join(errs...)
}

// checkConfig runs `gatehouse check-config` (with --offline when it has
// it) in place of the container's `gatehouse serve`, with the same flags,
// environment, working directory and user, on the view under root.
func (c *container) checkConfig(t *testing.T, root string) (int, string) {
	t.Helper()
	bin := gatehouse(t)
	if len(c.argv) < 2 || c.argv[0] != "/usr/local/bin/gatehouse" || c.argv[1] != "serve" {
		t.Fatalf("%s: the container runs %q, not /usr/local/bin/gatehouse serve", c.name, c.argv)
	}
	args := []string{"check-config", "--offline"}
	for _, a := range c.argv[2:] {
		if name, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
			args = append(args, name+"="+c.rewrite(root, v))
		} else {
			args = append(args, c.rewrite(root, a))
		}
	}
	env := make([]string, 0, len(c.env))
	for _, kv := range c.env {
		name, v, _ := strings.Cut(kv, "=")
		env = append(env, name+"="+c.rewrite(root, v))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env // the container's, nothing of this process's
	cmd.Dir = root + c.workdir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(c.uid), Gid: uint32(c.gid), Groups: c.groups,
	}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("%s: run check-config: %v\n%s", c.name, err, out)
	return 0, ""
}

// mustStart lays the view out and requires what the gateway would do
// with it at start-up to pass: every file the configuration names is
// there, and check-config, run as the container's user, says
// "configuration ok".
func (c *container) mustStart(t *testing.T) {
	t.Helper()
	root := c.lay(t)
	if err := c.checkFiles(t, root); err != nil {
		t.Errorf("%s: %v", c.name, err)
	}
	code, out := c.checkConfig(t, root)
	if code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("%s: check-config as uid %d exited %d:\n%s\nenvironment: %q\nfiles:\n%s", c.name, c.uid, code, out, c.env, c.listing(root))
	}
	t.Logf("%s: check-config --offline as uid %d:%d: %s", c.name, c.uid, c.gid, strings.TrimSpace(out))
}

// listing shows the view for a failure message.
func (c *container) listing(root string) string {
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil {
			fmt.Fprintf(&b, "  %v %d:%d %s\n", fi.Mode(), st.Uid, st.Gid, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return b.String()
}

// image is what the final stage of deploy/Dockerfile gives a container.
type image struct {
	entrypoint, cmd []string
	uid, gid        int
	workdir         string
	// env is the base image's (distroless/static sets these two; read from
	// its image config, not from a registry here).
	env []string
	// entries: the files the Dockerfile copies in (the built-in
	// configuration) and the data directory.
	entries []entry
}

// readImage reads deploy/Dockerfile's final stage.
func readImage(t *testing.T) image {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	stages := regexp.MustCompile(`(?m)^FROM `).Split(text, -1)
	final := stages[len(stages)-1]
	img := image{env: []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	}}
	jsonArgs := func(instr, rest string) []string {
		var v []string
		if err := json.Unmarshal([]byte(rest), &v); err != nil {
			t.Fatalf("Dockerfile: %s %s is not the JSON form: %v", instr, rest, err)
		}
		return v
	}
	for line := range strings.SplitSeq(final, "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch instr {
		case "ENTRYPOINT":
			img.entrypoint = jsonArgs(instr, rest)
		case "CMD":
			img.cmd = jsonArgs(instr, rest)
		case "WORKDIR":
			img.workdir = rest
		case "USER":
			u, g, _ := strings.Cut(rest, ":")
			if img.uid, err = strconv.Atoi(u); err != nil {
				t.Fatalf("Dockerfile: USER %s is not numeric", rest)
			}
			if img.gid, err = strconv.Atoi(g); err != nil {
				t.Fatalf("Dockerfile: USER %s has no numeric group", rest)
			}
		case "COPY":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--from=") {
				continue // the binary, and the data directory (below)
			}
			src, dst := f[len(f)-2], f[len(f)-1]
			content, err := os.ReadFile(filepath.Join(repoRoot, src))
			if err != nil {
				t.Fatalf("Dockerfile: COPY %s: %v", src, err)
			}
			fi, _ := os.Stat(filepath.Join(repoRoot, src))
			// COPY keeps the context file's mode; root owns it.
			img.entries = append(img.entries, entry{path: dst, kind: 'f', data: content, mode: fi.Mode().Perm(), config: strings.HasSuffix(dst, ".yaml")})
		}
	}
	// The data directory: made with mkdir -m MODE in the build stage and
	// copied with --chown; it is the WORKDIR and a VOLUME, so a container
	// gets a volume initialised with that owner and mode.
	mk := regexp.MustCompile(`mkdir -p -m (0[0-7]+) /out(/\S+)`).FindStringSubmatch(text)
	chown := regexp.MustCompile(`COPY --from=build --chown=(\d+):(\d+) /out(/\S+) (/\S+)`).FindStringSubmatch(text)
	if mk == nil || chown == nil || mk[2] != chown[3] || chown[4] != img.workdir {
		t.Fatalf("Dockerfile: cannot find the data directory (mkdir -m MODE, COPY --chown) at WORKDIR %s", img.workdir)
	}
	mode, _ := strconv.ParseUint(mk[1], 8, 32)
	uid, _ := strconv.Atoi(chown[1])
	gid, _ := strconv.Atoi(chown[2])
	img.entries = append(img.entries, entry{path: img.workdir, kind: 'd', mode: fs.FileMode(mode), uid: uid, gid: gid})
	if len(img.entrypoint) == 0 || img.workdir == "" || img.uid == 0 {
		t.Fatalf("Dockerfile: want ENTRYPOINT, WORKDIR and a non-root USER in the final stage: %+v", img)
	}
	return img
}

// keyFile is a key-ring file as deploy/README.md tells the operator to
// make one: printf 'k1 %s\n' "$(head -c32 /dev/urandom | base64)".
func keyFile() []byte {
	return fmt.Appendf(nil, "k1 %s\n", base64.StdEncoding.EncodeToString(randomBytes(32)))
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
