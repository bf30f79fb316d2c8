package pwcrypt

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// memKeys is directory.Keys in memory, with the SQL backends' rules
// (those run the conformance suite); fail makes every call an outage.
type memKeys struct {
	mu   sync.Mutex
	keys []directory.SigningKey
	fail bool
}

var errDown = errors.New("directory down: " + directory.ErrUnavailable.Error())

func (m *memKeys) AddSigningKey(_ context.Context, k directory.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(k)
}

func (m *memKeys) add(k directory.SigningKey) error {
	if m.fail {
		return errDown
	}
	for _, o := range m.keys {
		if o.KID == k.KID {
			return directory.ErrConflict
		}
	}
	m.keys = append(m.keys, k)
	slices.SortStableFunc(m.keys, func(a, b directory.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return nil
}

func (m *memKeys) AddFirstSigningKey(_ context.Context, k directory.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.Alg == k.Alg && !o.Retired {
			return directory.ErrConflict
		}
	}
	return m.add(k)
}

func (m *memKeys) SigningKeys(context.Context) ([]directory.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errDown
	}
	return slices.Clone(m.keys), nil
}

func (m *memKeys) RetireSigningKey(_ context.Context, kid string) error {
	return m.update(kid, func(k *directory.SigningKey) { k.Retired = true })
}

func (m *memKeys) UpdateSigningKey(_ context.Context, kid string, private []byte) error {
	return m.update(kid, func(k *directory.SigningKey) { k.Private = private })
}

func (m *memKeys) update(kid string, f func(*directory.SigningKey)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].KID == kid {
			f(&m.keys[i])
			return nil
		}
	}
	return directory.ErrNotFound
}

func (m *memKeys) setFail(v bool) {
	m.mu.Lock()
	m.fail = v
	m.mu.Unlock()
}

// clock is the injected time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// flakyNonces is a session store whose PutOnce can be made to fail as
// an outage does.
type flakyNonces struct {
	Nonces
	mu   sync.Mutex
	fail bool
}

func (f *flakyNonces) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return false, session.ErrUnavailable
	}
	return f.Nonces.PutOnce(ctx, key, value, ttl)
}

// fixture is one gateway's ring over shared parts; replica builds
// another ring over the same directory, key ring and store.
type fixture struct {
	keys   *memKeys
	kr     *secret.Keyring
	nonces *flakyNonces
	clk    *clock
	ring   *Ring
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	kr, err := secret.NewKeyring(secret.Key{ID: "k1", Bytes: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	store := memory.New(clk.Now)
	t.Cleanup(func() { store.Close() })
	f := &fixture{keys: &memKeys{}, kr: kr, nonces: &flakyNonces{Nonces: store}, clk: clk}
	f.ring = f.replica()
	return f
}

func (f *fixture) replica() *Ring {
	return New(Options{Keys: f.keys, Keyring: f.kr, Nonces: f.nonces, Now: f.clk.Now})
}

// testKey is one 2048-bit password key per test binary, generated when
// first needed (no key material lives in the repository).
var testKey = sync.OnceValues(func() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKCS8PrivateKey(k)
})

// withTestKey stores the test binary's key as the password key, so a test
// need not wait for a 3072-bit one of its own.
func (f *fixture) withTestKey(t testing.TB) string {
	t.Helper()
	der, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	kid := Thumbprint(publicOf(t, parsed))
	sk := directory.SigningKey{KID: kid, Alg: Alg, Private: f.kr.Seal(der, additionalData(kid)), CreatedAt: f.clk.Now().Add(-time.Hour)}
	if err := f.keys.AddSigningKey(context.Background(), sk); err != nil {
		t.Fatal(err)
	}
	return kid
}

// challenge issues a challenge, failing the test on an error.
func (f *fixture) challenge(t testing.TB, r *Ring) Challenge {
	t.Helper()
	c, err := r.Challenge(context.Background())
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	return c
}

func encrypt(t testing.TB, c Challenge, pw string) string {
	t.Helper()
	ct, err := Encrypt(c, pw)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return ct
}

// wantRefused checks Open refuses with want.
func wantRefused(t testing.TB, what string, r *Ring, challenge, ct string, want *Refused) {
	t.Helper()
	pw, err := r.Open(context.Background(), challenge, ct)
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %q, %v, want %v", what, pw, err, want)
	}
	if pw != "" {
		t.Fatalf("%s: a refusal returned a password", what)
	}
}

func wantOpen(t testing.TB, what string, r *Ring, challenge, ct, want string) {
	t.Helper()
	pw, err := r.Open(context.Background(), challenge, ct)
	if err != nil || pw != want {
		t.Fatalf("%s: got %q, %v, want the password", what, strings.Repeat("*", len(pw)), err)
	}
}

func publicOf(t testing.TB, parsed any) *rsa.PublicKey {
	t.Helper()
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("testdata key is a %T, want RSA", parsed)
	}
	return &priv.PublicKey
}
