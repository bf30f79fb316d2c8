package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testIssuer = "https://gw.example.com"
	leeway     = 30 * time.Second
)

var (
	b64     = base64.RawURLEncoding
	testNow = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testClaims() *Claims {
	now := testNow.Unix()
	return &Claims{
		Issuer: testIssuer, Subject: "u-123", Audience: Audience,
		IssuedAt: now, NotBefore: now - 1, Expiry: now + 300,
		Username: "alice", Email: "alice@example.com", Role: "sales",
		Groups: []string{"east"}, Methods: []string{"password", "totp"}, Session: "s-42",
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw builds a compact ES256 JWS over arbitrary header and payload
// bytes, so tests can craft tokens Sign would never produce.
func signRaw(t testing.TB, key *ecdsa.PrivateKey, hdr, payload []byte) string {
	t.Helper()
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64.EncodeToString(sig)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := newKey(t)
	want := testClaims()
	tok, err := Sign(key, "kid-1", want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, map[string]*ecdsa.PublicKey{"kid-1": &key.PublicKey}, testIssuer, testNow, leeway)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want.KeyID = "kid-1"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Verify: got %+v, want %+v", got, want)
	}
	var h header
	hb, _ := b64.DecodeString(strings.Split(tok, ".")[0])
	if err := json.Unmarshal(hb, &h); err != nil || h != (header{Alg: "ES256", Typ: "JWT", Kid: "kid-1"}) {
		t.Errorf("header: got %s, want alg ES256, typ JWT, kid kid-1", hb)
	}
}

// TestVerifyRefusesForgery covers the classic JWT attacks and tampering.
func TestVerifyRefusesForgery(t *testing.T) {
	key, other := newKey(t), newKey(t)
	keys := map[string]*ecdsa.PublicKey{"kid-1": &key.PublicKey}
	payload := mustJSON(t, testClaims())
	good, err := Sign(key, "kid-1", testClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	pubBytes, _ := key.PublicKey.Bytes()
	hmacToken := func(alg string, h func() hash.Hash) string {
		hdr := fmt.Appendf(nil, `{"alg":%q,"typ":"JWT","kid":"kid-1"}`, alg)
		signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
		m := hmac.New(h, pubBytes)
		m.Write([]byte(signing))
		return signing + "." + b64.EncodeToString(m.Sum(nil))
	}
	escalated := testClaims()
	escalated.Role = "admin"
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none, empty signature", b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"kid-1"}`)) + "." + parts[1] + ".", ErrMalformed},
		{"alg none, copied signature", b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"kid-1"}`)) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"alg None", signRaw(t, key, []byte(`{"alg":"None","kid":"kid-1"}`), payload), ErrMalformed},
		{"HS256 keyed with the public key", hmacToken("HS256", sha256.New), ErrMalformed},
		{"HS512 keyed with the public key (64-byte MAC)", hmacToken("HS512", sha512.New), ErrMalformed},
		{"ES384 header", signRaw(t, key, []byte(`{"alg":"ES384","kid":"kid-1"}`), payload), ErrMalformed},
		{"lower-case es256", signRaw(t, key, []byte(`{"alg":"es256","kid":"kid-1"}`), payload), ErrMalformed},
		{"other key, same kid", signRaw(t, other, []byte(`{"alg":"ES256","typ":"JWT","kid":"kid-1"}`), payload), ErrSignature},
		{"unknown kid", signRaw(t, key, []byte(`{"alg":"ES256","kid":"kid-2"}`), payload), ErrUnknownKey},
		{"no kid", signRaw(t, key, []byte(`{"alg":"ES256"}`), payload), ErrUnknownKey},
		{"payload swapped", parts[0] + "." + b64.EncodeToString(mustJSON(t, escalated)) + "." + parts[2], ErrSignature},
		{"header swapped", b64.EncodeToString([]byte(`{"alg":"ES256","kid":"kid-1","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], ErrSignature},
		{"zero signature", parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)), ErrSignature},
		{"signature of all ones", parts[0] + "." + parts[1] + "." + b64.EncodeToString([]byte(strings.Repeat("\xff", 64))), ErrSignature},
		{"signed payload not JSON", signRaw(t, key, []byte(`{"alg":"ES256","kid":"kid-1"}`), []byte("not json")), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Verify(tc.token, keys, testIssuer, testNow, leeway)
			if c != nil || !errors.Is(err, tc.want) {
				t.Errorf("Verify: got %+v, %v, want nil, %v", c, err, tc.want)
			}
		})
	}
}

// TestVerifyClaims: a genuine signature over the wrong issuer, audience
// or validity window is refused; the window's edges include the leeway.
func TestVerifyClaims(t *testing.T) {
	key := newKey(t)
	keys := map[string]*ecdsa.PublicKey{"k": &key.PublicKey}
	now := testNow.Unix()
	lw := int64(leeway / time.Second)
	tests := []struct {
		name string
		edit func(c *Claims)
		want error // nil: accepted
	}{
		{"as issued", func(*Claims) {}, nil},
		{"wrong issuer", func(c *Claims) { c.Issuer = "https://evil.example.com" }, ErrSignature},
		{"empty issuer", func(c *Claims) { c.Issuer = "" }, ErrSignature},
		{"wrong audience", func(c *Claims) { c.Audience = "some-other-api" }, ErrSignature},
		{"expired beyond leeway", func(c *Claims) { c.Expiry = now - lw }, ErrExpired},
		{"expired within leeway", func(c *Claims) { c.Expiry = now - lw + 1 }, nil},
		{"long expired", func(c *Claims) { c.IssuedAt, c.NotBefore, c.Expiry = now-7200, now-7200, now-3600 }, ErrExpired},
		{"no exp at all", func(c *Claims) { c.Expiry = 0 }, ErrExpired},
		{"not yet valid beyond leeway", func(c *Claims) { c.NotBefore = now + lw + 1 }, ErrExpired},
		{"not yet valid within leeway", func(c *Claims) { c.NotBefore = now + lw }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(c)
			tok, err := Sign(key, "k", c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Verify(tok, keys, testIssuer, testNow, leeway)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (got != nil) {
				t.Errorf("Verify: got %+v, %v, want error %v", got, err, tc.want)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	key := newKey(t)
	keys := map[string]*ecdsa.PublicKey{"k": &key.PublicKey}
	good, _ := Sign(key, "k", testClaims())
	p := strings.Split(good, ".")
	sig, _ := b64.DecodeString(p[2])
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"one part", p[0]},
		{"two parts", p[0] + "." + p[1]},
		{"four parts", good + "." + p[2]},
		{"header bad base64", "!!!." + p[1] + "." + p[2]},
		{"payload bad base64", p[0] + ".%%%." + p[2]},
		{"signature bad base64", p[0] + "." + p[1] + ".***"},
		{"padded base64", p[0] + "." + p[1] + "." + p[2] + "=="},
		{"standard base64 alphabet", p[0] + "." + p[1] + "." + base64.RawStdEncoding.EncodeToString(append(sig[:62:62], 0xfb, 0xff))},
		{"short signature", p[0] + "." + p[1] + "." + b64.EncodeToString(sig[:63])},
		{"long signature", p[0] + "." + p[1] + "." + b64.EncodeToString(append(sig, 0))},
		{"DER signature", p[0] + "." + p[1] + "." + b64.EncodeToString(append([]byte{0x30, 0x44, 0x02, 0x20}, sig...))},
		{"header not JSON", b64.EncodeToString([]byte("ES256")) + "." + p[1] + "." + p[2]},
		{"header JSON array", b64.EncodeToString([]byte(`["ES256"]`)) + "." + p[1] + "." + p[2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := Verify(tc.token, keys, testIssuer, testNow, leeway); c != nil || !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify(%.40q): got %+v, %v, want nil, ErrMalformed", tc.token, c, err)
			}
		})
	}
}

// BenchmarkSign is the cost the per-session cache saves on each request.
func BenchmarkSign(b *testing.B) {
	key := newKey(b)
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(key, "kid-1", c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key := newKey(b)
	tok, _ := Sign(key, "kid-1", testClaims())
	keys := map[string]*ecdsa.PublicKey{"kid-1": &key.PublicKey}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, keys, testIssuer, testNow, leeway); err != nil {
			b.Fatal(err)
		}
	}
}
