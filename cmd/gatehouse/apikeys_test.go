package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/apikey"
)

// createKey runs `apikey create` and returns the key, which must be the
// only thing on stdout.
func createKey(t testing.TB, r *replica, args ...string) string {
	t.Helper()
	var stdout, stderr strings.Builder
	args = append(append([]string{"apikey", "create"}, args...), "--config", r.cfgPath)
	if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, r.vars); code != 0 {
		t.Fatalf("apikey create: %d %s", code, stderr.String())
	}
	key := strings.TrimSuffix(stdout.String(), "\n")
	if _, _, err := apikey.Parse(key); err != nil || strings.Contains(key, "\n") {
		t.Fatalf("stdout is not exactly one key: %q", stdout.String())
	}
	return key
}

// call sends a request with headers and returns the status and body.
func call(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errorCode(body string) string {
	var m map[string]string
	json.Unmarshal([]byte(body), &m)
	return m["error"]
}

const keyPolicy = `policy:
  access:
    routes:
      - {route: "GET /export/", feature: leads.export}
      - {route: "GET /leads/", feature: leads.view}
  api_keys: {rate_limit: {requests: 1000, window: 5s}}
`

// TestAPIKeyHappyPath: a key created by the CLI acts as its user on the
// upstream, which sees who and how but never the key.
func TestAPIKeyHappyPath(t *testing.T) {
	up := startUpstream(t)
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, up, keyPolicy), clk)
	r.addUser(t, "alice", alicePW, "manager", "north")
	key := createKey(t, r, "--user", "alice", "--name", "nightly export")
	id, _, _ := apikey.Parse(key)

	for _, hdr := range [][]string{
		{"Authorization", "Bearer " + key},
		{"X-API-Key", key},
		{"x-LSQ-AccessKey", id, "x-LSQ-SecretKey", key},
	} {
		resp, body := call(t, "GET", r.URL+"/leads/7", hdr...)
		if resp.StatusCode != 200 || body != "crm:alice" {
			t.Fatalf("%s: %d %q", hdr[0], resp.StatusCode, body)
		}
		h := up.Last(t).Header
		if h.Get("X-Gatehouse-Auth-Method") != "api_key" || h.Get("X-Gatehouse-Key-Id") != id || h.Get("X-Gatehouse-Groups") != "north" ||
			h.Get("X-Gatehouse-Session") != "" || h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" || h.Get("X-Lsq-Secretkey") != "" {
			t.Fatalf("%s: upstream saw %v", hdr[0], h)
		}
		claims := verifyAssertion(t, r, h.Get("X-Gatehouse-Assertion"), clk.Now())
		if claims.Username != "alice" || strings.Join(claims.Methods, ",") != "api_key" {
			t.Fatalf("assertion: %+v", claims)
		}
	}
	if resp, body := call(t, "GET", r.URL+"/", "x-LSQ-AccessKey", "someoneelse", "x-LSQ-SecretKey", key); resp.StatusCode != 400 {
		t.Fatalf("mismatched LSQ pair: %d %s", resp.StatusCode, body)
	}
	// Only a keyed hash of the secret is stored (DESIGN: API keys stored
	// only as hashes).
	_, secret, _ := apikey.Parse(key)
	stored, err := r.a.dir.APIKey(t.Context(), id)
	if err != nil || len(stored.Hash) == 0 || strings.Contains(string(stored.Hash), secret) || strings.Contains(string(stored.Hash), key) {
		t.Fatalf("stored key: %v %q", err, stored.Hash)
	}
	code, out := runCLI(t, r, "apikey", "list", "--user", "alice")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "nightly export") || strings.Contains(out, key[len(apikey.Prefix)+13:]) {
		t.Fatalf("apikey list: %d\n%s", code, out)
	}
}

// TestAPIKeyAttacks tries each attack on keys and shows it refused.
func TestAPIKeyAttacks(t *testing.T) {
	up := startUpstream(t)
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, up, keyPolicy+"login: {ip_attempts: 5}\n"), clk)
	r.addUser(t, "alice", alicePW, "manager")
	r.addUser(t, "bob", alicePW, "sales")
	key := createKey(t, r, "--user", "alice", "--scopes", "leads.view")
	id, secret, _ := apikey.Parse(key)

	t.Run("key in the query string", func(t *testing.T) {
		for _, q := range []string{"?api_key=" + key, "?x=1&token=" + key, "?k=" + strings.Replace(key, "_", "%5F", -1)} {
			resp, body := call(t, "GET", r.URL+"/leads/1"+q)
			if resp.StatusCode != 400 || errorCode(body) != "api_key_in_url" {
				t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
			}
		}
	})
	t.Run("tampered checksum refused without a store lookup", func(t *testing.T) {
		before := r.keyAuth.Lookups.Load()
		// The checksum's last character, changed. ('0' ^ c&1 was meant
		// to flip it, but is c itself for c = '0' or '1': the test then
		// sent the real key, about one run in 31.)
		repl := "A"
		if key[len(key)-1] == 'A' {
			repl = "B"
		}
		bad := key[:len(key)-1] + repl
		if bad == key {
			t.Fatal("the tampered key is the key")
		}
		for range 50 {
			if resp, body := call(t, "GET", r.URL+"/leads/1", "Authorization", "Bearer "+bad); resp.StatusCode != 401 || errorCode(body) != "invalid_api_key" {
				t.Fatalf("tampered: %d %s", resp.StatusCode, body)
			}
		}
		if n := r.keyAuth.Lookups.Load() - before; n != 0 {
			t.Fatalf("%d store lookups for malformed keys", n)
		}
	})
	t.Run("scope escalation", func(t *testing.T) {
		// alice's template grants leads.export; the key's scopes do not.
		if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", key); resp.StatusCode != 200 {
			t.Fatalf("in scope: %d", resp.StatusCode)
		}
		if resp, body := call(t, "GET", r.URL+"/export/all.csv", "X-API-Key", key, "Accept", "application/json"); resp.StatusCode != 403 || !strings.Contains(body, "leads.export") {
			t.Fatalf("out of scope: %d %s", resp.StatusCode, body)
		}
		// A scope the user lacks cannot be put on a key at all.
		if code, out := runCLI(t, r, "apikey", "create", "--user", "bob", "--scopes", "admin"); code == 0 || !strings.Contains(out, `"admin" is not a feature bob's template grants`) {
			t.Fatalf("create with a scope beyond the user: %d %s", code, out)
		}
	})
	t.Run("key used to manage keys", func(t *testing.T) {
		req, _ := http.NewRequest("GET", r.URL+"/.gatehouse/account", nil)
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Accept", "text/html")
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login") {
			t.Fatalf("account page with a key: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("brute-forced secrets", func(t *testing.T) {
		// Well-formed keys (valid checksum) with wrong secrets: after
		// login.ip_attempts failures the address is refused, even with
		// the right key.
		for i := range 5 {
			guess, _ := apikey.Generate(id)
			if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", guess); resp.StatusCode != 401 {
				t.Fatalf("guess %d: %d", i, resp.StatusCode)
			}
		}
		r.keyAuth.Evict(id) // the right key's cache entry would answer without a guess check
		resp, body := call(t, "GET", r.URL+"/leads/1", "X-API-Key", key)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("after 5 guesses: %d %s", resp.StatusCode, body)
		}
		_ = secret
		r.a.store.Reset(t.Context(), "apikey:fail:127.0.0.1")
	})
	t.Run("disabled user", func(t *testing.T) {
		bobKey := createKey(t, r, "--user", "bob")
		if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", bobKey); resp.StatusCode != 200 {
			t.Fatalf("bob's key: %d", resp.StatusCode)
		}
		if code, out := runCLI(t, r, "user", "disable", "bob"); code != 0 {
			t.Fatal(out)
		}
		r.refresh(t)
		if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", bobKey); resp.StatusCode != 401 {
			t.Fatalf("disabled user's key: %d", resp.StatusCode)
		}
	})
	t.Run("network allowlist of the key", func(t *testing.T) {
		far := createKey(t, r, "--user", "alice", "--allow-ips", "10.0.0.0/8")
		if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", far); resp.StatusCode != 403 {
			t.Fatalf("key from outside its list: %d", resp.StatusCode)
		}
	})
	t.Run("expired", func(t *testing.T) {
		short := createKey(t, r, "--user", "alice", "--expires", "2h")
		if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", short); resp.StatusCode != 200 {
			t.Fatalf("fresh key: %d", resp.StatusCode)
		}
		// The CLI stamps the key with the real time, which ran on while the
		// replica's clock stood still; a minute covers the gap.
		clk.Advance(2*time.Hour + time.Minute)
		r.refresh(t)
		if resp, body := call(t, "GET", r.URL+"/leads/1", "X-API-Key", short); resp.StatusCode != 401 || !strings.Contains(body, "expired") {
			t.Fatalf("expired key: %d %s", resp.StatusCode, body)
		}
		if code, out := runCLI(t, r, "apikey", "create", "--user", "alice", "--expires", "400d"); code == 0 || !strings.Contains(out, "max_lifetime") {
			t.Fatalf("beyond max_lifetime: %d %s", code, out)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		if code, out := runCLI(t, r, "apikey", "revoke", id); code != 0 {
			t.Fatal(out)
		}
		time.Sleep(apikey.CacheTTL) // the bound a revocation takes where no event reaches
		if resp, _ := call(t, "GET", r.URL+"/leads/1", "X-API-Key", key); resp.StatusCode != 401 {
			t.Fatalf("revoked key: %d", resp.StatusCode)
		}
	})
	// No key ever reaches the log, not even one refused for being in the
	// URL (DESIGN: no secret is ever logged).
	if strings.Contains(r.stderr.String(), secret) {
		t.Error("a key's secret appears in the gateway's log")
	}
	events, _ := r.a.dir.ListAudit(t.Context(), 500)
	reasons := map[string]bool{}
	for _, e := range events {
		if e.Event == "api_key_refused" {
			reasons[e.Detail["reason"]] = true
		}
	}
	for _, want := range []string{"in_query", "unknown", "scope", "network", "expired", "revoked"} {
		if !reasons[want] {
			t.Errorf("no api_key_refused event with reason %q (got %v)", want, reasons)
		}
	}
}

// TestAPIKeyRateLimit: over the policy's per-key limit the answer is 429
// with Retry-After, counted in the shared store.
func TestAPIKeyRateLimit(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "policy: {api_keys: {rate_limit: {requests: 3, window: 5s}}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	key := createKey(t, r, "--user", "alice")
	for i := range 3 {
		if resp, _ := call(t, "GET", r.URL+"/", "X-API-Key", key); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := call(t, "GET", r.URL+"/", "X-API-Key", key)
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || ra < 1 || ra > 5 || errorCode(body) != "rate_limited" {
		t.Fatalf("4th request: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

// TestAPIKeyRevokedOnOtherReplica: two gateways on PostgreSQL and Redis;
// a key revoked through the CLI is refused by the replica that had it
// cached within a second.
func TestAPIKeyRevokedOnOtherReplica(t *testing.T) {
	a, b := twoReplicas(t, "")
	a.addUser(t, "alice", alicePW, "sales")
	key := createKey(t, a, "--user", "alice")
	id, _, _ := apikey.Parse(key)
	if resp, _ := call(t, "GET", b.URL+"/", "X-API-Key", key); resp.StatusCode != 200 {
		t.Fatalf("on B before: %d", resp.StatusCode)
	}
	start := time.Now()
	if code, out := runCLI(t, a, "apikey", "revoke", id); code != 0 {
		t.Fatal(out)
	}
	for {
		resp, _ := call(t, "GET", b.URL+"/", "X-API-Key", key)
		if resp.StatusCode == 401 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("replica B still accepts the key %s after the revocation", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revoked key refused on replica B after %s", time.Since(start).Round(time.Millisecond))
}

// TestAPIKeyNetworkAllowlist: network.allow_api replaces the browser
// lists for key requests, in both directions.
func TestAPIKeyNetworkAllowlist(t *testing.T) {
	up := startUpstream(t)
	// Browsers only from 10/8, programs only from loopback.
	r := startReplica(t, sqliteConfig(t, up, "policy: {network: {allow: [10.0.0.0/8], allow_api: [{cidr: 127.0.0.0/8, description: ETL servers}]}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	key := createKey(t, r, "--user", "alice")
	if resp, body := call(t, "GET", r.URL+"/", "X-API-Key", key); resp.StatusCode != 200 {
		t.Fatalf("key from an allow_api address: %d %s", resp.StatusCode, body)
	}
	if resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", map[string][]string{"username": {"alice"}, "password": {alicePW}}); resp.StatusCode != 403 {
		t.Fatalf("browser login from outside allow: %d", resp.StatusCode)
	}

	// And the other way round: the key is refused where browsers pass.
	r2 := startReplica(t, sqliteConfig(t, up, "policy: {network: {allow_api: [{cidr: 10.0.0.0/8, description: office}]}}\n"), newClock())
	r2.addUser(t, "alice", alicePW, "sales")
	key2 := createKey(t, r2, "--user", "alice")
	if resp, _ := call(t, "GET", r2.URL+"/", "X-API-Key", key2); resp.StatusCode != 403 {
		t.Fatalf("key from outside allow_api: %d", resp.StatusCode)
	}
	newBrowser(t, r2.URL).Login(t, "alice", alicePW)
	events, _ := r2.a.dir.ListAudit(t.Context(), 50)
	found := false
	for _, e := range events {
		found = found || e.Event == "network_blocked" && e.Detail["rule"] == "api_allowlist"
	}
	if !found {
		t.Fatal("no network_blocked event with rule api_allowlist")
	}
}

// TestAPIKeySelfService: a user creates, sees and revokes their own keys
// on the account page; after five minutes a change needs the password
// again; another user's key cannot be revoked from there.
func TestAPIKeySelfService(t *testing.T) {
	up := startUpstream(t)
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	bobKey := createKey(t, r, "--user", "bob")
	bobID, _, _ := apikey.Parse(bobKey)

	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="no-keys"`) || strings.Contains(body, `id="key-reauth"`) {
		t.Fatalf("account page of a fresh session:\n%s", body)
	}
	resp, body := b.Do(t, "POST", "/.gatehouse/account/apikeys", map[string][]string{"name": {"laptop script"}, "expires_days": {"30"}, "scopes": {"leads.view"}})
	start := strings.Index(body, `<code id="apikey">`)
	if resp.StatusCode != 200 || start < 0 {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	key := body[start+len(`<code id="apikey">`):]
	key = key[:strings.Index(key, "<")]
	id, _, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("shown key %q: %v", key, err)
	}
	if resp, _ := call(t, "GET", r.URL+"/", "X-API-Key", key); resp.StatusCode != 200 {
		t.Fatalf("the new key: %d", resp.StatusCode)
	}
	// A page on another site cannot make the browser create or revoke a
	// key (DESIGN: every state-changing form is CSRF-protected).
	for _, path := range []string{"/.gatehouse/account/apikeys", "/.gatehouse/account/apikeys/" + id + "/revoke"} {
		resp, _ := b.Do(t, "POST", path, map[string][]string{"name": {"evil"}, "expires_days": {"30"}},
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if resp, _ := call(t, "GET", r.URL+"/", "X-API-Key", key); resp.StatusCode != 200 {
		t.Fatalf("the key after the cross-site revoke attempt: %d", resp.StatusCode)
	}
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="key-`+id+`"`) || !strings.Contains(body, "laptop script") || strings.Contains(body, key) {
		t.Fatalf("account page lists the key (and never the secret):\n%s", body)
	}

	// Six minutes later, changes need the password.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	if resp, body := b.Do(t, "POST", "/.gatehouse/account/apikeys/"+id+"/revoke", nil); resp.StatusCode != 403 || !strings.Contains(body, "Enter your password") {
		t.Fatalf("stale session revoking without the password: %d", resp.StatusCode)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/apikeys/"+id+"/revoke", map[string][]string{"reauth": {"wrong password"}}); resp.StatusCode != 403 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/apikeys/"+bobID+"/revoke", map[string][]string{"reauth": {alicePW}}); resp.StatusCode != 404 {
		t.Fatalf("revoking bob's key from alice's page: %d", resp.StatusCode)
	}
	if resp, body := b.Do(t, "POST", "/.gatehouse/account/apikeys/"+id+"/revoke", map[string][]string{"reauth": {alicePW}}); resp.StatusCode != 200 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoke with the password: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", r.URL+"/", "X-API-Key", key); resp.StatusCode != 401 {
		t.Fatalf("revoked key on the replica that revoked it: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", r.URL+"/", "X-API-Key", bobKey); resp.StatusCode != 200 {
		t.Fatalf("bob's key after alice's attempt: %d", resp.StatusCode)
	}
}

// TestAPIKeyPolicy: the policy's api_keys section applies to keys that
// exist already, at their next request (docs/apikeys.md's table).
func TestAPIKeyPolicy(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	key := createKey(t, r, "--user", "alice")
	for _, c := range []struct {
		policy string
		status int
		code   string
	}{
		{"api_keys: {roles: [admin]}\n", http.StatusForbidden, "api_keys_not_allowed"},
		// A partial file is merged onto the policy in force: roles stays
		// unless removed (null).
		{"api_keys: {enabled: false, roles: null}\n", http.StatusUnauthorized, "api_keys_disabled"},
		{"api_keys: {enabled: true}\n", http.StatusOK, ""},
	} {
		if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", writeFile(t, "p.yaml", c.policy)); code != 0 {
			t.Fatal(out)
		}
		r.refresh(t)
		resp, body := call(t, "GET", r.URL+"/", "X-API-Key", key)
		if resp.StatusCode != c.status || c.code != "" && errorCode(body) != c.code {
			t.Fatalf("%s: %d %s", c.policy, resp.StatusCode, body)
		}
	}
}
