package directorytest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// mustDevice reads a device that must exist.
func mustDevice(t *testing.T, d directory.Directory, id string) *directory.Device {
	t.Helper()
	dev, err := d.Device(t.Context(), id)
	if err != nil {
		t.Fatalf("Device(%q): %v", id, err)
	}
	return dev
}

func deviceIDs(ds []directory.Device) []string {
	ids := make([]string, len(ds))
	for i, dv := range ds {
		ids[i] = dv.ID
	}
	return ids
}

func testDevices(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice", Role: "sales"})
	bob := mustCreate(t, d, &directory.User{Username: "bob", Role: "sales"})
	// Sub-millisecond parts are dropped on the way in.
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m)*time.Minute + 123456) }
	ms := func(tm time.Time) time.Time { return tm.Truncate(time.Millisecond) }

	a1 := directory.Device{ID: "a1", UserID: alice.ID, ClientID: "mobile", UserAgent: "App/1.0 (iOS 19)",
		FirstSeen: at(0), LastSeen: at(1), LastIP: "192.0.2.1"}
	if err := d.AddDevice(ctx, a1); err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	got := mustDevice(t, d, "a1")
	wantUTC(t, "Device FirstSeen", got.FirstSeen)
	wantUTC(t, "Device LastSeen", got.LastSeen)
	if got.ID != "a1" || got.UserID != alice.ID || got.ClientID != "mobile" || got.UserAgent != "App/1.0 (iOS 19)" ||
		!got.FirstSeen.Equal(ms(at(0))) || !got.LastSeen.Equal(ms(at(1))) || got.LastIP != "192.0.2.1" ||
		!got.RevokedAt.IsZero() || got.RevokeReason != "" {
		t.Fatalf("Device(a1) = %+v, want what was added, to the millisecond", got)
	}
	// A revoked device cannot be added: revoking goes through RevokeDevices.
	a2 := directory.Device{ID: "a2", UserID: alice.ID, ClientID: "mobile", FirstSeen: at(10),
		RevokedAt: at(10), RevokeReason: "user"}
	if err := d.AddDevice(ctx, a2); err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	if got := mustDevice(t, d, "a2"); !got.RevokedAt.IsZero() || got.RevokeReason != "" || !got.LastSeen.Equal(ms(at(10))) {
		t.Fatalf("Device(a2) = %+v, want live, LastSeen = FirstSeen", got)
	}
	before := time.Now().Add(-time.Second)
	if err := d.AddDevice(ctx, directory.Device{ID: "a3", UserID: alice.ID}); err != nil {
		t.Fatalf("AddDevice without times: %v", err)
	}
	if got := mustDevice(t, d, "a3"); got.FirstSeen.Before(before) || !got.LastSeen.Equal(got.FirstSeen) {
		t.Fatalf("Device(a3) = %+v, want FirstSeen now and LastSeen = FirstSeen", got)
	} else {
		wantUTC(t, "Device FirstSeen (now)", got.FirstSeen)
	}
	if err := d.AddDevice(ctx, directory.Device{ID: "b1", UserID: bob.ID, FirstSeen: at(5)}); err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	wantErr(t, "AddDevice duplicate id", d.AddDevice(ctx, directory.Device{ID: "a1", UserID: bob.ID, FirstSeen: at(20)}), directory.ErrConflict)
	wantErr(t, "AddDevice unknown user", d.AddDevice(ctx, directory.Device{ID: "x1", UserID: "nobody", FirstSeen: at(20)}), directory.ErrNotFound)
	if got := mustDevice(t, d, "a1"); got.UserID != alice.ID {
		t.Fatalf("a conflicting AddDevice changed the device: %+v", got)
	}
	_, err := d.Device(ctx, "nope")
	wantErr(t, "Device unknown", err, directory.ErrNotFound)

	list, err := d.UserDevices(ctx, alice.ID)
	if err != nil {
		t.Fatalf("UserDevices: %v", err)
	}
	if got, want := deviceIDs(list), []string{"a3", "a2", "a1"}; !slices.Equal(got, want) {
		t.Fatalf("UserDevices(alice) = %v, want %v (newest FirstSeen first, only hers)", got, want)
	}
	if list, err := d.UserDevices(ctx, "nobody"); err != nil || len(list) != 0 {
		t.Fatalf("UserDevices(unknown) = %v, %v; want none", list, err)
	}

	// Touch: the newest use wins, whatever order they are written in.
	if err := d.TouchDevice(ctx, "a1", at(30), "198.51.100.7"); err != nil {
		t.Fatalf("TouchDevice: %v", err)
	}
	if err := d.TouchDevice(ctx, "a1", at(25), "203.0.113.9"); err != nil {
		t.Fatalf("TouchDevice (older): %v", err)
	}
	if got := mustDevice(t, d, "a1"); !got.LastSeen.Equal(ms(at(30))) || got.LastIP != "198.51.100.7" || !got.FirstSeen.Equal(ms(at(0))) {
		t.Fatalf("after touches: %+v, want LastSeen %v from 198.51.100.7", got, ms(at(30)))
	}
	wantErr(t, "TouchDevice unknown", d.TouchDevice(ctx, "nope", at(30), "192.0.2.1"), directory.ErrNotFound)

	gen := func() int64 {
		t.Helper()
		g, err := d.DevicesGeneration(ctx)
		if err != nil {
			t.Fatalf("DevicesGeneration: %v", err)
		}
		return g
	}
	revoke := func(user string, ids []string, when time.Time, reason string, want []string, moves bool) {
		t.Helper()
		what := fmt.Sprintf("RevokeDevices(%q)", ids)
		if ids == nil {
			what = "RevokeDevices(all)"
		}
		g0 := gen()
		got, err := d.RevokeDevices(ctx, user, ids, when, reason)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
		if g1 := gen(); moves && g1 == g0 {
			t.Errorf("%s revoked %v but the devices generation stayed %d", what, got, g0)
		} else if !moves && g1 != g0 {
			t.Errorf("%s revoked nothing but the devices generation moved %d -> %d", what, g0, g1)
		}
	}
	// One device; again (already revoked); bob's id through alice;
	// unknown ids; an empty (not nil) list, which is none, not all.
	revoke(alice.ID, []string{"a2", "a2"}, at(40), "another_device", []string{"a2"}, true)
	revoke(alice.ID, []string{"a2"}, at(41), "revoked", nil, false)
	revoke(alice.ID, []string{"b1", "nope"}, at(41), "revoked", nil, false)
	revoke("nobody", nil, at(41), "revoked", nil, false)
	revoke(alice.ID, []string{}, at(41), "revoked", nil, false)
	if got := mustDevice(t, d, "a2"); !got.RevokedAt.Equal(ms(at(40))) || got.RevokeReason != "another_device" {
		t.Fatalf("Device(a2) after revocations = %+v, want the first revocation's time and reason kept", got)
	}
	wantUTC(t, "Device RevokedAt", mustDevice(t, d, "a2").RevokedAt)
	if got := mustDevice(t, d, "b1"); !got.RevokedAt.IsZero() {
		t.Fatalf("bob's device revoked through alice: %+v", got)
	}
	// All of alice's: only the live ones are reported, sorted.
	revoke(alice.ID, nil, at(50), "user", []string{"a1", "a3"}, true)
	revoke(alice.ID, nil, at(51), "user", nil, false)
	if got := mustDevice(t, d, "b1"); !got.RevokedAt.IsZero() {
		t.Fatalf("bob's device revoked by revoking all of alice's: %+v", got)
	}
	revoke(bob.ID, []string{"b1"}, at(45), "refresh_reuse", []string{"b1"}, true)
	// A revoked device still lists, and can still be touched.
	if list, err := d.UserDevices(ctx, alice.ID); err != nil || len(list) != 3 || list[2].RevokeReason != "user" {
		t.Fatalf("UserDevices(alice) after revoking = %+v, %v; want all three, revoked", list, err)
	}
	if err := d.TouchDevice(ctx, "a1", at(60), "192.0.2.2"); err != nil {
		t.Fatalf("TouchDevice of a revoked device: %v", err)
	}

	since := func(from time.Time, want ...string) {
		t.Helper()
		got, err := d.RevokedDevicesSince(ctx, from)
		if err != nil {
			t.Fatalf("RevokedDevicesSince(%v): %v", from, err)
		}
		if !slices.Equal(deviceIDs(got), want) {
			t.Fatalf("RevokedDevicesSince(%v) = %v, want %v (oldest revocation first)", from, deviceIDs(got), want)
		}
		for _, dv := range got {
			wantUTC(t, "RevokedDevicesSince RevokedAt", dv.RevokedAt)
		}
	}
	since(time.Time{}, "a2", "b1", "a1", "a3")
	since(ms(at(45)), "b1", "a1", "a3") // at or after
	since(at(46), "a1", "a3")
	since(at(51))
}

// testDevicesConcurrentRevoke: replicas and the CLI revoking at once
// report each device exactly once between them.
func testDevicesConcurrentRevoke(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	var all []string
	for _, id := range []string{"d1", "d2", "d3", "d4", "d5"} {
		if err := d.AddDevice(ctx, directory.Device{ID: id, UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
	}
	const n = 8
	got := make([][]string, n)
	errs := runConcurrently(n, func(i int) error {
		var ids []string // half revoke all, half two of them
		if i%2 == 1 {
			ids = []string{"d2", "d4"}
		}
		var err error
		got[i], err = d.RevokeDevices(ctx, u.ID, ids, time.Now(), "revoked")
		return err
	})
	var reported []string
	for i, err := range errs {
		if err != nil {
			t.Fatalf("RevokeDevices %d: %v", i, err)
		}
		reported = append(reported, got[i]...)
	}
	slices.Sort(reported)
	if !slices.Equal(reported, all) {
		t.Fatalf("concurrent RevokeDevices reported %v between them, want each of %v once", reported, all)
	}
}
