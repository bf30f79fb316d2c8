package samltest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
)

// Signing says which elements a response carries a signature on.
type Signing int

const (
	// SignAssertion signs the assertion only: what ADFS does by default.
	SignAssertion Signing = iota
	// SignResponse signs the Response only, the assertion inside unsigned.
	SignResponse
	// SignBoth signs both, as crewjam's IdP does.
	SignBoth
	// SignNothing signs nothing.
	SignNothing
)

// Options shape one response made by Response.
type Options struct {
	RequestID  string    // InResponseTo on Response and SubjectConfirmationData; "" for IdP-initiated
	SPEntityID string    // the Audience
	ACSURL     string    // Destination and Recipient
	User       *User     // default: the IdP's current user
	Now        time.Time // IssueInstant and start of validity; zero: crewsaml.TimeNow()
	Sign       Signing
	// Key and Cert sign instead of the IdP's own (signed by someone else).
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// Edit changes the assertion before it is signed.
	Edit func(*crewsaml.Assertion)
}

// Response returns a response as the POST binding carries it (base64).
func (p *IdP) Response(o Options) (string, error) {
	b, err := p.ResponseXML(o)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ResponseXML builds the response document with crewjam's own IdP code:
// DefaultAssertionMaker, MakeAssertionEl (signs the assertion), and
// MakeResponse (signs the Response) or an unsigned Response around it.
func (p *IdP) ResponseXML(o Options) ([]byte, error) {
	if o.Now.IsZero() {
		o.Now = crewsaml.TimeNow()
	}
	u := p.currentUser()
	if o.User != nil {
		u = *o.User
	}
	req := p.request(o)
	if err := (crewsaml.DefaultAssertionMaker{}).MakeAssertion(req, sessionFor(u, o.Now)); err != nil {
		return nil, fmt.Errorf("samltest: make assertion: %w", err)
	}
	shape(req.Assertion, u, o.Now)
	if o.Edit != nil {
		o.Edit(req.Assertion)
	}
	el, err := build(req, o)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return doc.WriteToBytes()
}

func (p *IdP) request(o Options) *crewsaml.IdpAuthnRequest {
	idp := p.IDP
	if o.Key != nil {
		other := *p.IDP
		other.Key, other.Certificate = o.Key, o.Cert
		idp = &other
	}
	return &crewsaml.IdpAuthnRequest{
		IDP:                     idp,
		HTTPRequest:             &http.Request{RemoteAddr: "127.0.0.1:1"},
		Now:                     o.Now,
		Request:                 crewsaml.AuthnRequest{ID: o.RequestID, IssueInstant: o.Now},
		ServiceProviderMetadata: &crewsaml.EntityDescriptor{EntityID: o.SPEntityID},
		SPSSODescriptor:         &crewsaml.SPSSODescriptor{},
		ACSEndpoint:             &crewsaml.IndexedEndpoint{Binding: crewsaml.HTTPPostBinding, Location: o.ACSURL},
	}
}

// shape makes the assertion look like the user's: no NameID element when
// the user has none, their AuthnContext, and IssueInstant at now (crewjam
// reads its global clock there).
func shape(a *crewsaml.Assertion, u User, now time.Time) {
	a.IssueInstant = now
	if u.NameID == "" {
		a.Subject.NameID = nil
	}
	if u.AuthnContext != "" {
		a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value = u.AuthnContext
	}
}

func build(req *crewsaml.IdpAuthnRequest, o Options) (*etree.Element, error) {
	if o.Sign == SignAssertion || o.Sign == SignBoth {
		if err := req.MakeAssertionEl(); err != nil {
			return nil, fmt.Errorf("samltest: sign assertion: %w", err)
		}
	} else {
		req.AssertionEl = req.Assertion.Element()
	}
	if o.Sign == SignResponse || o.Sign == SignBoth {
		if err := req.MakeResponse(); err != nil {
			return nil, fmt.Errorf("samltest: sign response: %w", err)
		}
		return req.ResponseEl, nil
	}
	resp := crewsaml.Response{
		Destination: o.ACSURL, ID: "id-" + rand.Text(), InResponseTo: o.RequestID,
		IssueInstant: o.Now, Version: "2.0",
		Issuer: &crewsaml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: req.IDP.MetadataURL.String()},
		Status: crewsaml.Status{StatusCode: crewsaml.StatusCode{Value: crewsaml.StatusSuccess}},
	}
	el := resp.Element()
	el.AddChild(req.AssertionEl)
	return el, nil
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([A-Za-z]+)" value="([^"]*)" />`)
)

// ParseForm reads the auto-submitting form the IdP's SSO endpoint writes:
// where it posts, and the fields (SAMLResponse, RelayState).
func ParseForm(page []byte) (action string, fields url.Values, err error) {
	m := formAction.FindSubmatch(page)
	if m == nil {
		return "", nil, errors.New("samltest: no POST form in the IdP's page")
	}
	fields = url.Values{}
	for _, in := range formInput.FindAllSubmatch(page, -1) {
		fields.Set(string(in[1]), html.UnescapeString(string(in[2])))
	}
	return html.UnescapeString(string(m[1])), fields, nil
}
