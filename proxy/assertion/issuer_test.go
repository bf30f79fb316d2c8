package assertion

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

const ttl = 5 * time.Minute

// clock is an injected clock safe to share between goroutines.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(testNow.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func openDir(t testing.TB) *sqldir.DB {
	t.Helper()
	dir, err := sqldir.Open(context.Background(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

func newIssuer(t testing.TB, dir directory.Keys, clk *clock) *Issuer {
	t.Helper()
	is := NewIssuer(signing.New(dir, nil, clk.Now), testIssuer, ttl, clk.Now)
	if err := is.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	return is
}

func fillAlice(c *Claims) { c.Subject, c.Username, c.Role = "u-1", "alice", "sales" }

// signingKID issues a token for a fresh session and reports the kid that
// verifies it against the issuer's own JWKS, as an upstream would.
func signingKID(t *testing.T, is *Issuer) string {
	t.Helper()
	tok, err := is.Token("probe-"+time.Now().String(), 0, fillAlice)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	keys, err := signing.ParseJWKS(is.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(tok, keys, testIssuer, is.now(), 0)
	if err != nil {
		t.Fatalf("verify a fresh token against the JWKS: %v", err)
	}
	is.Forget(c.Session)
	return c.KeyID
}

func jwksKIDs(t *testing.T, is *Issuer) []string {
	t.Helper()
	var set struct {
		Keys []struct{ Kty, Crv, Alg, Use, Kid string }
	}
	if err := json.Unmarshal(is.JWKS(), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.Use != "sig" {
			t.Errorf("JWKS key %s: got %+v, want an EC P-256 ES256 signing key", k.Kid, k)
		}
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

func storedKIDs(t *testing.T, dir directory.Keys) []string {
	t.Helper()
	keys, err := dir.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func TestReloadCreatesOneKey(t *testing.T) {
	dir := openDir(t)
	is := newIssuer(t, dir, newClock())
	for range 2 {
		if err := is.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	stored := storedKIDs(t, dir)
	if len(stored) != 1 {
		t.Fatalf("stored keys after three Reloads: got %v, want exactly one", stored)
	}
	if got := jwksKIDs(t, is); !slices.Equal(got, stored) {
		t.Errorf("JWKS: got kids %v, want %v", got, stored)
	}
	if got := signingKID(t, is); got != stored[0] {
		t.Errorf("signing kid: got %s, want %s", got, stored[0])
	}
	if pk := is.PublicKeys()[stored[0]]; pk == nil || signing.Thumbprint(pk) != stored[0] {
		t.Errorf("PublicKeys: got %v, want the key whose RFC 7638 thumbprint is its kid", pk)
	}
}

// TestConcurrentFirstStart: replicas starting together on an empty
// directory may each create a key, and one that read before the other's
// insert does not see it (TestFirstStartRaceConverges plays that order);
// by their next Reload (every keyReload in serve) they must agree on the
// signing key and publish it, or an upstream holding one replica's JWKS
// would refuse the other's tokens.
func TestConcurrentFirstStart(t *testing.T) {
	for i := range 20 {
		dir := openDir(t)
		clk := newClock()
		issuers := []*Issuer{NewIssuer(signing.New(dir, nil, clk.Now), testIssuer, ttl, clk.Now), NewIssuer(signing.New(dir, nil, clk.Now), testIssuer, ttl, clk.Now)}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(issuers))
		for j, is := range issuers {
			wg.Go(func() {
				<-start
				errs[j] = is.Reload(context.Background())
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: concurrent Reload: %v", i, err)
		}
		if stored := storedKIDs(t, dir); len(stored) != 1 {
			t.Fatalf("round %d: stored keys %v, want exactly one", i, stored)
		}
		a, b := signingKID(t, issuers[0]), signingKID(t, issuers[1])
		if a != b {
			t.Fatalf("round %d: signing kids: got %s and %s, want one kid (stored %v)", i, a, b, storedKIDs(t, dir))
		}
		for _, is := range issuers {
			if !slices.Contains(jwksKIDs(t, is), a) {
				t.Errorf("round %d: JWKS %v lacks the signing kid %s", i, jwksKIDs(t, is), a)
			}
		}
	}
}

// staleKeys answers its first SigningKeys from before another replica's
// insert (an empty directory), as a replica that read just before its
// peer wrote would see it.
type staleKeys struct {
	directory.Keys
	reads atomic.Int32
}

func (s *staleKeys) SigningKeys(ctx context.Context) ([]directory.SigningKey, error) {
	if s.reads.Add(1) == 1 {
		return nil, nil
	}
	return s.Keys.SigningKeys(ctx)
}

// TestFirstStartRace plays the worst first-start interleaving: B reads
// the empty directory, then A creates its key, then B tries to create one
// with a clock 1 ms behind. The directory stores a first key only when
// none is active, so B's is refused, B reads A's, and both sign with one
// kid from the start.
func TestFirstStartRace(t *testing.T) {
	dir := openDir(t)
	clkA, clkB := newClock(), newClock()
	clkB.Advance(-time.Millisecond)
	a := newIssuer(t, dir, clkA)
	b := newIssuer(t, &staleKeys{Keys: dir}, clkB)
	if stored := storedKIDs(t, dir); len(stored) != 1 {
		t.Fatalf("stored keys: got %v, want exactly one", stored)
	}
	if ka, kb := signingKID(t, a), signingKID(t, b); ka != kb {
		t.Errorf("A signs with %s, B with %s, want one kid", ka, kb)
	}
	if ja, jb := jwksKIDs(t, a), jwksKIDs(t, b); !slices.Equal(ja, jb) || len(ja) != 1 {
		t.Errorf("JWKS: got A %v, B %v, want the one key in each", ja, jb)
	}
}

// TestRotation: a new key is published at the next Reload but signs only
// once it has been published for signing.ActivationDelay; retiring the old key
// then removes it from the JWKS.
func TestRotation(t *testing.T) {
	dir := openDir(t)
	clk := newClock()
	is := newIssuer(t, dir, clk)
	old := signingKID(t, is)
	cached, err := is.Token("s1", 0, fillAlice)
	if err != nil {
		t.Fatal(err)
	}

	clk.Advance(time.Minute)
	nk, err := signing.Generate(t.Context(), dir, nil, clk.Now())
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	reload := func() {
		t.Helper()
		if err := is.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
	}
	reload()
	if got, want := jwksKIDs(t, is), sorted(old, nk.KID); !slices.Equal(got, want) {
		t.Errorf("JWKS right after rotation: got %v, want %v", got, want)
	}
	steps := []struct {
		advance time.Duration
		want    string
	}{
		{0, old},
		{signing.ActivationDelay - time.Millisecond, old},
		{time.Millisecond, nk.KID},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		reload()
		if got := signingKID(t, is); got != s.want {
			t.Errorf("%v after rotation: got signing kid %s, want %s", clk.Now().Sub(nk.CreatedAt), got, s.want)
		}
	}
	// The session's token was still fresh, but the signer changed: it is
	// re-signed with the new key rather than served from the cache.
	tok, _ := is.Token("s1", 0, fillAlice)
	if c, err := Verify(tok, is.PublicKeys(), testIssuer, clk.Now(), 0); tok == cached || err != nil || c.KeyID != nk.KID {
		t.Errorf("cached token after the signer changed: got %v, %v, want a new token signed by %s", c, err, nk.KID)
	}
	if _, err := Verify(cached, is.PublicKeys(), testIssuer, testNow, 0); err != nil {
		t.Errorf("token signed by the old key before retirement: got %v, want it to verify", err)
	}

	if err := dir.RetireSigningKey(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	reload()
	if got := jwksKIDs(t, is); !slices.Equal(got, []string{nk.KID}) {
		t.Errorf("JWKS after retiring %s: got %v, want only %s", old, got, nk.KID)
	}
	if _, err := Verify(cached, is.PublicKeys(), testIssuer, testNow, 0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token signed by the retired key: got %v, want ErrUnknownKey", err)
	}
	if stored := storedKIDs(t, dir); len(stored) != 2 {
		t.Errorf("stored keys: got %v, want the retired one kept and no new one created", stored)
	}
}

// TestRetireSignerBeforeActivation: retiring the signing key before its
// successor is due leaves the successor as the only key, which signs at
// once rather than leaving the gateway without a signer.
func TestRetireSignerBeforeActivation(t *testing.T) {
	dir := openDir(t)
	clk := newClock()
	is := newIssuer(t, dir, clk)
	old := signingKID(t, is)
	nk, err := signing.Generate(t.Context(), dir, nil, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.RetireSigningKey(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := is.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := signingKID(t, is); got != nk.KID {
		t.Errorf("signing kid: got %s, want %s", got, nk.KID)
	}
}

// TestRetireEverything: with every key retired, Reload creates a new one.
func TestRetireEverything(t *testing.T) {
	dir := openDir(t)
	is := newIssuer(t, dir, newClock())
	old := signingKID(t, is)
	if err := dir.RetireSigningKey(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := is.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := signingKID(t, is); got == old || slices.Contains(jwksKIDs(t, is), old) {
		t.Errorf("after retiring every key: got signer %s, JWKS %v, want a new key and %s unpublished", got, jwksKIDs(t, is), old)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
