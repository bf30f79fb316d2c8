package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPersonalDataExport: a user downloads what the gateway holds about
// them — profile, sessions, devices, keys, the events about them — and
// nothing secret, nothing about anyone else.
func TestPersonalDataExport(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	newBrowser(t, r.URL).Login(t, "bob", alicePW)
	key := createKey(t, r, "--user", "alice", "--name", "export job")
	mobileLogin(t, r, clk, "alice", alicePW)
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if _, page := b.Get(t, "/.gatehouse/account"); !strings.Contains(page, `href="/.gatehouse/account/data"`) {
		t.Fatal("the account page has no download link")
	}
	resp, body := b.Get(t, "/.gatehouse/account/data")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}
	var d struct {
		Profile struct {
			ID, Username, Email string
			HasPassword         bool `json:"has_password"`
		}
		Sessions      []struct{ ID, Address string }
		SessionsKnown bool `json:"sessions_known"`
		Devices       []struct{ ID, Client string }
		APIKeys       []struct{ ID, Name string } `json:"api_keys"`
		Events        []struct {
			Event  string
			UserID string `json:"user_id"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if d.Profile.ID != alice.ID || d.Profile.Username != "alice" || !d.Profile.HasPassword || !d.SessionsKnown ||
		len(d.Sessions) < 2 || len(d.Devices) != 1 || d.Devices[0].Client != "crm-mobile" || len(d.APIKeys) != 1 || d.APIKeys[0].Name != "export job" {
		t.Fatalf("export: %+v", d)
	}
	var logins int
	for _, e := range d.Events {
		if e.UserID != alice.ID {
			t.Fatalf("an event about someone else: %+v", e)
		}
		if e.Event == "login_success" {
			logins++
		}
	}
	if logins < 2 {
		t.Fatalf("login history: %d logins in %+v", logins, d.Events)
	}
	// Nothing secret: no hash, no seed, no key, no ticket.
	u, _ := r.a.dir.UserByID(t.Context(), alice.ID)
	for _, secret := range []string{u.PasswordHash, key, key[len(key)-20:], b.Cookie("gatehouse").Value, "argon2id", "bob"} {
		if strings.Contains(body, secret) {
			t.Fatalf("the export holds %q", secret)
		}
	}
	wantAudit(t, r, "personal_data_exported", "")
}
