package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// t0 is when every flow test starts; tests move the clock explicitly.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// alice is how the test IdP describes its user: ADFS claim URIs.
var alice = samltest.User{
	NameID:       "alice@corp.example",
	NameIDFormat: string(crewsaml.EmailAddressNameIDFormat),
	AuthnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
	Attributes: []samltest.Attribute{
		{Name: ClaimUPN, Values: []string{"alice@corp.example"}},
		{Name: ClaimEmail, Values: []string{"alice@corp.example"}},
		{Name: ClaimName, Values: []string{"Alice Example"}},
		{Name: ClaimGroup, Values: []string{"North", "CRM-Sales"}},
		{Name: ClaimRole, Values: []string{"CRM-Sales", "Manager"}},
	},
}

// rig is one SAML provider wired to a test IdP, on a pinned clock and a
// real in-memory nonce store. sp is the gateway side over HTTP.
type rig struct {
	clock *testClock
	store *memory.Store
	idp   *samltest.IdP
	c     *Connector
	cfg   Config
	sp    *httptest.Server
}

// spPair is the SP's key, made once per test binary.
var spPair = sync.OnceValues(func() (spKeys, error) {
	k, c, err := samltest.GenerateKeyPair()
	return spKeys{k, c}, err
})

type spKeys struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newRig(t testing.TB, opts ...func(*Config)) *rig {
	t.Helper()
	r := &rig{clock: pinClock(t, t0)}
	r.store = newNonces(t, r.clock)
	r.idp = samltest.New(t, alice)
	r.sp = httptest.NewUnstartedServer(nil)
	base := "http://" + r.sp.Listener.Addr().String() + "/.gatehouse/saml/adfs/"
	keys, err := spPair()
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = Config{ID: "adfs", ACSURL: base + "acs", MetadataURL: base + "metadata",
		IDPMetadata: r.idp.Metadata(), SPCert: keys.cert, SPKey: keys.key}
	for _, o := range opts {
		o(&r.cfg)
	}
	if r.c, err = New(r.cfg, r.store, r.clock.Now); err != nil {
		t.Fatalf("New: %v", err)
	}
	md, err := r.c.Metadata()
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if err := r.idp.AddServiceProvider(md); err != nil {
		t.Fatal(err)
	}
	r.sp.Config.Handler = http.HandlerFunc(r.serveACS)
	r.sp.Start()
	t.Cleanup(r.sp.Close)
	return r
}

// serveACS is what the gateway's ACS route will do, minus the session.
func (r *rig) serveACS(w http.ResponseWriter, req *http.Request) {
	res, err := r.c.ACS(req)
	if err != nil {
		http.Error(w, "login failed", http.StatusForbidden)
		return
	}
	w.Header().Set("Location", res.Redirect)
	_, _ = io.WriteString(w, res.NameID+"|"+res.UPN+"|"+strings.Join(res.Groups, ","))
}

// begin starts a login as Start does and returns its RelayState and the
// AuthnRequest's id, read back from the redirect URL.
func (r *rig) begin(t testing.TB) (relay, requestID string) {
	t.Helper()
	u, err := r.c.Start(context.Background(), "/")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	q := mustParse(t, u).Query()
	return q.Get("RelayState"), authnRequest(t, q.Get("SAMLRequest")).ID
}

// response makes a response answering requestID for this SP.
func (r *rig) response(t testing.TB, requestID string, o samltest.Options) string {
	t.Helper()
	o.RequestID, o.SPEntityID, o.ACSURL = requestID, r.cfg.MetadataURL, r.cfg.ACSURL
	s, err := r.idp.Response(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// post calls ACS directly with the form the browser would send.
func (r *rig) post(samlResponse, relay string, cookies ...*http.Cookie) (Result, error) {
	form := url.Values{"SAMLResponse": {samlResponse}, "RelayState": {relay}}
	req := httptest.NewRequest(http.MethodPost, r.cfg.ACSURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return r.c.ACS(req)
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func authnRequest(t testing.TB, samlRequest string) crewsaml.AuthnRequest {
	t.Helper()
	deflated, err := base64.StdEncoding.DecodeString(samlRequest)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(deflated)))
	if err != nil {
		t.Fatal(err)
	}
	var req crewsaml.AuthnRequest
	if err := xml.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestSPInitiatedLogin is the whole flow over real HTTP: Start, the IdP's
// SSO endpoint (Redirect binding in), its auto-POST form (POST binding
// out), and the ACS.
func TestSPInitiatedLogin(t *testing.T) {
	r := newRig(t)
	u, cookie, err := r.c.StartBound(context.Background(), "/crm/leads?view=mine")
	if err != nil {
		t.Fatalf("StartBound: %v", err)
	}
	if !strings.HasPrefix(u, r.idp.URL+"/sso?") {
		t.Fatalf("got redirect %q, want the IdP's SSO endpoint", u)
	}
	page := get(t, u)
	action, fields, err := samltest.ParseForm(page)
	if err != nil {
		t.Fatalf("%v in %s", err, page)
	}
	if action != r.cfg.ACSURL {
		t.Fatalf("got form action %q, want %q", action, r.cfg.ACSURL)
	}
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got ACS status %d, want 200", resp.StatusCode)
	}
	if got, want := string(body), "alice@corp.example|alice@corp.example|North,CRM-Sales,Manager"; got != want {
		t.Errorf("got identity %q, want %q", got, want)
	}
	if got := resp.Header.Get("Location"); got != "/crm/leads?view=mine" {
		t.Errorf("got redirect %q, want the rd given to Start", got)
	}
	_, err = r.post(fields.Get("SAMLResponse"), fields.Get("RelayState"), cookie)
	wantKind(t, err, ErrUnsolicited) // the RelayState was used up
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", u, resp.StatusCode, b)
	}
	return b
}

// TestStartSignsRequest checks the AuthnRequest on the wire: our entity id
// and ACS, the IdP's SSO URL as Destination, its id stored under the
// RelayState, and a Redirect-binding signature the SP certificate verifies.
func TestStartSignsRequest(t *testing.T) {
	r := newRig(t)
	u, err := r.c.Start(context.Background(), "/x")
	if err != nil {
		t.Fatal(err)
	}
	parsed := mustParse(t, u)
	q := parsed.Query()
	req := authnRequest(t, q.Get("SAMLRequest"))
	if req.Issuer.Value != r.cfg.MetadataURL || req.AssertionConsumerServiceURL != r.cfg.ACSURL || req.Destination != r.idp.URL+"/sso" {
		t.Errorf("got issuer %q acs %q destination %q, want ours and the IdP's", req.Issuer.Value, req.AssertionConsumerServiceURL, req.Destination)
	}
	if len(q.Get("RelayState")) > maxRelayState {
		t.Errorf("got RelayState of %d bytes, want at most %d", len(q.Get("RelayState")), maxRelayState)
	}
	raw, err := r.store.Take(context.Background(), "saml:adfs:"+q.Get("RelayState"))
	if err != nil || !strings.Contains(string(raw), req.ID) {
		t.Errorf("got stored transaction %q (%v), want one holding %q", raw, err, req.ID)
	}
	signed := parsed.RawQuery[:strings.Index(parsed.RawQuery, "&Signature=")]
	sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
	sum := sha256.Sum256([]byte(signed))
	if err := rsa.VerifyPKCS1v15(r.cfg.SPCert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("redirect signature does not verify with the SP certificate: %v", err)
	}
}

// TestLoginCSRFBinding: a response for a login StartBound began is only
// accepted from the browser holding its cookie.
func TestLoginCSRFBinding(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cookie func(real *http.Cookie) *http.Cookie
		ok     bool
	}{
		{"same browser", func(c *http.Cookie) *http.Cookie { return c }, true},
		{"no cookie", func(*http.Cookie) *http.Cookie { return nil }, false},
		{"another login's cookie", func(c *http.Cookie) *http.Cookie { return &http.Cookie{Name: c.Name, Value: "ANOTHER"} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			u, cookie, err := r.c.StartBound(context.Background(), "/")
			if err != nil {
				t.Fatal(err)
			}
			if cookie.SameSite != http.SameSiteNoneMode || !cookie.Secure || !cookie.HttpOnly || cookie.Path != "/" {
				t.Errorf("got cookie %v, want SameSite=None; Secure; HttpOnly; Path=/", cookie)
			}
			q := mustParse(t, u).Query()
			resp := r.response(t, authnRequest(t, q.Get("SAMLRequest")).ID, samltest.Options{})
			var cookies []*http.Cookie
			if c := tt.cookie(cookie); c != nil {
				cookies = append(cookies, c)
			}
			_, err = r.post(resp, q.Get("RelayState"), cookies...)
			if tt.ok && err != nil {
				t.Fatalf("got %v, want accepted", err)
			}
			if !tt.ok {
				wantKind(t, err, ErrUnsolicited)
			}
		})
	}
}
