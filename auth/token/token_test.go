package token

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Clients: []Client{{ID: "crm-mobile", RedirectURIs: []string{"com.example.crm:/cb", "https://app.example.com/cb", "http://127.0.0.1:5000/cb", "http://[::1]/cb"}}}}
	if err := good.Validate("mobile"); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for uri, want := range map[string]string{
		"crm:/cb":                       "reverse-domain",
		"com.example.crm://host/cb":     "path only",
		"https:///cb":                   "no host",
		"http://app.example.com/cb":     "loopback",
		"https://app.example.com/cb#x":  "fragment",
		"https://u:p@app.example.com/c": "user information",
		"javascript:alert(1)":           "reverse-domain",
	} {
		c := Config{Clients: []Client{{ID: "a", RedirectURIs: []string{uri}}}}
		err := c.Validate("mobile")
		if err == nil || !strings.Contains(err.Error(), "mobile.clients[0].redirect_uris[0]") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming the key and %q", uri, err, want)
		}
	}
	dup := Config{Clients: []Client{{ID: "a", RedirectURIs: []string{"com.a.b:/c"}}, {ID: "a", RedirectURIs: []string{"com.a.b:/c"}}, {ID: "b c"}}}
	err := dup.Validate("mobile")
	for _, want := range []string{"mobile.clients[1].id: \"a\" is registered twice", "mobile.clients[2].id", "mobile.clients[2].redirect_uris: lists no redirect URI"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

type policies struct{ v *policy.Versioned }

func (p policies) Policy() *policy.Versioned { return p.v }
func (p policies) Disabled(string) bool      { return false }

type devices struct{}

func (devices) AddDevice(context.Context, directory.Device) error { return nil }
func (devices) Device(_ context.Context, id string) (*directory.Device, error) {
	return &directory.Device{ID: id, UserID: "u1"}, nil
}
func (devices) TouchDevice(context.Context, string, time.Time, string) error { return nil }
func (devices) RevokeDevices(context.Context, string, []string, time.Time, string) ([]string, error) {
	return nil, nil
}

type nopAudit struct{}

func (nopAudit) Record(context.Context, audit.Event) {}

// newService is a Service over the memory store, as a single gateway runs.
func newService(t testing.TB) (*Service, *memory.Store) {
	k := make([]byte, secret.KeySize)
	rand.Read(k)
	ring, err := secret.NewKeyring(secret.Key{ID: "k1", Bytes: k})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(time.Now)
	p := policy.Default()
	pub, _ := url.Parse("https://gw.example")
	return New(Options{Public: pub, Clients: []Client{{ID: "crm-mobile", RedirectURIs: []string{"com.example.crm:/cb"}}},
		Sessions: session.NewManager(store, session.Options{}), Store: store, Devices: devices{}, Keys: ring,
		Policies: policies{&policy.Versioned{Policy: p, Version: 1}}, Audit: nopAudit{}}), store
}

// TestAccessTokenOpensOnlyItsOwn: an access token is sealed; a flipped
// byte, another purpose's sealed value or a foreign prefix does not open.
func TestAccessTokenOpensOnlyItsOwn(t *testing.T) {
	s, _ := newService(t)
	tk := session.NewTicket()
	exp := time.Now().Add(time.Minute).Truncate(time.Second)
	tok := s.accessToken(tk, exp, true)
	got, gotExp, bound, err := s.openAccess(tok)
	if err != nil || got != tk || !gotExp.Equal(exp) || !bound {
		t.Fatalf("round trip: %v %v %v %v", err, got.ID, gotExp, bound)
	}
	b := []byte(tok)
	b[len(b)-5] ^= 1
	if _, _, _, err := s.openAccess(string(b)); err == nil {
		t.Fatal("a tampered token opened")
	}
	req := s.SealRequest(AuthRequest{ClientID: "crm-mobile", RedirectURI: "com.example.crm:/cb"})
	if _, _, _, err := s.openAccess(accessPrefix + req); err == nil {
		t.Fatal("a sealed authorization request opened as an access token")
	}
	if _, err := s.OpenRequest(strings.TrimPrefix(tok, accessPrefix)); err == nil {
		t.Fatal("an access token opened as an authorization request")
	}
}

// TestTokenRequestErrors: malformed token requests get the RFC 6749 error
// they deserve, before any proof is checked or anything consumed.
func TestTokenRequestErrors(t *testing.T) {
	s, _ := newService(t)
	for name, c := range map[string]struct {
		form url.Values
		want string
	}{
		"no grant type":      {url.Values{}, "invalid_request"},
		"implicit":           {url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		"duplicate param":    {url.Values{"grant_type": {"refresh_token", "refresh_token"}}, "invalid_request"},
		"code without PKCE":  {url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"com.example.crm:/cb"}, "client_id": {"crm-mobile"}}, "invalid_request"},
		"unknown client":     {url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"a"}, "client_id": {"evil"}, "code_verifier": {"v"}}, "invalid_client"},
		"refresh, no token":  {url.Values{"grant_type": {"refresh_token"}}, "invalid_request"},
		"refresh, no proof":  {url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gr1.x"}}, "invalid_dpop_proof"},
		"code, no proof":     {url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"com.example.crm:/cb"}, "client_id": {"crm-mobile"}, "code_verifier": {strings.Repeat("a", 43)}}, "invalid_dpop_proof"},
		"refresh, two proof": {url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gr1.x"}}, "invalid_dpop_proof"},
	} {
		req := TokenRequest{Form: c.form, ClientIP: "192.0.2.1"}
		if name == "refresh, two proof" {
			req.DPoP = []string{"a", "b"}
		}
		_, e := s.Token(t.Context(), req)
		if e == nil || e.Code != c.want {
			t.Errorf("%s: got %v, want %s", name, e, c.want)
		}
	}
}

// TestVerifier: PKCE S256 against RFC 7636 Appendix B's example.
func TestVerifier(t *testing.T) {
	const v, ch = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if e := checkVerifier(v, ch); e != nil {
		t.Fatalf("RFC 7636 example: %v", e)
	}
	for _, bad := range []string{v[:42], v + "!", strings.Repeat("a", 129), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"} {
		if checkVerifier(bad, ch) == nil {
			t.Errorf("verifier %q accepted", bad)
		}
	}
}

// FuzzTokenRequest feeds arbitrary forms and proofs to the token
// endpoint: it never panics, never issues tokens, and answers an OAuth
// error code.
func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=authorization_code&code=gc1.AAAA&redirect_uri=com.example.crm%3A%2Fcb&client_id=crm-mobile&code_verifier=abc", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.")
	f.Add("grant_type=refresh_token&refresh_token=gr1.AAAA.BBBB", "a.b.c")
	f.Add("grant_type=refresh_token&refresh_token=gr1.AAAA.BBBB&refresh_token=x", "")
	s, _ := newService(f)
	f.Fuzz(func(t *testing.T, body, proof string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		var dp []string
		if proof != "" {
			dp = []string{proof}
		}
		resp, e := s.Token(context.Background(), TokenRequest{Form: form, DPoP: dp, ClientIP: "192.0.2.1"})
		if resp != nil || e == nil || e.Code == "" || e.Status < 400 {
			t.Fatalf("form %q proof %q: resp %v err %v", body, proof, resp, e)
		}
	})
}

// FuzzAuthorize feeds arbitrary authorization queries: never a panic, and
// never an error redirect to a URI the client did not register.
func FuzzAuthorize(f *testing.F) {
	f.Add("response_type=code&client_id=crm-mobile&redirect_uri=com.example.crm%3A%2Fcb&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
	f.Add("client_id=crm-mobile&redirect_uri=com.example.crm%3A%2Fcb%2F&state=s")
	f.Add("client_id=crm-mobile&client_id=x&redirect_uri=com.example.crm%3A%2Fcb")
	s, _ := newService(f)
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, e, redirect := s.ParseAuthorize(q)
		if (e != nil && redirect || e == nil) && req.RedirectURI != "com.example.crm:/cb" {
			t.Fatalf("query %q: would redirect to %q", query, req.RedirectURI)
		}
		if e == nil && (req.Challenge == "" || req.State == "") {
			t.Fatalf("query %q accepted without PKCE or state", query)
		}
	})
}
