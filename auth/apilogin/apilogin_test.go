package apilogin

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

func TestSectionValidate(t *testing.T) {
	for _, c := range []struct {
		s    Section
		want string
	}{
		{Section{URL: "https://a.example/check", SecretFile: "s", Timeout: 5 * time.Second}, ""},
		{Section{URL: "http://a.example/check", SecretFile: "s", Timeout: 5 * time.Second}, "must be https"},
		{Section{URL: "https://u:p@a.example/check", SecretFile: "s", Timeout: 5 * time.Second}, "must not carry credentials"},
		{Section{URL: "/check", SecretFile: "s", Timeout: 5 * time.Second}, "not an absolute URL"},
		{Section{URL: "https://a.example/check", Timeout: 5 * time.Second}, "secret_file: required"},
		{Section{URL: "https://a.example/check", SecretFile: "s", ClientCertFile: "c", Timeout: 5 * time.Second}, "together"},
		{Section{URL: "https://a.example/check", SecretFile: "s", Timeout: time.Minute}, "timeout"},
	} {
		err := c.s.Validate("providers[0]", "corp", nil)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: got %v, want %q", c.s, err, c.want)
		}
	}
}

// endpoint serves answer over HTTPS; the client trusts its certificate
// through ca_file.
func endpoint(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(strings.Repeat("k", 40)), 0o600)
	ca := filepath.Join(dir, "ca.pem")
	certPEM := pemOf(srv.Certificate().Raw)
	os.WriteFile(ca, certPEM, 0o600)
	c, err := NewClient(&Section{URL: srv.URL + "/check", SecretFile: secret, CAFile: ca, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientAnswers(t *testing.T) {
	var gotSig, gotTS string
	var gotReq Request
	c := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		gotSig, gotTS = r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp)
		json.NewDecoder(r.Body).Decode(&gotReq)
		json.NewEncoder(w).Encode(Answer{Valid: gotReq.Password == "right", Email: "carol@corp.example"})
	})
	a, tr, err := c.Check(t.Context(), "carol", "right", "192.0.2.7")
	if err != nil || !a.Valid || a.Email != "carol@corp.example" || tr.Status != 200 || tr.TLSVersion == "" {
		t.Fatalf("valid: %+v %+v %v", a, tr, err)
	}
	if !strings.HasPrefix(gotSig, "v1=") || len(gotSig) != 3+64 || gotTS == "" || gotReq.ClientIP != "192.0.2.7" || len(gotReq.RequestID) != 32 {
		t.Fatalf("request: sig %q ts %q %+v", gotSig, gotTS, gotReq)
	}
	if a, _, err := c.Check(t.Context(), "carol", "wrong", "192.0.2.7"); err != nil || a.Valid {
		t.Fatalf("invalid: %+v %v", a, err)
	}
}

// TestClientCouldNotCheck: every way of not getting a usable answer is
// ErrUnavailable, never an answer.
func TestClientCouldNotCheck(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"500": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", http.StatusInternalServerError) },
		"401": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", http.StatusUnauthorized) },
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusTemporaryRedirect)
		},
		"not JSON":            func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>ok</html>")) },
		"valid without email": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"valid": true}`)) },
		"valid as a string":   func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"valid": "true", "email": "a@b.c"}`)) },
		"too slow": func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(1500 * time.Millisecond)
			w.Write([]byte(`{"valid": true, "email": "a@b.c"}`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := endpoint(t, h)
			a, _, err := c.Check(t.Context(), "carol", "pw", "192.0.2.7")
			if !errors.Is(err, ErrUnavailable) || a.Valid {
				t.Fatalf("got %+v, %v; want ErrUnavailable", a, err)
			}
		})
	}
	// A certificate the client does not trust is could-not-check too.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "s")
	os.WriteFile(secret, []byte(strings.Repeat("k", 40)), 0o600)
	c, _ := NewClient(&Section{URL: srv.URL, SecretFile: secret, Timeout: time.Second})
	if _, _, err := c.Check(t.Context(), "carol", "pw", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

type named struct {
	id    string
	asked *string
}

func (n named) Authenticate(_ context.Context, username, _, _ string) (auth.Identity, error) {
	*n.asked = n.id
	return auth.Identity{Username: username}, nil
}

// TestRouter: which checker gets the login form's password, on a real
// SQLite directory.
func TestRouter(t *testing.T) {
	db, err := sqldir.Open(t.Context(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	for _, u := range []*directory.User{
		{Username: "local", PasswordHash: "$argon2id$x"},
		{Username: "nopw"},
		{Username: "linked", PasswordHash: "$argon2id$x"},
	} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.Username == "linked" {
			db.LinkIdentity(ctx, "corp-b", "linked", u.ID)
		}
	}
	var asked string
	pol := policy.Default()
	r := &Router{Local: named{"local", &asked}, Links: db, Policy: func() *policy.Policy { return &pol },
		Providers: []Provider{{ID: "corp-a", Login: named{"corp-a", &asked}}, {ID: "corp-b", Login: named{"corp-b", &asked}}}}
	for _, c := range []struct {
		user     string
		password bool
		want     string
	}{
		{"local", true, "local"},
		{"unknown", true, "local"},
		{"nopw", true, "corp-a"},
		{"linked", true, "corp-b"},
		{"LINKED", true, "corp-b"},
		{"local", false, "corp-a"},
		{"unknown", false, "corp-a"},
	} {
		pol.Methods = map[string]bool{"password": c.password}
		asked = ""
		if _, err := r.Authenticate(ctx, c.user, "pw", "192.0.2.7"); err != nil || asked != c.want {
			t.Errorf("%s (password %v): asked %q, want %q (%v)", c.user, c.password, asked, c.want, err)
		}
	}
	// A provider the policy turns off is never asked, even for its linked users.
	pol.Methods = map[string]bool{"password": true, "corp-b": false}
	asked = ""
	r.Authenticate(ctx, "linked", "pw", "")
	if asked != "local" {
		t.Errorf("corp-b off: asked %q", asked)
	}
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
