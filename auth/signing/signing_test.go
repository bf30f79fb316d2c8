package signing

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

var b64 = base64.RawURLEncoding

func testKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openDir(t *testing.T) *sqldir.DB {
	t.Helper()
	dir, err := sqldir.Open(context.Background(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

func testKeyring(t *testing.T) *secret.Keyring {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	kr, err := secret.NewKeyring(secret.Key{ID: "k1", Bytes: k})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestSigningKeysSealedAtRest: the private keys in the directory are
// sealed with the secrets key ring, so a copy of the database alone (a
// backup, a stolen SQLite file) yields no key that can sign assertions
// (review finding F13). The ring still signs with them.
func TestSigningKeysSealedAtRest(t *testing.T) {
	dir := openDir(t)
	kr := testKeyring(t)
	r := New(dir, kr, nil)
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(t.Context(), dir, kr, time.Now()); err != nil {
		t.Fatal(err)
	}
	stored, err := dir.SigningKeys(t.Context())
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored keys: %d %v", len(stored), err)
	}
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, sk := range stored {
		if _, err := x509.ParsePKCS8PrivateKey(sk.Private); err == nil {
			t.Errorf("key %s is stored as a plain PKCS#8 key", sk.KID)
		}
		pub := r.PublicKeys()[sk.KID]
		if pub == nil {
			t.Fatalf("key %s not published", sk.KID)
		}
		raw, _ := pub.Bytes()
		if bytes.Contains(sk.Private, raw[1:33]) {
			t.Errorf("key %s: the stored bytes contain the public point in clear", sk.KID)
		}
	}
	if kid, key := r.Signer(); key == nil || kid == "" {
		t.Fatal("no signer from sealed keys")
	}
	if len(r.Unsealed()) != 0 {
		t.Fatalf("Unsealed() = %v, want none", r.Unsealed())
	}
	// Without the key file the keys do not open.
	if _, err := New(dir, testKeyring(t), nil).Reload(t.Context()); err == nil {
		t.Fatal("keys sealed under one key file opened under another")
	}
}

// TestUnsealedKeyFromOlderVersionStillSigns: a key an older version
// stored in clear keeps working (upgrades do not break assertions) and is
// sealed where it is at the first load.
func TestUnsealedKeyFromOlderVersionStillSigns(t *testing.T) {
	dir := openDir(t)
	legacy, err := newKey(nil, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddSigningKey(t.Context(), legacy); err != nil {
		t.Fatal(err)
	}
	r := New(dir, testKeyring(t), nil)
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatalf("Reload with a legacy key: %v", err)
	}
	if kid, _ := r.Signer(); kid != legacy.KID {
		t.Fatalf("signer %s, want the legacy key %s", kid, legacy.KID)
	}
	if got := r.Unsealed(); len(got) != 0 {
		t.Fatalf("Unsealed() = %v, want none: the legacy key is sealed in place", got)
	}
	stored, err := dir.SigningKeys(t.Context())
	if err != nil || len(stored) != 1 {
		t.Fatal(stored, err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(stored[0].Private); err == nil {
		t.Fatal("the legacy key is still stored in clear after a load")
	}
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatalf("Reload after sealing in place: %v", err)
	}
	if kid, _ := r.Signer(); kid != legacy.KID {
		t.Fatalf("signer after sealing %s, want %s", kid, legacy.KID)
	}
}

var _ directory.Keys = (*sqldir.DB)(nil)

func TestParseJWKS(t *testing.T) {
	good, other := testKey(t), testKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw384, _ := p384.PublicKey.Bytes()
	one := make([]byte, 32)
	one[31] = 1
	goodJWK, otherJWK := jwkOf("good", &good.PublicKey), jwkOf("other", &other.PublicKey)
	set := jwkSet{Keys: []jwk{
		goodJWK,
		{Kty: "EC", Crv: "P-384", X: b64.EncodeToString(raw384[1:49]), Y: b64.EncodeToString(raw384[49:]), Kid: "p384"},
		{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(raw384[1:49]), Y: b64.EncodeToString(raw384[49:]), Kid: "p384-labelled-p256"},
		{Kty: "RSA", Crv: "P-256", X: goodJWK.X, Y: goodJWK.Y, Kid: "rsa"},
		{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(one), Y: b64.EncodeToString(one), Kid: "off-curve"},
		{Kty: "EC", Crv: "P-256", X: goodJWK.X, Y: otherJWK.Y, Kid: "mixed-coordinates"},
		{Kty: "EC", Crv: "P-256", X: goodJWK.X[:20], Y: goodJWK.Y, Kid: "short-x"},
		{Kty: "EC", Crv: "P-256", X: goodJWK.X + "=", Y: goodJWK.Y, Kid: "bad-base64"},
		{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(make([]byte, 32)), Y: b64.EncodeToString(make([]byte, 32)), Kid: "zero-point"},
		otherJWK,
	}}
	keys, err := ParseJWKS(mustJSON(t, set))
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if len(keys) != 2 || keys["good"] == nil || !keys["good"].Equal(&good.PublicKey) || !keys["other"].Equal(&other.PublicKey) {
		t.Errorf("ParseJWKS: got kids %v, want exactly good and other with their keys", slices.Sorted(maps.Keys(keys)))
	}
	for _, doc := range []string{"", "{", `{"keys": 1}`, "[]"} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("ParseJWKS(%q): got nil error, want one", doc)
		}
	}
	if keys, err := ParseJWKS([]byte(`{"keys":[]}`)); err != nil || len(keys) != 0 {
		t.Errorf("ParseJWKS(empty set): got %v, %v, want no keys, nil", keys, err)
	}
}

// TestRetiredPlaintextKeySealedToo: a key retired while an older version
// stored keys in clear is sealed at load as well; a copy of the database
// must not yield any private key, signing or not.
func TestRetiredPlaintextKeySealedToo(t *testing.T) {
	dir := openDir(t)
	old, err := newKey(nil, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddSigningKey(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := dir.RetireSigningKey(t.Context(), old.KID); err != nil {
		t.Fatal(err)
	}
	r := New(dir, testKeyring(t), nil)
	if _, err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	stored, err := dir.SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, sk := range stored {
		if _, err := x509.ParsePKCS8PrivateKey(sk.Private); err == nil {
			t.Errorf("key %s (retired %v) is still stored in clear", sk.KID, sk.Retired)
		}
	}
	if len(r.Unsealed()) != 0 {
		t.Fatalf("Unsealed() = %v", r.Unsealed())
	}
}
