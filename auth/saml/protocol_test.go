package saml

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// Attacks that keep every signature intact but use the response where,
// when, or for whom it was not meant.

func TestWrongAudience(t *testing.T) {
	other := "https://other-sp.example/saml/metadata"
	for _, tt := range []struct {
		name string
		edit func(*crewsaml.Assertion)
	}{
		{"another SP's audience", func(a *crewsaml.Assertion) { a.Conditions.AudienceRestrictions[0].Audience.Value = other }},
		{"no AudienceRestriction", func(a *crewsaml.Assertion) { a.Conditions.AudienceRestrictions = nil }},
		{"ours and another in separate restrictions", func(a *crewsaml.Assertion) {
			a.Conditions.AudienceRestrictions = append(a.Conditions.AudienceRestrictions,
				crewsaml.AudienceRestriction{Audience: crewsaml.Audience{Value: other}})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			_, err := r.post(r.response(t, id, samltest.Options{Edit: tt.edit}), relay)
			wantKind(t, err, ErrAudience)
		})
	}
	t.Run("crewjam alone accepts no AudienceRestriction", func(t *testing.T) {
		r := newRig(t)
		_, id := r.begin(t)
		resp := r.response(t, id, samltest.Options{Edit: func(a *crewsaml.Assertion) { a.Conditions.AudienceRestrictions = nil }})
		lax := r.c.v.sp
		lax.ValidateAudienceRestriction = nil
		if _, err := lax.ParseXMLResponse([]byte(decode(t, resp)), []string{id}, r.c.v.acs); err != nil {
			t.Fatalf("got %v from crewjam's own check; the strict hook is then not what refuses it", err)
		}
	})
}

func TestWrongIssuerRecipientDestination(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*crewsaml.Assertion)
		doc  func(t *testing.T, d string) string
	}{
		{name: "assertion from another issuer", edit: func(a *crewsaml.Assertion) { a.Issuer.Value = "https://evil.example/adfs" }},
		{name: "SubjectConfirmation for another ACS", edit: func(a *crewsaml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other-sp.example/acs"
		}},
		{name: "no SubjectConfirmation", edit: func(a *crewsaml.Assertion) { a.Subject.SubjectConfirmations = nil }},
		{name: "Response Destination is another ACS", doc: func(t *testing.T, d string) string {
			return replaceOnce(t, d, `Destination="http://`, `Destination="https://other-sp.example/acs?was=http://`)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			d := decode(t, r.response(t, id, samltest.Options{Edit: tt.edit}))
			if tt.doc != nil {
				d = tt.doc(t, d)
			}
			_, err := r.post(encode(d), relay)
			wantKind(t, err, ErrInvalidResponse)
		})
	}
}

func TestExpiredAssertion(t *testing.T) {
	for _, tt := range []struct {
		name  string
		later time.Duration // between the IdP signing and the POST
		edit  func(*crewsaml.Assertion)
		ok    bool
	}{
		{name: "posted within validity and skew", later: 170 * time.Second, ok: true},
		{name: "posted after NotOnOrAfter and skew", later: 180*time.Second + DefaultClockSkew + time.Second},
		{name: "Conditions already expired", edit: func(a *crewsaml.Assertion) { a.Conditions.NotOnOrAfter = t0.Add(-10 * time.Minute) }},
		{name: "Conditions not yet valid", edit: func(a *crewsaml.Assertion) { a.Conditions.NotBefore = t0.Add(10 * time.Minute) }},
		{name: "IssueInstant in the future", edit: func(a *crewsaml.Assertion) { a.IssueInstant = t0.Add(10 * time.Minute) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			resp := r.response(t, id, samltest.Options{Edit: tt.edit})
			r.clock.Advance(tt.later)
			_, err := r.post(resp, relay)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			wantKind(t, err, ErrInvalidResponse)
		})
	}
}

// TestReplayedResponse: crewjam accepts the same response twice; the
// RelayState being single-use and the assertion-id cache each stop it.
func TestReplayedResponse(t *testing.T) {
	r := newRig(t)
	relay, id := r.begin(t)
	resp := r.response(t, id, samltest.Options{})
	for i := range 2 {
		if _, err := r.c.v.sp.ParseXMLResponse([]byte(decode(t, resp)), []string{id}, r.c.v.acs); err != nil {
			t.Fatalf("crewjam refused pass %d (%v); the replay cache would not be what refuses", i, err)
		}
	}
	if _, err := r.post(resp, relay); err != nil {
		t.Fatalf("first POST: %v", err)
	}
	t.Run("same RelayState", func(t *testing.T) {
		_, err := r.post(resp, relay)
		wantKind(t, err, ErrUnsolicited)
	})
	t.Run("a new pending login for the same request id", func(t *testing.T) {
		ok, err := r.store.PutOnce(context.Background(), "saml:adfs:AGAIN", []byte(`{"req":"`+id+`"}`), time.Minute)
		if err != nil || !ok {
			t.Fatalf("PutOnce: %v %v", ok, err)
		}
		_, err = r.post(resp, "AGAIN")
		wantKind(t, err, ErrReplay)
	})
	t.Run("IdP-initiated", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AllowIDPInitiated = true })
		resp := r.response(t, "", samltest.Options{})
		if _, err := r.post(resp, ""); err != nil {
			t.Fatalf("first POST: %v", err)
		}
		r.clock.Advance(time.Minute)
		_, err := r.post(resp, "")
		wantKind(t, err, ErrReplay)
	})
}

func TestUnsolicitedResponse(t *testing.T) {
	for _, tt := range []struct {
		name  string
		relay func(real string) string
		wait  time.Duration
	}{
		{name: "no RelayState", relay: func(string) string { return "" }},
		{name: "unknown RelayState", relay: func(string) string { return "NOTOURS" }},
		{name: "RelayState naming another key", relay: func(s string) string { return "x:" + s }},
		{name: "RelayState beyond 80 bytes", relay: func(s string) string { return s + strings.Repeat("A", 80) }},
		{name: "login expired", relay: func(s string) string { return s }, wait: transactionTTL + time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			r.clock.Advance(tt.wait)
			_, err := r.post(r.response(t, id, samltest.Options{}), tt.relay(relay))
			wantKind(t, err, ErrUnsolicited)
		})
	}
}

func TestWrongInResponseTo(t *testing.T) {
	for _, tt := range []struct {
		name      string
		requestID func(mine, other string) string
		edit      func(*crewsaml.Assertion)
	}{
		{name: "answers another login's request", requestID: func(_, other string) string { return other }},
		{name: "answers no request", requestID: func(string, string) string { return "" }},
		{name: "SubjectConfirmationData answers another request", requestID: func(mine, _ string) string { return mine },
			edit: func(a *crewsaml.Assertion) {
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "id-other"
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, mine := r.begin(t)
			_, other := r.begin(t)
			_, err := r.post(r.response(t, tt.requestID(mine, other), samltest.Options{Edit: tt.edit}), relay)
			wantKind(t, err, ErrInvalidResponse)
		})
	}
}

func TestIDPInitiatedRefusedByDefault(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		r := newRig(t)
		for _, relay := range []string{"", "/crm/deep-link"} {
			_, err := r.post(r.response(t, "", samltest.Options{}), relay)
			wantKind(t, err, ErrUnsolicited)
		}
	})
	t.Run("on", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AllowIDPInitiated = true })
		res, err := r.post(r.response(t, "", samltest.Options{}), url.QueryEscape("https://evil.example/"))
		if err != nil {
			t.Fatalf("got %v, want an IdP-initiated login", err)
		}
		if res.Redirect != "" || res.NameID != "alice@corp.example" {
			t.Errorf("got redirect %q nameid %q, want no redirect (the IdP's RelayState is not trusted) and alice", res.Redirect, res.NameID)
		}
	})
	t.Run("on, but a solicited response cannot pass as unsolicited", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AllowIDPInitiated = true })
		_, id := r.begin(t)
		_, err := r.post(r.response(t, id, samltest.Options{}), "")
		wantKind(t, err, ErrInvalidResponse)
	})
}
