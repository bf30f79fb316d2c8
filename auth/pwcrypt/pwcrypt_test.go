package pwcrypt

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/session"
)

// TestRoundTrip: the first challenge creates a 3072-bit key, sealed in the
// directory; a password encrypted for the challenge opens once, whatever
// it holds, up to the 1024 bytes the gateway accepts.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.challenge(t, f.ring)
	if want := f.clk.Now().Add(ChallengeTTL); !c.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", c.Expires, want)
	}
	pub, err := parsePublic(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if pub.N.BitLen() != KeyBits || Thumbprint(pub) != c.KID {
		t.Fatalf("key: %d bits, kid %q; want %d bits named by its thumbprint", pub.N.BitLen(), c.KID, KeyBits)
	}
	stored, _ := f.keys.SigningKeys(t.Context())
	if len(stored) != 1 || stored[0].Alg != Alg || stored[0].KID != c.KID {
		t.Fatalf("directory holds %+v, want the one %s key", stored, Alg)
	}
	if _, err := x509.ParsePKCS8PrivateKey(stored[0].Private); err == nil {
		t.Fatal("the private key is stored in clear")
	}
	for i, pw := range []string{"correct horse battery", `quote " backslash \ newline` + "\n", "日本語のパスワード🔑", strings.Repeat("\x01", 1024), ""} {
		c := f.challenge(t, f.ring)
		if c.KID != stored[0].KID {
			t.Fatalf("challenge %d under %s, want the one key", i, c.KID)
		}
		wantOpen(t, "round trip", f.ring, c.Token, encrypt(t, c, pw), pw)
	}
}

// TestChallengeNonceIsFresh: every challenge carries its own 128-bit
// random nonce.
func TestChallengeNonceIsFresh(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	seen := map[[16]byte]bool{}
	for range 100 {
		tok, err := parseToken(f.challenge(t, f.ring).Token, f.kr)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok.nonce] || tok.nonce == [16]byte{} {
			t.Fatalf("nonce %x repeated", tok.nonce)
		}
		seen[tok.nonce] = true
	}
}

// TestReplayedCiphertextRefused: a captured ciphertext sent again is
// refused, on this replica and on another one sharing the store.
func TestReplayedCiphertextRefused(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	c := f.challenge(t, f.ring)
	ct := encrypt(t, c, "pw")
	wantOpen(t, "first use", f.ring, c.Token, ct, "pw")
	wantRefused(t, "replay on the same replica", f.ring, c.Token, ct, ErrReplayed)
	wantRefused(t, "replay on another replica", f.replica(), c.Token, ct, ErrReplayed)
	// A new ciphertext for the spent challenge is a replay too.
	wantRefused(t, "spent challenge, new ciphertext", f.ring, c.Token, encrypt(t, c, "pw"), ErrReplayed)
}

// TestConcurrentReplayOneWins: many replicas racing with one ciphertext:
// exactly one opens it.
func TestConcurrentReplayOneWins(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	c := f.challenge(t, f.ring)
	ct := encrypt(t, c, "pw")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := f.replica().Open(context.Background(), c.Token, ct)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrReplayed):
			t.Fatalf("Open: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d replicas opened the ciphertext, want 1", won)
	}
}

// TestExpiredChallengeRefused: a challenge is good for ChallengeTTL.
func TestExpiredChallengeRefused(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	c := f.challenge(t, f.ring)
	late := f.challenge(t, f.ring)
	f.clk.Advance(ChallengeTTL - time.Second)
	wantOpen(t, "a second before expiry", f.ring, c.Token, encrypt(t, c, "pw"), "pw")
	f.clk.Advance(time.Second)
	wantRefused(t, "at expiry", f.ring, late.Token, encrypt(t, late, "pw"), ErrExpired)
}

// TestUnknownKeyRefused: a genuine challenge naming a key this
// directory does not hold (another deployment sharing the secrets key, a
// key retired since) is refused after a reload, not guessed at; a
// challenge whose kid was changed is a forgery.
func TestUnknownKeyRefused(t *testing.T) {
	other := newFixture(t) // the same secrets key, its own directory
	c := other.challenge(t, other.ring)
	f := newFixture(t)
	known := f.withTestKey(t)
	wantRefused(t, "a challenge naming an unknown key", f.ring, c.Token, encrypt(t, c, "pw"), ErrUnknownKey)

	tok, err := parseToken(c.Token, other.kr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(c.Token)
	swapped := token{expires: tok.expires, nonce: tok.nonce, kid: known}.payload()
	forged := base64.RawURLEncoding.EncodeToString(append(swapped, raw[len(tok.payload()):]...))
	wantRefused(t, "a challenge whose kid was changed", f.ring, forged, encrypt(t, Challenge{Token: forged, PublicKey: c.PublicKey}, "pw"), ErrForged)
}

// TestForgedChallengeRefused: challenges are checked with the secrets key
// ring's MAC; one made with another key, or altered, is refused before
// any decryption, and so are things that are not challenges at all.
func TestForgedChallengeRefused(t *testing.T) {
	f := newFixture(t)
	kid := f.withTestKey(t)
	c := f.challenge(t, f.ring)
	ct := encrypt(t, c, "pw")
	mallory, _ := secret.NewKeyring(secret.Key{ID: "k1", Bytes: bytes.Repeat([]byte{7}, 32)})
	forged := token{expires: f.clk.Now().Add(time.Hour).Unix(), kid: kid}.encode(mallory)
	wantRefused(t, "a challenge MAC'd with another key", f.ring, forged, encrypt(t, Challenge{Token: forged, PublicKey: c.PublicKey}, "pw"), ErrForged)
	raw, _ := base64.RawURLEncoding.DecodeString(c.Token)
	raw[3] ^= 1 // the expiry
	wantRefused(t, "an altered expiry", f.ring, base64.RawURLEncoding.EncodeToString(raw), ct, ErrForged)
	for _, s := range []string{"", "x", "!!!!", strings.Repeat("A", 10000), base64.RawURLEncoding.EncodeToString([]byte{2, 0, 0})} {
		wantRefused(t, "not a challenge", f.ring, s, ct, ErrMalformed)
	}
	wantOpen(t, "the genuine challenge afterwards", f.ring, c.Token, ct, "pw")
}

// TestTamperedCiphertextRefused: any change to the wrapped key, the GCM
// nonce or the ciphertext is refused, and spends nothing.
func TestTamperedCiphertextRefused(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	c := f.challenge(t, f.ring)
	ct := encrypt(t, c, "pw")
	raw, _ := base64.RawURLEncoding.DecodeString(ct)
	for _, at := range []int{0, 255, 256, 267, 268, len(raw) - 1} {
		bad := bytes.Clone(raw)
		bad[at] ^= 0x80
		wantRefused(t, "a flipped bit", f.ring, c.Token, base64.RawURLEncoding.EncodeToString(bad), ErrUndecryptable)
	}
	for _, s := range []string{"", "@@@", base64.RawURLEncoding.EncodeToString(raw[:256+12+15]), ct + "=", strings.Repeat("A", maxCiphertext+4)} {
		wantRefused(t, "not a ciphertext", f.ring, c.Token, s, ErrMalformed)
	}
	wantOpen(t, "the genuine ciphertext afterwards", f.ring, c.Token, ct, "pw")
}

// TestNonceFromAnotherChallenge: a ciphertext made for one challenge,
// posted with another, is refused and spends neither.
func TestNonceFromAnotherChallenge(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	a, b := f.challenge(t, f.ring), f.challenge(t, f.ring)
	ctA, ctB := encrypt(t, a, "pw-a"), encrypt(t, b, "pw-b")
	wantRefused(t, "A's ciphertext with B", f.ring, b.Token, ctA, ErrWrongChallenge)
	wantRefused(t, "B's ciphertext with A", f.ring, a.Token, ctB, ErrWrongChallenge)
	wantOpen(t, "A", f.ring, a.Token, ctA, "pw-a")
	wantOpen(t, "B", f.ring, b.Token, ctB, "pw-b")
}

// TestOutagesFailClosed: a session store or directory outage is an error
// that is not a refusal (the login page answers 503), never a pass.
func TestOutagesFailClosed(t *testing.T) {
	f := newFixture(t)
	f.withTestKey(t)
	c := f.challenge(t, f.ring)
	ct := encrypt(t, c, "pw")
	f.nonces.fail = true
	_, err := f.ring.Open(t.Context(), c.Token, ct)
	var refused *Refused
	if !errors.Is(err, session.ErrUnavailable) || errors.As(err, &refused) {
		t.Fatalf("store down: got %v, want an outage", err)
	}
	f.nonces.fail = false
	wantOpen(t, "after the outage", f.ring, c.Token, ct, "pw")

	f.keys.setFail(true)
	if _, err := f.replica().Challenge(t.Context()); err == nil {
		t.Fatal("directory down: a challenge was issued without keys")
	}
}

// TestRotation: a rotated key issues challenges from each replica's next
// reload; a replica that has not reloaded yet reads the directory again
// for a challenge naming it; the key before keeps decrypting the
// challenges issued under it; a key replaced longer than Overlap ago is
// retired at the next rotation and no longer loaded.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	old := f.withTestKey(t)
	a, b := f.ring, f.replica()
	before := f.challenge(t, a)
	f.challenge(t, b) // b has loaded the old key too
	kid, retired, err := Rotate(t.Context(), f.keys, f.kr, f.clk.Now())
	if err != nil || kid == old || len(retired) != 0 {
		t.Fatalf("Rotate: %s, retired %v, %v; want a new kid and nothing retired", kid, retired, err)
	}
	if c := f.challenge(t, a); c.KID != old {
		t.Fatalf("within the reload interval: challenge under %s, want the old key still", c.KID)
	}
	f.clk.Advance(10 * time.Second)
	after := f.challenge(t, f.replica()) // a replica started since
	if after.KID != kid {
		t.Fatalf("a fresh replica: challenge under %s, want %s", after.KID, kid)
	}
	wantOpen(t, "replica b, not reloaded yet, a challenge naming the new key", b, after.Token, encrypt(t, after, "new"), "new")
	wantOpen(t, "a challenge issued under the old key", a, before.Token, encrypt(t, before, "old"), "old")
	f.clk.Advance(ReloadInterval)
	if c := f.challenge(t, a); c.KID != kid {
		t.Fatalf("after the reload interval: challenge under %s, want %s", c.KID, kid)
	}

	f.clk.Advance(Overlap)
	newest, retired, err := Rotate(t.Context(), f.keys, f.kr, f.clk.Now())
	if err != nil || len(retired) != 1 || retired[0] != old {
		t.Fatalf("second Rotate: retired %v, %v; want %s", retired, err, old)
	}
	f.clk.Advance(ReloadInterval)
	if c := f.challenge(t, a); c.KID != newest {
		t.Fatalf("after the second rotation: challenge under %s, want %s", c.KID, newest)
	}
	set := a.set.Load()
	if set.byKID[old] != nil || set.byKID[kid] == nil {
		t.Fatalf("keys loaded: old %v, previous %v; want the previous and the newest only", set.byKID[old] != nil, set.byKID[kid] != nil)
	}
}

// TestFirstKeyOnce: replicas meeting an empty directory together agree
// on one key.
func TestFirstKeyOnce(t *testing.T) {
	f := newFixture(t)
	const n = 4
	kids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := f.replica().Challenge(context.Background())
			if err != nil {
				t.Error(err)
			}
			kids <- c.KID
		})
	}
	wg.Wait()
	close(kids)
	first := ""
	for kid := range kids {
		if first == "" {
			first = kid
		}
		if kid != first {
			t.Fatalf("replicas issued challenges under %s and %s", first, kid)
		}
	}
	if stored, _ := f.keys.SigningKeys(t.Context()); len(live(stored)) != 1 {
		t.Fatalf("%d password keys stored, want 1", len(live(stored)))
	}
}

// TestSealedKeyBoundToKID: a sealed key copied under another kid does
// not open; a key sealed under an older secrets key opens and is sealed
// again under the active one.
func TestSealedKeyBoundToKID(t *testing.T) {
	f := newFixture(t)
	kid := f.withTestKey(t)
	f.keys.keys[0].KID = strings.Repeat("A", 43)
	if _, err := f.ring.Challenge(t.Context()); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("a key under another kid: %v, want it not to open", err)
	}

	g := newFixture(t)
	g.withTestKey(t)
	newer, _ := secret.NewKeyring(secret.Key{ID: "k2", Bytes: bytes.Repeat([]byte{9}, 32)}, secret.Key{ID: "k1", Bytes: make([]byte, 32)})
	ring := New(Options{Keys: g.keys, Keyring: newer, Nonces: g.nonces, Now: g.clk.Now})
	c := g.challenge(t, ring)
	if c.KID != kid {
		t.Fatalf("challenge under %s, want %s", c.KID, kid)
	}
	if _, stale, err := newer.Open(g.keys.keys[0].Private, additionalData(kid)); err != nil || stale {
		t.Fatalf("after a load: stale=%v %v, want the key sealed under the active secrets key", stale, err)
	}
}
