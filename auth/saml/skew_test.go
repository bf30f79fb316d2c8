package saml

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// TestClockSkewIsPerProvider builds two providers in one process, a strict
// one (30 s) and a lenient one (5 min), in both orders, and posts each a
// response that is 2½ minutes old with a validity that ended 1½ minutes
// ago. The strict provider must refuse it and the lenient one accept it,
// whichever was built last: crewjam keeps its tolerances in package
// variables, so a skew set through them would be the last provider's for
// every provider.
func TestClockSkewIsPerProvider(t *testing.T) {
	for _, order := range []string{"strict built first", "lenient built first"} {
		t.Run(order, func(t *testing.T) {
			r := newRig(t)
			var strict, lenient *Connector
			if order == "strict built first" {
				strict, lenient = r.another(t, "strict", 30*time.Second), r.another(t, "lenient", 5*time.Minute)
			} else {
				lenient, strict = r.another(t, "lenient", 5*time.Minute), r.another(t, "strict", 30*time.Second)
			}
			respond := func(c *Connector) func() (Result, error) {
				relay, id := begin(t, c)
				resp := r.responseFor(t, c, id, samltest.Options{Edit: func(a *crewsaml.Assertion) {
					end := t0.Add(time.Minute)
					a.Conditions.NotOnOrAfter = end
					a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = end
				}})
				return func() (Result, error) { return postTo(c, resp, relay) }
			}
			strictPost, lenientPost := respond(strict), respond(lenient)
			r.clock.Advance(150 * time.Second)
			if _, err := strictPost(); err == nil {
				t.Error("the 30s provider accepted a response 90s past its validity")
			} else {
				wantKind(t, err, ErrInvalidResponse)
			}
			if _, err := lenientPost(); err != nil {
				t.Errorf("the 5m provider refused a response 90s past its validity: %v", err)
			}
		})
	}
}

// another builds a second provider on the rig's IdP, clock and store,
// with its own id, endpoints and clock skew.
func (r *rig) another(t *testing.T, id string, skew time.Duration) *Connector {
	t.Helper()
	cfg := r.cfg
	base := strings.Replace(cfg.ACSURL, "/adfs/acs", "/"+id+"/", 1)
	cfg.ID, cfg.ACSURL, cfg.MetadataURL, cfg.EntityID, cfg.ClockSkew = id, base+"acs", base+"metadata", "", skew
	c, err := New(cfg, r.store, r.clock.Now)
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	md, err := c.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.idp.AddServiceProvider(md); err != nil {
		t.Fatal(err)
	}
	return c
}

// begin starts a login on c and returns its RelayState and request id.
func begin(t *testing.T, c *Connector) (relay, requestID string) {
	t.Helper()
	u, err := c.Start(t.Context(), "/")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	q := mustParse(t, u).Query()
	return q.Get("RelayState"), authnRequest(t, q.Get("SAMLRequest")).ID
}

// responseFor makes a response answering requestID for c.
func (r *rig) responseFor(t *testing.T, c *Connector, requestID string, o samltest.Options) string {
	t.Helper()
	o.RequestID, o.SPEntityID, o.ACSURL = requestID, c.v.sp.EntityID, c.v.acs.String()
	s, err := r.idp.Response(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postTo calls c's ACS with the form a browser would send.
func postTo(c *Connector, samlResponse, relay string) (Result, error) {
	form := url.Values{"SAMLResponse": {samlResponse}, "RelayState": {relay}}
	req := httptest.NewRequest(http.MethodPost, c.v.acs.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.ACS(req)
}
