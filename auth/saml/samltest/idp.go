// Package samltest runs a SAML identity provider on 127.0.0.1 for tests:
// crewjam's saml.IdentityProvider with a key and certificate generated at
// test time, serving metadata and SSO (AuthnRequest in on the
// HTTP-Redirect binding, signed Response out on the POST binding) for a
// configurable user. Response builds a signed response directly, with
// knobs (what is signed, by which key, assertion edits) for attack tests.
package samltest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// User is who the IdP says logged in. Attributes use ADFS claim URIs as
// names (see the saml package's Claim constants).
type User struct {
	NameID       string // empty: no NameID element at all, as ADFS can do
	NameIDFormat string // default unspecified
	Attributes   []Attribute
	AuthnContext string // default PasswordProtectedTransport
}

// Attribute is one claim.
type Attribute struct {
	Name   string
	Values []string
}

// IdP is a running test identity provider.
type IdP struct {
	URL  string // base URL, http://127.0.0.1:port
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	IDP  *crewsaml.IdentityProvider

	mu   sync.Mutex
	user User
	sps  map[string]*crewsaml.EntityDescriptor
}

// New starts an IdP that logs everyone in as user. It stops when t ends.
func New(t testing.TB, user User) *IdP {
	t.Helper()
	key, cert := KeyPair(t)
	srv := httptest.NewUnstartedServer(nil)
	p := &IdP{URL: "http://" + srv.Listener.Addr().String(), Key: key, Cert: cert, user: user,
		sps: map[string]*crewsaml.EntityDescriptor{}}
	p.IDP = &crewsaml.IdentityProvider{
		Key:                     key,
		Certificate:             cert,
		Logger:                  log.New(testWriter{t}, "samltest idp: ", 0),
		MetadataURL:             mustURL(p.URL + "/metadata"),
		SSOURL:                  mustURL(p.URL + "/sso"),
		ServiceProviderProvider: p,
		SessionProvider:         p,
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
	}
	srv.Config.Handler = p.IDP.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// EntityID is the IdP's entity id (its metadata URL).
func (p *IdP) EntityID() string { return p.IDP.MetadataURL.String() }

// Metadata is the IdP metadata XML to pin in the SP's configuration.
func (p *IdP) Metadata() []byte {
	b, err := xml.MarshalIndent(p.IDP.Metadata(), "", "  ")
	if err != nil {
		panic(fmt.Sprintf("samltest: marshal idp metadata: %v", err))
	}
	return b
}

// AddServiceProvider registers an SP by its metadata XML, as an ADFS
// admin adds a relying party trust.
func (p *IdP) AddServiceProvider(metadata []byte) error {
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(metadata, &ed); err != nil {
		return fmt.Errorf("samltest: parse sp metadata: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sps[ed.EntityID] = &ed
	return nil
}

// SetUser changes who the SSO endpoint logs in.
func (p *IdP) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

func (p *IdP) currentUser() User {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.user
}

// GetServiceProvider implements crewsaml.ServiceProviderProvider.
func (p *IdP) GetServiceProvider(_ *http.Request, id string) (*crewsaml.EntityDescriptor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ed, ok := p.sps[id]; ok {
		return ed, nil
	}
	return nil, os.ErrNotExist // crewjam compares with ==
}

// GetSession implements crewsaml.SessionProvider: everyone is the user.
func (p *IdP) GetSession(_ http.ResponseWriter, _ *http.Request, _ *crewsaml.IdpAuthnRequest) *crewsaml.Session {
	return sessionFor(p.currentUser(), crewsaml.TimeNow())
}

func sessionFor(u User, now time.Time) *crewsaml.Session {
	s := &crewsaml.Session{
		ID: rand.Text(), CreateTime: now, ExpireTime: now.Add(time.Hour), Index: rand.Text(),
		NameID: u.NameID, NameIDFormat: u.NameIDFormat,
	}
	if s.NameIDFormat == "" {
		s.NameIDFormat = string(crewsaml.UnspecifiedNameIDFormat)
	}
	for _, a := range u.Attributes {
		at := crewsaml.Attribute{Name: a.Name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}
		for _, v := range a.Values {
			at.Values = append(at.Values, crewsaml.AttributeValue{Type: "xs:string", Value: v})
		}
		s.CustomAttributes = append(s.CustomAttributes, at)
	}
	return s
}

// KeyPair returns an RSA key and a self-signed certificate valid from 2000
// to 2099, so tests may pin any clock. The default key is made once per
// test binary; call NewKeyPair for a different one.
func KeyPair(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	kp, err := defaultPair()
	if err != nil {
		t.Fatalf("samltest: key pair: %v", err)
	}
	return kp.key, kp.cert
}

type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var defaultPair = sync.OnceValues(func() (keyPair, error) {
	k, c, err := GenerateKeyPair()
	return keyPair{k, c}, err
})

// NewKeyPair is a fresh key pair, for "signed by someone else" tests.
func NewKeyPair(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	k, c, err := GenerateKeyPair()
	if err != nil {
		t.Fatalf("samltest: key pair: %v", err)
	}
	return k, c
}

// GenerateKeyPair is NewKeyPair without a test, for keys a test binary
// caches.
func GenerateKeyPair() (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "samltest"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

// testWriter sends the IdP's log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
