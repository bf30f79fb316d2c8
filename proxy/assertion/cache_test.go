package assertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func TestTokenClaims(t *testing.T) {
	clk := newClock()
	is := newIssuer(t, openDir(t), clk)
	tok, err := is.Token("s1", 0, fillAlice)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(tok, is.PublicKeys(), testIssuer, clk.Now(), 0)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	now := clk.Now().Unix()
	got := [...]any{c.Issuer, c.Audience, c.Session, c.IssuedAt, c.NotBefore, c.Expiry, c.Subject, c.Username, c.Role}
	want := [...]any{testIssuer, Audience, "s1", now, now - 1, now + int64(ttl/time.Second), "u-1", "alice", "sales"}
	if got != want {
		t.Errorf("claims: got %v, want %v", got, want)
	}
}

// TestTokenCache: a session's token is signed once and reused until less
// than a fifth of its lifetime is left.
func TestTokenCache(t *testing.T) {
	clk := newClock()
	is := newIssuer(t, openDir(t), clk)
	fills := 0
	fill := func(c *Claims) { fills++; fillAlice(c) }
	first, err := is.Token("s1", 0, fill)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at       time.Duration // since first was signed
		resigned bool
	}{
		{0, false},
		{ttl*4/5 - time.Second, false},
		{ttl*4/5 + time.Second, true},
	}
	for _, s := range steps {
		clk.ns.Store(testNow.Add(s.at).UnixNano())
		tok, err := is.Token("s1", 0, fill)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok != first; got != s.resigned {
			t.Errorf("Token at +%v: got re-signed=%v, want %v", s.at, got, s.resigned)
		}
		if _, err := Verify(tok, is.PublicKeys(), testIssuer, clk.Now(), 0); err != nil {
			t.Errorf("Token at +%v: does not verify: %v", s.at, err)
		}
	}
	if fills != 2 {
		t.Errorf("fill calls: got %d, want 2 (one per signature)", fills)
	}
	other, _ := is.Token("s2", 0, fillAlice)
	if c, _ := Verify(other, is.PublicKeys(), testIssuer, clk.Now(), 0); c == nil || c.Session != "s2" {
		t.Errorf("another session's token: got claims %+v, want sid s2", c)
	}
}

// TestTokenGeneration: a token made under another generation of the
// access table is signed again, carrying the new perms.
func TestTokenGeneration(t *testing.T) {
	is := newIssuer(t, openDir(t), newClock())
	perms := func(tpl string) func(*Claims) {
		return func(c *Claims) { fillAlice(c); c.Perms = &Perms{Template: tpl, Features: []string{"leads.view"}} }
	}
	first, _ := is.Token("s1", 1, perms("sales_user"))
	if again, _ := is.Token("s1", 1, perms("other")); again != first {
		t.Error("same generation: re-signed")
	}
	next, _ := is.Token("s1", 2, perms("no_export"))
	c, err := Verify(next, is.PublicKeys(), testIssuer, is.now(), 0)
	if next == first || err != nil || c.Perms == nil || c.Perms.Template != "no_export" {
		t.Errorf("new generation: claims %+v, %v; want re-signed with template no_export", c, err)
	}
}

func TestTokenForget(t *testing.T) {
	is := newIssuer(t, openDir(t), newClock())
	first, _ := is.Token("s1", 0, fillAlice)
	is.Forget("s1")
	is.Forget("never-seen")
	if again, _ := is.Token("s1", 0, fillAlice); again == first {
		t.Errorf("Token after Forget: got the cached token, want a new one")
	}
}

func TestSweep(t *testing.T) {
	clk := newClock()
	is := newIssuer(t, openDir(t), clk)
	is.Token("early", 0, fillAlice)
	clk.Advance(2 * time.Minute)
	is.Token("late", 0, fillAlice)
	clk.Advance(ttl - 2*time.Minute) // "early" expires now
	is.Sweep()
	is.mu.Lock()
	left := slices.Sorted(func(yield func(string) bool) {
		for sid := range is.cache {
			if !yield(sid) {
				return
			}
		}
	})
	is.mu.Unlock()
	if !slices.Equal(left, []string{"late"}) {
		t.Errorf("cache after Sweep: got %v, want [late]", left)
	}
}

// TestTokenConcurrent runs Token, Forget, Sweep and Reload together, for
// the race detector.
func TestTokenConcurrent(t *testing.T) {
	is := newIssuer(t, openDir(t), newClock())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				sid := fmt.Sprint("s", i%5)
				if _, err := is.Token(sid, 0, fillAlice); err != nil {
					t.Error(err)
					return
				}
				if i%7 == g {
					is.Forget(sid)
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			is.Sweep()
			if err := is.Reload(context.Background()); err != nil {
				t.Error(err)
			}
			_ = is.JWKS()
		}
	})
	wg.Wait()
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestReloadBadStoredKey: a stored key this issuer cannot sign with (a
// corrupt row, another curve under "ES256") makes Reload fail with an
// error naming it, not panic, and the keys already loaded stay in use.
func TestReloadBadStoredKey(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name    string
		private []byte
	}{
		{"not DER", []byte("garbage")},
		{"P-384 under ES256", pkcs8(t, p384)},
		{"RSA under ES256", pkcs8(t, rsaKey)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := openDir(t)
			clk := newClock()
			is := newIssuer(t, dir, clk)
			good := signingKID(t, is)
			bad := directory.SigningKey{KID: "bad", Alg: "ES256", Private: tc.private, CreatedAt: testNow.Add(-time.Hour)}
			if err := dir.AddSigningKey(t.Context(), bad); err != nil {
				t.Fatal(err)
			}
			err := is.Reload(t.Context())
			if err == nil || !strings.Contains(err.Error(), "bad") {
				t.Errorf("Reload: got %v, want an error naming key bad", err)
			}
			if got := signingKID(t, is); got != good {
				t.Errorf("after a failed Reload: got signer %s, want %s kept", got, good)
			}
		})
	}
}

// TestReloadIgnoresOtherAlgorithms: keys stored for another algorithm
// (by a newer release, say) are neither published nor used, and do not
// stop this issuer from creating the ES256 key it needs.
func TestReloadIgnoresOtherAlgorithms(t *testing.T) {
	dir := openDir(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	other := directory.SigningKey{KID: "rsa-1", Alg: "RS256", Private: pkcs8(t, rsaKey), CreatedAt: testNow.Add(-time.Hour)}
	if err := dir.AddSigningKey(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	is := newIssuer(t, dir, newClock())
	kid := signingKID(t, is)
	if kid == "rsa-1" || !slices.Equal(jwksKIDs(t, is), []string{kid}) {
		t.Errorf("got signer %s, JWKS %v, want a new ES256 key alone", kid, jwksKIDs(t, is))
	}
}

// BenchmarkIssuerTokenCached is the per-request cost of the assertion on
// the hot path: a cache hit, no signing.
func BenchmarkIssuerTokenCached(b *testing.B) {
	is := newIssuer(b, openDir(b), newClock())
	if _, err := is.Token("s1", 0, fillAlice); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Token("s1", 0, fillAlice); err != nil {
			b.Fatal(err)
		}
	}
}
