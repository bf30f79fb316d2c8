package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

const encryptionPolicy = "policy: {methods: {password: true, password_encryption: true}}\n"

// TestBrowserPasswordEncryption is the product's "Password Encryption" in
// real Chromium (testdata/browser/pwcrypt.mjs) against the real binary:
// the login page's script encrypts the password under the page's CSP, the
// field is masked and offered to no password manager, and the POST the
// browser sends holds no plaintext password and no password= field; with
// JavaScript off the page says the login needs it. Then, from Go, the
// captured POST replayed by a client with no cookies is refused, and so
// is a form posting the password in clear.
func TestBrowserPasswordEncryption(t *testing.T) {
	e := newE2E(t)
	pw := e.start(encryptionPolicy)
	bodyFile := filepath.Join(e.dir, "login-post.txt")
	e.node("pwcrypt.mjs", e.base, e2eUser, pw, bodyFile)
	captured, err := os.ReadFile(bodyFile)
	if err != nil {
		t.Fatal(err)
	}
	body := string(captured)
	if strings.Contains(body, pw) || strings.Contains(body, url.QueryEscape(pw)) || strings.Contains(body, "password=") {
		t.Fatalf("the captured login POST holds the password or a password field: %s", body)
	}
	form, err := url.ParseQuery(body)
	if err != nil || form.Get("password_enc") == "" || form.Get("challenge") == "" {
		t.Fatalf("captured POST %q: %v; want challenge and password_enc", body, err)
	}

	status, page, cookie := postLogin(t, e.base, body)
	if status != http.StatusBadRequest || !strings.Contains(page, "already sent once") || cookie {
		t.Fatalf("the captured POST replayed: %d, session cookie %v\n%s", status, cookie, page)
	}
	plain := url.Values{"username": {e2eUser}, "password": {pw}, "rd": {"/"}}.Encode()
	status, page, cookie = postLogin(t, e.base, plain)
	if status != http.StatusBadRequest || !strings.Contains(page, "arrived unencrypted") || cookie {
		t.Fatalf("a plaintext password with encryption on: %d, session cookie %v\n%s", status, cookie, page)
	}
}

// postLogin posts a login form body as a same-origin browser would, with
// no cookies; it returns the status, the page and whether a session
// cookie was set.
func postLogin(t *testing.T, base, body string) (int, string, bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/.gatehouse/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page), len(resp.Cookies()) > 0
}

// TestPasswordKeyCommands: password-key has help, refuses what it does
// not know, and rotate stores a new key that list shows active, the one
// before it as replaced.
func TestPasswordKeyCommands(t *testing.T) {
	cfg := writeConfig(t, "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "d.db")+"}\nsecrets: {key_file: "+keyFile(t)+"}\n")
	for _, args := range [][]string{{"password-key", "--help"}, {"help", "password-key"}} {
		if code, out := cli(t, "", args...); code != 0 || !strings.Contains(out, "password-key list | password-key rotate") {
			t.Errorf("gatehouse %s: %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	if code, out := cli(t, "", "password-key", "rotate", "--help"); code != 0 || !strings.Contains(out, "-config") {
		t.Errorf("password-key rotate --help: %d\n%s", code, out)
	}
	for _, args := range [][]string{{"password-key"}, {"password-key", "shred"}, {"password-key", "rotate", "extra"}} {
		if code, _ := cli(t, "", append(args, "--config", cfg)...); code != 2 {
			t.Errorf("gatehouse %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	kidRe := regexp.MustCompile(`new password encryption key (\S+):`)
	var kids []string
	for range 2 {
		code, out := cli(t, "", "password-key", "rotate", "--config", cfg)
		m := kidRe.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("rotate: %d %s", code, out)
		}
		kids = append(kids, m[1])
	}
	code, out := cli(t, "", "password-key", "list", "--config", cfg)
	if code != 0 || !regexp.MustCompile(kids[0]+`\s+\S+ \S+\s+replaced`).MatchString(out) || !regexp.MustCompile(kids[1]+`\s+\S+ \S+\s+active`).MatchString(out) {
		t.Fatalf("list: %d\n%s\nwant %s replaced and %s active", code, out, kids[0], kids[1])
	}
	// The signing key list shows them for what they are.
	if _, out := cli(t, "", "keys", "list", "--config", cfg); !strings.Contains(out, pwcrypt.Alg) {
		t.Errorf("keys list does not name the password keys' algorithm:\n%s", out)
	}
}

// TestPasswordKeyRotationWhileServing: `password-key rotate` on a running
// gateway: a login page served before it still logs in (its challenge
// names the key before), and pages served after the reload interval
// carry the new key, which logs in too.
func TestPasswordKeyRotationWhileServing(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), encryptionPolicy), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	_, before := b.Get(t, "/.gatehouse/login")
	old, ok := gatewaytest.PageChallenge(before)
	if !ok {
		t.Fatalf("login page without a challenge:\n%s", before)
	}
	code, out := runCLI(t, r, "password-key", "rotate")
	if code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	clk.Advance(pwcrypt.ReloadInterval)
	r.refresh(t)
	_, after := newBrowser(t, r.URL).Get(t, "/.gatehouse/login")
	if c, ok := gatewaytest.PageChallenge(after); !ok || c.PublicKey == old.PublicKey {
		t.Fatal("a login page served after the rotation still carries the old key")
	}
	if resp, body := b.Do(t, "POST", "/.gatehouse/login", gatewaytest.EncryptedForm(t, before, "alice", alicePW)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the page from before the rotation: %d\n%s", resp.StatusCode, body)
	}
	if resp, body, _ := newBrowser(t, r.URL).LoginEncrypted(t, "alice", alicePW); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a page from after the rotation: %d\n%s", resp.StatusCode, body)
	}
}
