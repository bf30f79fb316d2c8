package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/session/memory"
)

var testNow = time.Unix(1_800_000_000, 0)

type device struct {
	key    *ecdsa.PrivateKey
	signer jose.Signer
}

func newDevice(t testing.TB) *device {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	return &device{key: k, signer: s}
}

// proof signs claims (defaults: a POST to the token endpoint, now).
func (d *device) proof(t testing.TB, edit func(m map[string]any)) string {
	t.Helper()
	m := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(randBytes(12)), "htm": "POST",
		"htu": "https://gw.example/.gatehouse/oauth/token", "iat": testNow.Unix()}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	jws, err := d.signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newVerifier() *Verifier {
	return &Verifier{Window: time.Minute, Replay: memory.New(func() time.Time { return testNow }), Now: func() time.Time { return testNow }}
}

const target = "https://gw.example/.gatehouse/oauth/token"

func TestValidProof(t *testing.T) {
	d := newDevice(t)
	v := newVerifier()
	p, err := v.Verify(t.Context(), d.proof(t, nil), "POST", target+"?x=1", "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Thumbprint(&jose.JSONWebKey{Key: d.key.Public()})
	if p.JKT != want || p.JTI == "" {
		t.Fatalf("proof %+v, want jkt %s", p, want)
	}
}

// TestRefusals tries each attack RFC 9449 §4.3 guards against.
func TestRefusals(t *testing.T) {
	d := newDevice(t)
	tok := "an-access-token"
	sum := sha256.Sum256([]byte(tok))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, c := range []struct {
		name        string
		proof       func() string
		method, url string
		token, want string
	}{
		{"another method", func() string { return d.proof(t, nil) }, "GET", target, "", "htm"},
		{"another URL", func() string { return d.proof(t, nil) }, "POST", "https://gw.example/other", "", "htu"},
		{"another host", func() string { return d.proof(t, nil) }, "POST", "https://evil.example/.gatehouse/oauth/token", "", "htu"},
		{"expired iat", func() string {
			return d.proof(t, func(m map[string]any) { m["iat"] = testNow.Add(-2 * time.Minute).Unix() })
		}, "POST", target, "", "iat"},
		{"future iat", func() string {
			return d.proof(t, func(m map[string]any) { m["iat"] = testNow.Add(2 * time.Minute).Unix() })
		}, "POST", target, "", "iat"},
		{"no iat", func() string { return d.proof(t, func(m map[string]any) { delete(m, "iat") }) }, "POST", target, "", "iat"},
		{"no jti", func() string { return d.proof(t, func(m map[string]any) { delete(m, "jti") }) }, "POST", target, "", "jti"},
		{"ath missing", func() string { return d.proof(t, nil) }, "POST", target, tok, "ath"},
		{"ath for another token", func() string { return d.proof(t, func(m map[string]any) { m["ath"] = "AAAA" }) }, "POST", target, tok, "ath"},
		{"alg none", func() string { return unsigned(t, d, "none") }, "POST", target, "", "invalid proof"},
		{"HS256", func() string { return hmacProof(t) }, "POST", target, "", "invalid proof"},
		{"private jwk", func() string { return privateJWK(t, d) }, "POST", target, "", "invalid proof"},
		{"wrong typ", func() string { return wrongTyp(t, d) }, "POST", target, "", "typ"},
		{"tampered payload", func() string { return tamper(d.proof(t, nil)) }, "POST", target, "", "invalid proof"},
		{"garbage", func() string { return "a.b.c" }, "POST", target, "", "invalid proof"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newVerifier().Verify(t.Context(), c.proof(), c.method, c.url, c.token)
			if !errors.Is(err, ErrInvalidProof) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal naming %q", err, c.want)
			}
		})
	}
	// With the right ath it passes.
	if _, err := newVerifier().Verify(t.Context(), d.proof(t, func(m map[string]any) { m["ath"] = ath }), "POST", target, tok); err != nil {
		t.Fatal(err)
	}
}

// TestReplay: a proof is single use, also on another replica sharing the
// store.
func TestReplay(t *testing.T) {
	d := newDevice(t)
	store := memory.New(func() time.Time { return testNow })
	a := &Verifier{Window: time.Minute, Replay: store, Now: func() time.Time { return testNow }}
	b := &Verifier{Window: time.Minute, Replay: store, Now: func() time.Time { return testNow }}
	p := d.proof(t, nil)
	if _, err := a.Verify(t.Context(), p, "POST", target, ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Verifier{a, b} {
		if _, err := v.Verify(t.Context(), p, "POST", target, ""); !errors.Is(err, ErrInvalidProof) || !strings.Contains(err.Error(), "replay") {
			t.Fatalf("replayed proof: %v", err)
		}
	}
}

func TestNonce(t *testing.T) {
	d := newDevice(t)
	v := newVerifier()
	v.Nonce = func(got string) (string, bool) { return "n-2", got == "n-2" || got == "n-1" }
	_, err := v.Verify(t.Context(), d.proof(t, nil), "POST", target, "")
	var use *UseNonceError
	if !errors.As(err, &use) || use.Nonce != "n-2" {
		t.Fatalf("without a nonce: %v", err)
	}
	if _, err := v.Verify(t.Context(), d.proof(t, func(m map[string]any) { m["nonce"] = "n-1" }), "POST", target, ""); err != nil {
		t.Fatalf("with the previous nonce: %v", err)
	}
}

// The proof of RFC 9449 §4.1 (Figure 4), checked at its own time.
const rfcProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"

func TestRFCExample(t *testing.T) {
	at := time.Unix(1562262616, 0)
	v := &Verifier{Window: time.Minute, Replay: memory.New(func() time.Time { return at }), Now: func() time.Time { return at }}
	p, err := v.Verify(t.Context(), rfcProof, "POST", "https://server.example.com/token", "")
	if err != nil {
		t.Fatal(err)
	}
	// RFC 9449 §6.1 gives this key's thumbprint.
	if p.JKT != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
		t.Fatalf("jkt %s", p.JKT)
	}
}

func unsigned(t *testing.T, d *device, alg string) string {
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: d.key.Public()})
	h := `{"typ":"dpop+jwt","alg":"` + alg + `","jwk":` + string(jwk) + `}`
	c := `{"jti":"x","htm":"POST","htu":"` + target + `","iat":` + jsonInt(testNow.Unix()) + `}`
	return b64(h) + "." + b64(c) + "."
}

func privateJWK(t *testing.T, d *device) string {
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: d.key}) // includes d
	h := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(jwk) + `}`
	c := `{"jti":"x","htm":"POST","htu":"` + target + `","iat":` + jsonInt(testNow.Unix()) + `}`
	return b64(h) + "." + b64(c) + ".AAAA"
}

func wrongTyp(t *testing.T, d *device) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: d.key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"))
	jws, _ := s.Sign([]byte(`{"jti":"x","htm":"POST","htu":"` + target + `","iat":` + jsonInt(testNow.Unix()) + `}`))
	out, _ := jws.CompactSerialize()
	return out
}

func hmacProof(t *testing.T) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithType("dpop+jwt"))
	jws, _ := s.Sign([]byte(`{"jti":"x","htm":"POST","htu":"` + target + `","iat":` + jsonInt(testNow.Unix()) + `}`))
	out, _ := jws.CompactSerialize()
	return out
}

func tamper(p string) string {
	parts := strings.Split(p, ".")
	var m map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(raw, &m)
	m["htu"] = target + "x"
	m["htu"] = target
	m["jti"] = "tampered"
	b, _ := json.Marshal(m)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func BenchmarkVerify(b *testing.B) {
	d := newDevice(b)
	v := newVerifier()
	proofs := make([]string, 0, 4096)
	for range 4096 {
		proofs = append(proofs, d.proof(b, nil))
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), proofs[i%len(proofs)], "POST", target, ""); err != nil && i < len(proofs) {
			b.Fatal(err)
		}
		i++
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(rfcProof, "POST", "https://server.example.com/token")
	f.Add("a.b.c", "GET", "https://x/")
	f.Fuzz(func(t *testing.T, proof, method, url string) {
		v := newVerifier()
		p, err := v.Verify(t.Context(), proof, method, url, "")
		if err == nil && p.JKT == "" {
			t.Fatal("accepted without a thumbprint")
		}
	})
}
