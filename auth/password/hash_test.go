package password

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// testParams is the cheapest cost decode accepts, so tests that hash many
// times stay fast; BenchmarkVerify measures the real cost.
var testParams = Params{Time: 1, Memory: 8 * 1024, Threads: 1}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := NewHasher(testParams, 2)
	ctx := t.Context()
	for _, pw := range []string{
		"correct horse battery staple",
		"aaaaaaaa",
		"pässwörd-ünïcödé-密码",
		strings.Repeat("x", MaxLength),
	} {
		encoded, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		if !strings.HasPrefix(encoded, "$argon2id$v=19$m=8192,t=1,p=1$") {
			t.Errorf("Hash: got %q, want a PHC argon2id string with the hasher's params", encoded)
		}
		if ok, err := h.Verify(ctx, encoded, pw); !ok || err != nil {
			t.Errorf("Verify(right password %.20q): got %v, %v, want true, nil", pw, ok, err)
		}
		if ok, err := h.Verify(ctx, encoded, pw+"!"); ok || err != nil {
			t.Errorf("Verify(wrong password %.20q): got %v, %v, want false, nil", pw, ok, err)
		}
	}
}

func TestHashIsSalted(t *testing.T) {
	h := NewHasher(testParams, 1)
	a, _ := h.Hash(t.Context(), "same password")
	b, _ := h.Hash(t.Context(), "same password")
	if a == b {
		t.Errorf("two hashes of one password: got equal %q, want different salts", a)
	}
}

// TestVerifyUnknownUser: an empty stored hash stands for "no such user"
// and must never verify, whatever the password (the empty one included).
func TestVerifyUnknownUser(t *testing.T) {
	h := NewHasher(testParams, 1)
	for _, pw := range []string{"", "aaaaaaaa", "correct horse battery staple"} {
		ok, err := h.Verify(t.Context(), "", pw)
		if ok || err != nil {
			t.Errorf("Verify(\"\", %q): got %v, %v, want false, nil", pw, ok, err)
		}
	}
}

// TestPlantedHashRefused feeds hashes an attacker with write access to one
// user row might plant. Each must be refused by decode before a hashing
// slot is taken: the only slot is held for the whole test, so a Verify
// that tried to run argon2 (say with m=4 GiB) would block instead.
func TestPlantedHashRefused(t *testing.T) {
	h := NewHasher(testParams, 1)
	good, err := h.Hash(t.Context(), "aaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$") // "", argon2id, v=19, params, salt, key
	b64 := base64.RawStdEncoding.EncodeToString
	with := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return strings.Join(g, "$")
	}
	tests := []struct{ name, encoded string }{
		{"plain text", "aaaaaaaa"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"argon2d", with(1, "argon2d")},
		{"old version", with(2, "v=16")},
		{"missing version", strings.Join(append(f[:2:2], f[3:]...), "$")},
		{"extra field", good + "$x"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"memory 4 GiB", with(3, "m=4194304,t=1,p=1")},
		{"memory too low", with(3, "m=1024,t=1,p=1")},
		{"time zero", with(3, "m=8192,t=0,p=1")},
		{"time huge", with(3, "m=8192,t=4000000000,p=1")},
		{"threads zero", with(3, "m=8192,t=1,p=0")},
		{"threads 255", with(3, "m=8192,t=1,p=255")},
		{"threads overflow", with(3, "m=8192,t=1,p=300")},
		{"negative memory", with(3, "m=-1,t=1,p=1")},
		{"params reordered", with(3, "t=1,m=8192,p=1")},
		{"params garbage", with(3, "m=lots")},
		{"salt bad base64", with(4, "!!!!!!!!!!!!")},
		{"salt padded base64", with(4, f[4]+"==")},
		{"salt too short", with(4, b64([]byte("1234")))},
		{"key bad base64", with(5, "not*base64")},
		{"key too short", with(5, b64(make([]byte, 8)))},
		{"key too long", with(5, b64(make([]byte, 128)))},
		{"empty key", with(5, "")},
	}
	if err := h.acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.release()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			ok, err := h.Verify(ctx, tc.encoded, "aaaaaaaa")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q): got %v, %v, want false, ErrMalformedHash without waiting for a slot", tc.encoded, ok, err)
			}
			if !h.NeedsRehash(tc.encoded) {
				t.Errorf("NeedsRehash(%q): got false, want true", tc.encoded)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h := NewHasher(testParams, 1)
	stronger := NewHasher(Params{Time: 2, Memory: 8 * 1024, Threads: 1}, 1)
	mine, _ := h.Hash(t.Context(), "aaaaaaaa")
	theirs, _ := stronger.Hash(t.Context(), "aaaaaaaa")
	tests := []struct {
		name    string
		encoded string
		want    bool
	}{
		{"same params", mine, false},
		{"other params", theirs, true},
		{"malformed", "nonsense", true},
		{"empty", "", true},
	}
	for _, tc := range tests {
		if got := h.NeedsRehash(tc.encoded); got != tc.want {
			t.Errorf("NeedsRehash(%s): got %v, want %v", tc.name, got, tc.want)
		}
	}
	// A hash with other params still verifies, so the caller can rehash
	// at the next successful login.
	if ok, err := h.Verify(t.Context(), theirs, "aaaaaaaa"); !ok || err != nil {
		t.Errorf("Verify(hash with other params): got %v, %v, want true, nil", ok, err)
	}
}

func TestCheckNew(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"empty", "", false},
		{"7 chars", "abcdefg", false},
		{"8 chars", "abcdefgh", true},
		{"no composition rules", "aaaaaaaa", true},
		{"8 runes, more bytes", "äöüßéèêë", true},
		{"7 runes, more than 8 bytes", "äöüßéèê", false},
		{"64 chars", strings.Repeat("p", 64), true},
		{"1024 bytes", strings.Repeat("p", MaxLength), true},
		{"1025 bytes", strings.Repeat("p", MaxLength+1), false},
		{"invalid UTF-8", "abcdefgh\xff", false},
		{"spaces allowed", "a b c d e f g h", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNew(tc.pw)
			if got := err == nil; got != tc.ok {
				t.Errorf("CheckNew(%.20q): got error %v, want ok=%v", tc.pw, err, tc.ok)
			}
		})
	}
}

// TestNoTruncation guards against bcrypt-style silent truncation: a long
// password verifies only in full.
func TestNoTruncation(t *testing.T) {
	h := NewHasher(testParams, 1)
	pw := strings.Repeat("0123456789", 10)
	encoded, err := h.Hash(t.Context(), pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{8, 64, 72, 99} {
		if ok, _ := h.Verify(t.Context(), encoded, pw[:n]); ok {
			t.Errorf("Verify(first %d of 100 chars): got true, want false", n)
		}
	}
	if ok, _ := h.Verify(t.Context(), encoded, pw); !ok {
		t.Errorf("Verify(all 100 chars): got false, want true")
	}
}

// verifyInBackground starts Verify and returns a channel with its result.
func verifyInBackground(ctx context.Context, h *Hasher, encoded, pw string) <-chan error {
	done := make(chan error, 1)
	go func() {
		ok, err := h.Verify(ctx, encoded, pw)
		if err == nil && !ok {
			err = errors.New("Verify returned false")
		}
		done <- err
	}()
	return done
}

// blockedSlotTest runs fn in a synctest bubble (so synctest.Wait tells
// "blocked" from "not yet scheduled") with a one-slot hasher whose slot
// is held, and a hash of "aaaaaaaa".
func blockedSlotTest(t *testing.T, fn func(t *testing.T, h *Hasher, encoded string)) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(testParams, 0) // clamped to one slot
		encoded, err := h.Hash(t.Context(), "aaaaaaaa")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, h, encoded)
	})
}

// TestVerifyCancelledWhileWaiting: a Verify queued behind busy slots gives
// up when its context ends instead of waiting for ever.
func TestVerifyCancelledWhileWaiting(t *testing.T) {
	blockedSlotTest(t, func(t *testing.T, h *Hasher, encoded string) {
		ctx, cancel := context.WithCancel(t.Context())
		done := verifyInBackground(ctx, h, encoded, "aaaaaaaa")
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Verify with the only slot held: returned %v, want it to wait", err)
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Verify cancelled while waiting: got %v, want context.Canceled", err)
		}
		if _, err := h.Hash(ctx, "aaaaaaaa"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash with slot held, context cancelled: got %v, want context.Canceled", err)
		}
	})
}

// TestVerifyQueuesForSlot: a Verify arriving while every slot is busy
// waits (it does not hash beside the others) and completes once a slot
// frees.
func TestVerifyQueuesForSlot(t *testing.T) {
	blockedSlotTest(t, func(t *testing.T, h *Hasher, encoded string) {
		done := verifyInBackground(t.Context(), h, encoded, "aaaaaaaa")
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Verify with the only slot held: returned %v, want it to wait", err)
		default:
		}
		h.release()
		if err := <-done; err != nil {
			t.Errorf("Verify after the slot was freed: got %v, want success", err)
		}
	})
}

// BenchmarkVerify is one argon2id verification at the production cost
// (Default), the price of one login attempt.
func BenchmarkVerify(b *testing.B) {
	h := NewHasher(Default, 1)
	encoded, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if ok, err := h.Verify(ctx, encoded, "correct horse battery staple"); !ok || err != nil {
			b.Fatalf("Verify: got %v, %v", ok, err)
		}
	}
}
