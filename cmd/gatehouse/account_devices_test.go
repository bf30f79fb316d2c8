package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAccountDevices: a user sees their mobile devices on the account
// page and signs one out there, without entering the password again even
// on an old session; another user and a cross-site form cannot.
func TestAccountDevices(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), mobileConfig), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	app := mobileLogin(t, r, clk, "alice", alicePW)
	ids := deviceIDs(t, r, alice.ID)
	if len(ids) != 1 {
		t.Fatalf("devices: %v", ids)
	}
	dev := ids[0]
	revoke := "/.gatehouse/account/devices/" + dev + "/revoke"
	working := func(when string) {
		t.Helper()
		if resp, body := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != 200 {
			t.Fatalf("the device %s: %d %s", when, resp.StatusCode, body)
		}
	}

	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="device-`+dev+`"`) || !strings.Contains(body, "crm-mobile") ||
		!strings.Contains(body, `action="`+revoke+`"`) || !strings.Contains(body, "signed in") {
		t.Fatalf("account page lists the device:\n%s", body)
	}

	// Bob neither sees alice's device nor can sign it out, and the answer
	// is the same as for an id that does not exist.
	bob := newBrowser(t, r.URL)
	bob.Login(t, "bob", alicePW)
	if _, body := bob.Get(t, "/.gatehouse/account"); strings.Contains(body, dev) || strings.Contains(body, `id="devices"`) {
		t.Fatalf("bob's account page shows a device:\n%s", body)
	}
	foreign, foreignBody := bob.Do(t, "POST", revoke, nil)
	unknown, unknownBody := bob.Do(t, "POST", "/.gatehouse/account/devices/no-such-device/revoke", nil)
	if foreign.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound || foreignBody != unknownBody || strings.Contains(foreignBody, dev) {
		t.Fatalf("bob signing out alice's device: %d, an unknown one: %d\n%s", foreign.StatusCode, unknown.StatusCode, foreignBody)
	}
	working("after bob's attempt")

	// A page on another site cannot make alice's browser sign it out.
	if resp, _ := b.Do(t, "POST", revoke, nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site sign-out: %d, want 403", resp.StatusCode)
	}
	working("after the cross-site attempt")

	// Past the five minutes that key changes get, signing a device out
	// still needs no password: it only takes access away.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	if err := app.RefreshTokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	working("after six minutes")
	resp, body := b.Do(t, "POST", revoke, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Device "+dev+" signed out") || strings.Contains(body, `id="signout-`+dev+`"`) ||
		!strings.Contains(body, "signed out "+clk.Now().Format(time.DateTime)+" (revoked)") {
		t.Fatalf("sign-out: %d\n%s", resp.StatusCode, body)
	}
	// The table's words follow the page's language.
	if _, body := b.Get(t, "/.gatehouse/account", "Accept-Language", "es"); !strings.Contains(body, "sesión cerrada "+clk.Now().Format(time.DateTime)+" (revocado)") {
		t.Errorf("the Spanish account page does not word the device's state:\n%s", body)
	}
	resp, body = appCall(t, app, r.URL, "GET", "/")
	if resp.StatusCode != 401 || errorDescription(body) != "the device was signed out" {
		t.Fatalf("the signed-out device: %d %s", resp.StatusCode, body)
	}
	if err := app.RefreshTokens(t.Context()); err == nil {
		t.Fatal("a signed-out device refreshed")
	}
	// Posting again (a second click) changes nothing, not even what the
	// device is told.
	if resp, _ := b.Do(t, "POST", revoke, nil); resp.StatusCode != 200 {
		t.Fatalf("second sign-out: %d", resp.StatusCode)
	}
	if _, body := appCall(t, app, r.URL, "GET", "/"); errorDescription(body) != "the device was signed out" {
		t.Fatalf("the device after a second sign-out: %s", body)
	}
}
