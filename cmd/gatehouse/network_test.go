package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

const blockedPage = "Access from this network is not allowed"

// from sends requests as if from addr behind the trusted proxy
// (127.0.0.1, the test client's real address).
func from(addr string) []string { return []string{"X-Forwarded-For", addr} }

func loginFrom(t *testing.T, b *browser, user, pw, addr string) (*http.Response, string) {
	t.Helper()
	return b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {user}, "password": {pw}, "rd": {"/"}}, from(addr)...)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOrgAllowlistThroughTrustedProxyChain(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [127.0.0.1, 10.255.0.0/16]\npolicy: {network: {allow: [{cidr: 10.0.0.0/8, description: Bangalore office}, '2001:db8::/32']}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)

	// Client 10.1.2.3 → proxy 10.255.0.1 → proxy 127.0.0.1 → gateway.
	if resp, body := loginFrom(t, b, "alice", alicePW, "10.1.2.3, 10.255.0.1"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login from inside: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Get(t, "/", from("2001:db8::5")...); resp.StatusCode != 200 {
		t.Fatalf("request from inside (ipv6): %d", resp.StatusCode)
	}
	before := up.Count()
	resp, body := b.Get(t, "/", from("203.0.113.9, 10.255.0.1")...)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, blockedPage) || up.Count() != before {
		t.Fatalf("request from outside: %d (upstream hit: %v)\n%s", resp.StatusCode, up.Count() != before, body)
	}
	if strings.Contains(body, "org_allowlist") || strings.Contains(body, "10.0.0.0") || strings.Contains(body, "Bangalore") {
		t.Fatal("the blocked page names the list that matched")
	}
	// An API client gets JSON.
	resp, body = b.Get(t, "/api/leads", "Accept", "application/json", "X-Forwarded-For", "203.0.113.9")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"network_blocked"`) {
		t.Fatalf("API client from outside: %d %s", resp.StatusCode, body)
	}
	// A fresh login from outside is refused before any password check.
	if resp, body := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, "203.0.113.9"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, blockedPage) {
		t.Fatalf("login from outside: %d\n%s", resp.StatusCode, body)
	}
	// The login page itself says so.
	if resp, body := newBrowser(t, r.URL).Get(t, "/.gatehouse/login", from("203.0.113.9")...); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, blockedPage) {
		t.Fatalf("login page from outside: %d", resp.StatusCode)
	}
	wantAudit(t, r, "network_blocked", "org_allowlist")
}

// TestSpoofedForwardingHeadersCannotEscapeAllowlist: from an untrusted
// peer, X-Forwarded-For, X-Real-IP and Forwarded change nothing.
func TestSpoofedForwardingHeadersCannotEscapeAllowlist(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [10.255.0.0/16]\npolicy: {network: {allow: [10.0.0.0/8]}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	resp, body := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}},
		"X-Forwarded-For", "10.1.2.3", "X-Real-IP", "10.1.2.3", "Forwarded", "for=10.1.2.3")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, blockedPage) || b.Cookie("gatehouse") != nil {
		t.Fatalf("spoofed headers from 127.0.0.1: got %d, want 403 and no session", resp.StatusCode)
	}
}

func TestRoleAndUserAllowlists(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [127.0.0.1]\npolicy: {network: {allow_roles: {admin: [{cidr: 10.1.0.0/16, description: admin VPN}]}}}\n"), newClock())
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")

	// Admins only from 10.1/16; other roles anywhere.
	if resp, _ := loginFrom(t, newBrowser(t, r.URL), "root", alicePW, "198.51.100.1"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin from outside the admin list: %d, want 403", resp.StatusCode)
	}
	admin := newBrowser(t, r.URL)
	if resp, _ := loginFrom(t, admin, "root", alicePW, "10.1.7.7"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin from inside: %d", resp.StatusCode)
	}
	if resp, _ := admin.Get(t, "/", from("198.51.100.1")...); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin session used from outside: %d, want 403", resp.StatusCode)
	}
	b := newBrowser(t, r.URL)
	if resp, _ := loginFrom(t, b, "alice", alicePW, "198.51.100.1"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sales from anywhere: %d", resp.StatusCode)
	}

	// A per-user list applies to alice's existing session at once.
	if code, out := runCLI(t, r, "user", "allow-ips", "alice", "192.0.2.0/24=Bangalore office", "2001:db8::1"); code != 0 ||
		!strings.Contains(out, "alice may connect only from 192.0.2.0/24 (Bangalore office), 2001:db8::1/128;") {
		t.Fatalf("allow-ips: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "show", "alice"); code != 0 || !strings.Contains(out, " 192.0.2.0/24 (Bangalore office), 2001:db8::1/128\n") {
		t.Fatalf("user show with an allowlist: %d %s", code, out)
	}
	r.refresh(t)
	if resp, _ := b.Get(t, "/", from("198.51.100.1")...); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice outside her new list: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/", from("192.0.2.44")...); resp.StatusCode != 200 {
		t.Fatalf("alice inside her list: %d", resp.StatusCode)
	}
	if code, out := runCLI(t, r, "user", "allow-ips", "alice", "--clear"); code != 0 {
		t.Fatalf("allow-ips --clear: %d %s", code, out)
	}
	r.refresh(t)
	if resp, _ := b.Get(t, "/", from("198.51.100.1")...); resp.StatusCode != 200 {
		t.Fatalf("after --clear: %d", resp.StatusCode)
	}
	if code, out := runCLI(t, r, "user", "allow-ips", "alice", "not-an-ip"); code != 2 || !strings.Contains(out, "not-an-ip") {
		t.Fatalf("bad CIDR: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "allow-ips", "alice", "10.0.0.0/8="+strings.Repeat("x", 201)); code != 2 ||
		!strings.Contains(out, "the description of 10.0.0.0/8: at most 200 characters") {
		t.Fatalf("a long description: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "allow-ips", "--help"); code != 0 || !strings.Contains(out, `"10.1.0.0/16=Bangalore office"`) {
		t.Fatalf("allow-ips --help: %d %s", code, out)
	}
	wantAudit(t, r, "network_blocked", "role_allowlist")
	wantAudit(t, r, "network_blocked", "user_allowlist")
}

func TestTorExitBlocking(t *testing.T) {
	up := startUpstream(t)
	torList := writeFile(t, "exits.txt", "185.220.101.4\n2a0b:f4c2::1\n")
	r := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [127.0.0.1]\nnetwork: {tor_exit_list: {file: "+torList+"}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")

	if resp, body := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, "185.220.101.4"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, blockedPage) {
		t.Fatalf("login from a Tor exit: %d", resp.StatusCode)
	}
	if resp, _ := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, "::ffff:185.220.101.4"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login from a Tor exit written as IPv4-mapped IPv6: %d", resp.StatusCode)
	}
	b := newBrowser(t, r.URL)
	loginFrom(t, b, "alice", alicePW, "198.51.100.1")
	// block_tor: login (the default) lets an existing session through Tor...
	if resp, _ := b.Get(t, "/", from("185.220.101.4")...); resp.StatusCode != 200 {
		t.Fatalf("request via Tor with block_tor login: %d", resp.StatusCode)
	}
	// ...block_tor: all does not, from the next poll on.
	pf := writeFile(t, "p.yaml", "network: {block_tor: all}\n")
	if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", pf); code != 0 {
		t.Fatal(out)
	}
	r.refresh(t)
	if resp, _ := b.Get(t, "/", from("2a0b:f4c2::1")...); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("request via Tor with block_tor all: %d", resp.StatusCode)
	}
	wantAudit(t, r, "network_blocked", "tor_exit")
}

// TestTorListUnavailableFailsClosed: a Tor list from a URL that cannot be
// fetched leaves the gateway up, but logins cannot be checked and get 503.
func TestTorListUnavailableFailsClosed(t *testing.T) {
	up := startUpstream(t)
	port := freePort(t)
	r := startReplica(t, sqliteConfig(t, up, fmt.Sprintf("network: {tor_exit_list: {url: 'https://127.0.0.1:%d/exits'}}\n", port)), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("login with the Tor list unavailable: %d, want 503", resp.StatusCode)
	}
}

func TestAnonymousProxyBlocking(t *testing.T) {
	up := startUpstream(t)
	db, _ := filepath.Abs("../../auth/network/anonip/testdata/GeoIP2-Anonymous-IP-Test.mmdb")
	r := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [127.0.0.1]\nnetwork: {anonymous_ip_db: {file: "+db+"}}\n"+
		"policy: {network: {block_anonymous: [is_anonymous_vpn, is_public_proxy]}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	for addr, want := range map[string]int{
		"6.1.0.1":        http.StatusForbidden, // VPN
		"6.1.0.3":        http.StatusForbidden, // public proxy
		"2001:480:3a::1": http.StatusForbidden, // public proxy, IPv6
		"6.1.0.2":        http.StatusSeeOther,  // hosting only: not chosen by the policy
		"65.0.0.1":       http.StatusSeeOther,  // Tor flag only: not chosen
		"8.8.8.8":        http.StatusSeeOther,  // not in the database
	} {
		if resp, _ := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, addr); resp.StatusCode != want {
			t.Errorf("login from %s: %d, want %d", addr, resp.StatusCode, want)
		}
	}
	wantAudit(t, r, "network_blocked", "anonymous_ip")
}

func TestDenyFile(t *testing.T) {
	up := startUpstream(t)
	deny := writeFile(t, "deny.txt", "# abusive ranges\n198.51.100.0/24\n2001:db8:bad::/48 # scanner\n")
	r := startReplica(t, sqliteConfig(t, up, "trusted_proxies: [127.0.0.1]\nnetwork: {deny_file: "+deny+"}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	if resp, _ := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, "198.51.100.77"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login from a denied range: %d", resp.StatusCode)
	}
	if resp, _ := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, "2001:db8:bad::9"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login from a denied IPv6 range: %d", resp.StatusCode)
	}
	if resp, _ := loginFrom(t, newBrowser(t, r.URL), "alice", alicePW, "192.0.2.1"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login from elsewhere: %d", resp.StatusCode)
	}
}

// TestPolicyChangeEndsForbiddenSessionOnOtherReplica: an allowlist set
// through one replica's stores refuses, on the other replica, a session
// used from an address now outside it.
func TestPolicyChangeEndsForbiddenSessionOnOtherReplica(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	addr, prefix := storetest.RedisAddr(t), storetest.RedisPrefix(t)
	up := startUpstream(t)
	cfg := productionConfig(t, dsn, addr, prefix, up) + "trusted_proxies: [127.0.0.1]\n"
	clk := newClock()
	a := startReplica(t, cfg, clk)
	b := startReplica(t, cfg, clk)
	a.addUser(t, "alice", alicePW, "sales")
	onA := newBrowser(t, a.URL)
	loginFrom(t, onA, "alice", alicePW, "10.1.2.3")
	onB := newBrowser(t, b.URL)
	onB.SetCookie("gatehouse", onA.Cookie("gatehouse").Value)
	if resp, _ := onB.Get(t, "/", from("10.1.2.3")...); resp.StatusCode != 200 {
		t.Fatalf("before the change: %d", resp.StatusCode)
	}
	pf := writeFile(t, "p.yaml", "network: {allow: [192.168.0.0/16]}\n")
	if code, out := runCLI(t, a, "policy", "set", "--yes", "--file", pf); code != 0 {
		t.Fatal(out)
	}
	b.refresh(t)
	if resp, body := onB.Get(t, "/", from("10.1.2.3")...); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, blockedPage) {
		t.Fatalf("after the change, on the other replica: %d", resp.StatusCode)
	}
	if resp, _ := onB.Get(t, "/", from("192.168.1.1")...); resp.StatusCode != 200 {
		t.Fatalf("from the new allowed network: %d", resp.StatusCode)
	}
}

func TestCheckIPCommand(t *testing.T) {
	up := startUpstream(t)
	torList := writeFile(t, "exits.txt", "185.220.101.4\n")
	r := startReplica(t, sqliteConfig(t, up, "network: {tor_exit_list: {file: "+torList+"}}\npolicy: {network: {allow_roles: {admin: [10.1.0.0/16]}}}\n"), newClock())
	r.addUser(t, "root", alicePW, "admin")
	code, out := runCLI(t, r, "check-ip", "185.220.101.4")
	if code != 0 || !strings.Contains(out, "login:            DENY (tor_exit)") || !strings.Contains(out, "request:          ALLOW") || !strings.Contains(out, "listed: true") {
		t.Fatalf("check-ip tor exit: %d\n%s", code, out)
	}
	code, out = runCLI(t, r, "check-ip", "198.51.100.1", "--user", "root")
	if code != 0 || !strings.Contains(out, "DENY (role_allowlist)") || !strings.Contains(out, "role allowlist:   outside") {
		t.Fatalf("check-ip for an admin outside the admin list: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "check-ip", "not-an-address"); code != 2 {
		t.Fatalf("bad address: %d %s", code, out)
	}
}

// wantAudit checks the directory's audit log has event (with the rule
// and a client address, when rule is given).
func wantAudit(t *testing.T, r *replica, event, rule string) {
	t.Helper()
	events, err := r.a.dir.ListAudit(t.Context(), 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Event == event && (rule == "" || e.Detail["rule"] == rule && e.ClientIP != "") {
			return
		}
	}
	js, _ := json.Marshal(events)
	t.Fatalf("no %s audit event with rule %s in %s", event, rule, js)
}
