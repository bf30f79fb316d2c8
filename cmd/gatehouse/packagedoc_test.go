package main

// Repository-wide rules that no single package can check about itself live
// here, in the binary's package, because it is the one that sees them all.

import (
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const repoModule = "github.com/gatehouse-auth/gatehouse"

// runGoList runs `go list args...` from the module root and returns its
// output lines.
func runGoList(t *testing.T, args ...string) []string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestPackageDocs holds every package to a doc comment (Tailscale's habit):
// a newcomer reads `go doc` to find where an idea lives.
func TestPackageDocs(t *testing.T) {
	lines := runGoList(t, "-f", "{{.ImportPath}}\t{{.Doc}}", "./...")
	if len(lines) < 2 {
		t.Fatalf("go list found %d packages, want the whole module", len(lines))
	}
	for _, line := range lines {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.Contains(path, "/testdata/") {
			continue
		}
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no doc comment; add `// Package name ...` (or `// Command name ...`) above its package clause", path)
		}
	}
}

// TestPackageDependencyDirection enforces STYLE.md's package boundaries: the pure
// policy package does no I/O, and the proxy sees interfaces, never the
// concrete stores that cmd wires in.
func TestPackageDependencyDirection(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{
			pkg:       repoModule + "/auth/policy",
			forbidden: []string{"net/http", "database/sql", "github.com/redis/go-redis/v9"},
		},
		{
			pkg: repoModule + "/proxy",
			forbidden: []string{
				repoModule + "/session/redis",
				repoModule + "/session/memory",
				repoModule + "/auth/directory/sqldir",
				repoModule + "/auth/password",
			},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.pkg, repoModule+"/"), func(t *testing.T) {
			deps := make(map[string]bool)
			for _, d := range runGoList(t, "-deps", tt.pkg) {
				deps[d] = true
			}
			if !deps[tt.pkg] {
				t.Fatalf("go list -deps %s does not list the package itself; got %d lines", tt.pkg, len(deps))
			}
			for _, f := range tt.forbidden {
				if deps[f] {
					t.Errorf("%s depends on %s, want no such dependency (see STYLE.md, Package boundaries)", tt.pkg, f)
				}
			}
		})
	}
}

// TestPipelineLayering enforces the seams of the request pipeline (issue
// 8): no package under proxy/ (but the gatewaytest harness, which wires a
// real gateway for tests) imports a concrete login method or backend; the
// pipeline itself imports none of the route sets that mount on it; and
// nothing under auth/ imports anything under proxy/, so login methods and
// token services never depend on the HTTP front.
func TestPipelineLayering(t *testing.T) {
	concrete := []string{
		"/auth/password", "/auth/oidc", "/auth/saml", "/auth/mfa", "/auth/totp", "/auth/federation", "/auth/lockout",
		"/auth/admin", "/auth/network", "/auth/directory/sqldir", "/auth/directory/watch", "/auth/secret",
		"/session/redis", "/session/memory",
	}
	routeSets := []string{"/proxy/login", "/proxy/account"}
	// proxy/console is the admin API: the HTTP face of auth/admin's
	// operations (DESIGN: "validated and audited once" for the CLI and the
	// API). It may reach what auth/admin reaches, and nothing else
	// concrete.
	viaAdmin := map[string]bool{"/auth/admin": true}
	for _, d := range runGoList(t, "-deps", repoModule+"/auth/admin") {
		if drel, ok := strings.CutPrefix(d, repoModule); ok {
			viaAdmin[drel] = true
		}
	}
	for _, pkg := range runGoList(t, "./...") {
		rel := strings.TrimPrefix(pkg, repoModule)
		inProxy := strings.HasPrefix(rel, "/proxy")
		inAuth := strings.HasPrefix(rel, "/auth")
		if (!inProxy && !inAuth) || rel == "/proxy/gatewaytest" {
			continue
		}
		for _, d := range runGoList(t, "-deps", pkg) {
			drel, ok := strings.CutPrefix(d, repoModule)
			if !ok || d == pkg {
				continue
			}
			switch {
			case inAuth && strings.HasPrefix(drel, "/proxy"):
				t.Errorf("%s imports %s: auth/ must not depend on the HTTP front", rel, drel)
			case rel == "/proxy/console" && viaAdmin[drel]:
			case inProxy && slices.Contains(concrete, drel):
				t.Errorf("%s imports the concrete %s: proxy/ sees interfaces; cmd/gatehouse wires concrete parts", rel, drel)
			case rel == "/proxy" && slices.Contains(routeSets, drel):
				t.Errorf("proxy imports the route set %s: cmd/gatehouse mounts route sets", drel)
			}
		}
	}
}
