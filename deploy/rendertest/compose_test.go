package rendertest

import (
	"cmp"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads deploy/docker-compose.yml as `docker compose` would
// from deploy/, with env as the shell's environment (and no .env file).
func loadCompose(t *testing.T, env []string) *types.Project {
	t.Helper()
	dir := filepath.Join(repoRoot, "deploy")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

// hostFile is how deploy/docker-compose.yml's header tells the operator
// to prepare a file on the host (sudo chown U:G FILE && sudo chmod M FILE).
type hostFile struct {
	uid, gid int
	mode     fs.FileMode
}

func documentedHostFile(t *testing.T, name string) hostFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	q := regexp.QuoteMeta(name)
	own := regexp.MustCompile(`(?m)^#.*chown (\d+):(\d+) ` + q + `\b`).FindSubmatch(data)
	mod := regexp.MustCompile(`(?m)^#.*chmod (0?[0-7]{3}) ` + q + `\b`).FindSubmatch(data)
	if own == nil || mod == nil {
		t.Fatalf("docker-compose.yml does not say how to prepare %s on the host (chown U:G, chmod MODE)", name)
	}
	var h hostFile
	h.uid, _ = strconv.Atoi(string(own[1]))
	h.gid, _ = strconv.Atoi(string(own[2]))
	m, _ := strconv.ParseUint(string(mod[1]), 8, 32)
	h.mode = fs.FileMode(m)
	return h
}

// composeContainer is the gatehouse service's container as Docker
// Compose would start it. secrets holds the content of each file-based
// secret's host file by secret name; the host file has the owner and
// mode the compose file's header documents.
func composeContainer(t *testing.T, p *types.Project, img image, secrets map[string][]byte) *container {
	t.Helper()
	svc, ok := p.Services["gatehouse"]
	if !ok {
		t.Fatalf("no gatehouse service: %v", slices.Collect(maps.Keys(p.Services)))
	}
	c := &container{name: "compose " + svc.Name}
	// entrypoint replaces the image's ENTRYPOINT (and drops its CMD);
	// command replaces CMD.
	switch {
	case len(svc.Entrypoint) > 0:
		c.argv = append(slices.Clone([]string(svc.Entrypoint)), svc.Command...)
	case len(svc.Command) > 0:
		c.argv = append(slices.Clone(img.entrypoint), svc.Command...)
	default:
		c.argv = append(slices.Clone(img.entrypoint), img.cmd...)
	}
	cfgPath := (&container{argv: c.argv}).configPath(t)
	c.uid, c.gid = img.uid, img.gid
	if svc.User != "" {
		u, g, _ := strings.Cut(svc.User, ":")
		var err error
		if c.uid, err = strconv.Atoi(u); err != nil {
			t.Fatalf("user %q: only numeric users are emulated", svc.User)
		}
		if g != "" {
			if c.gid, err = strconv.Atoi(g); err != nil {
				t.Fatalf("user %q: only numeric groups are emulated", svc.User)
			}
		}
	}
	c.groups = []uint32{uint32(c.gid)}
	if len(svc.GroupAdd) > 0 {
		t.Fatal("group_add is not emulated")
	}
	c.workdir = cmp.Or(svc.WorkingDir, img.workdir)

	// The image's environment, then the service's.
	env := map[string]string{"HOSTNAME": "3f1c2b9a7d4e", "HOME": "/home/nonroot"}
	for _, kv := range img.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if len(svc.EnvFiles) > 0 {
		t.Fatal("env_file is not emulated")
	}
	for k, v := range svc.Environment {
		if v != nil { // a bare name takes the shell's value: none here
			env[k] = *v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		c.env = append(c.env, k+"="+env[k])
	}

	// The image's files (its data directory is a VOLUME: an anonymous
	// volume starts as the image has it), then the service's mounts.
	c.entries = append(c.entries, img.entries...)
	for _, e := range img.entries {
		c.mounts = append(c.mounts, e.path)
	}
	for _, v := range svc.Volumes {
		c.mount(v.Target)
		switch v.Type {
		case types.VolumeTypeBind:
			// A bind mount shows the host file as it is: its content,
			// mode and numeric owner.
			fi, err := os.Stat(v.Source)
			if err != nil {
				t.Fatalf("bind mount %s: %v", v.Source, err)
			}
			if fi.IsDir() {
				t.Fatalf("bind mount %s: directories are not emulated", v.Source)
			}
			data, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			c.add(entry{path: v.Target, kind: 'f', data: data, mode: fi.Mode().Perm(), uid: int(st.Uid), gid: int(st.Gid), config: v.Target == cfgPath})
		default:
			t.Fatalf("volume %s → %s: type %s is not emulated", v.Source, v.Target, v.Type)
		}
	}
	// Secrets: Docker Compose bind-mounts a file-based secret read-only,
	// so the container sees the host file's owner and mode; the
	// specification's uid, gid and mode (default 0444) apply to Swarm
	// and to copied (environment or content) secrets, not to these.
	c.add(entry{path: "/run/secrets", kind: 'd', mode: 0o755})
	for _, s := range svc.Secrets {
		def, ok := p.Secrets[s.Source]
		if !ok || def.File == "" {
			t.Fatalf("secret %s: only file-based secrets are emulated", s.Source)
		}
		if s.Mode != nil || s.UID != "" || s.GID != "" {
			t.Errorf("secret %s sets mode/uid/gid, which Docker Compose ignores for a file-based secret: prepare the host file instead", s.Source)
		}
		target := cmp.Or(s.Target, s.Source)
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		data, ok := secrets[s.Source]
		if !ok {
			t.Fatalf("secret %s: no content given for its host file %s", s.Source, def.File)
		}
		h := documentedHostFile(t, filepath.Base(def.File))
		c.mount(target)
		c.add(entry{path: target, kind: 'f', data: data, mode: h.mode, uid: h.uid, gid: h.gid})
	}
	if len(svc.Configs) > 0 {
		t.Fatal("configs are not emulated")
	}
	return c
}

// composeEnv is the shell environment `docker compose up` runs with, as
// the compose file's header says: POSTGRES_PASSWORD set.
func composeEnv() []string {
	return []string{"POSTGRES_PASSWORD=" + randomHex(16)}
}

// TestCompose loads deploy/docker-compose.yml with compose-go and
// requires the gatehouse service's container (its command, environment,
// bind-mounted configuration and key secret, as uid 65532) to pass
// check-config.
func TestCompose(t *testing.T) {
	img := readImage(t)
	p := loadCompose(t, composeEnv())
	svc := p.Services["gatehouse"]
	if !svc.ReadOnly {
		t.Error("the gatehouse service's root filesystem is not read_only")
	}
	for _, dep := range []string{"redis", "postgres"} {
		if d, ok := svc.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("gatehouse does not wait for %s to be healthy: %+v", dep, svc.DependsOn)
		}
	}
	// Without POSTGRES_PASSWORD compose refuses to start.
	opts, _ := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "deploy/docker-compose.yml")},
		cli.WithWorkingDirectory(filepath.Join(repoRoot, "deploy")), cli.WithEnv(nil))
	if _, err := opts.LoadProject(t.Context()); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("without POSTGRES_PASSWORD: got %v, want compose to refuse", err)
	}
	needRoot(t)
	c := composeContainer(t, p, img, map[string][]byte{"gatehouse-keys": keyFile()})
	c.mustStart(t)
}

// TestComposeRefusals are the negative controls for compose.
func TestComposeRefusals(t *testing.T) {
	needRoot(t)
	img := readImage(t)
	p := loadCompose(t, composeEnv())

	t.Run("no DSN in the environment", func(t *testing.T) {
		c := composeContainer(t, p, img, map[string][]byte{"gatehouse-keys": keyFile()})
		c.env = slices.DeleteFunc(c.env, func(kv string) bool { return strings.HasPrefix(kv, "GATEHOUSE_DIRECTORY_DSN=") })
		code, out := c.checkConfig(t, c.lay(t))
		if code == 0 || !strings.Contains(out, "directory.dsn") {
			t.Fatalf("without GATEHOUSE_DIRECTORY_DSN check-config exited %d:\n%s", code, out)
		}
		t.Logf("refused as expected:\n%s", out)
	})

	t.Run("key file readable by others on the host", func(t *testing.T) {
		c := composeContainer(t, p, img, map[string][]byte{"gatehouse-keys": keyFile()})
		for i := range c.entries {
			if c.entries[i].path == "/run/secrets/gatehouse-keys" {
				c.entries[i].mode = 0o644 // what a plain `printf … > gatehouse.keys` leaves
			}
		}
		code, out := c.checkConfig(t, c.lay(t))
		if code == 0 || !strings.Contains(out, "gatehouse-keys") || !strings.Contains(out, "0644") {
			t.Fatalf("check-config with the key file at 0644 exited %d:\n%s", code, out)
		}
		t.Logf("refused as expected:\n%s", out)
	})
}

// TestImageDefaults: the image on its own (`docker run` with a volume at
// /var/lib/gatehouse, as deploy/README.md shows) and its built-in
// configuration.
func TestImageDefaults(t *testing.T) {
	img := readImage(t)
	needRoot(t)
	c := &container{
		name:    "image defaults",
		argv:    append(slices.Clone(img.entrypoint), img.cmd...),
		env:     append(slices.Clone(img.env), "HOSTNAME=3f1c2b9a7d4e", "HOME=/home/nonroot"),
		workdir: img.workdir,
		uid:     img.uid, gid: img.gid, groups: []uint32{uint32(img.gid)},
		entries: img.entries,
	}
	for _, e := range img.entries {
		c.mounts = append(c.mounts, e.path)
	}
	if len(c.entries) < 2 {
		t.Fatalf("the image has %d files of its own, want the configuration and the data directory", len(c.entries))
	}
	c.mustStart(t)
}
