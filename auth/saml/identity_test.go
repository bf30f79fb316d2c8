package saml

import (
	"errors"
	"slices"
	"testing"

	crewsaml "github.com/crewjam/saml"
)

// assertion builds a verified-looking assertion with a NameID (if any)
// and claims given as name, value, name, value...
func assertion(nameID string, claims ...string) *crewsaml.Assertion {
	a := &crewsaml.Assertion{ID: "id-1", Subject: &crewsaml.Subject{}}
	if nameID != "" {
		a.Subject.NameID = &crewsaml.NameID{Value: nameID}
	}
	var attrs []crewsaml.Attribute
	for i := 0; i+1 < len(claims); i += 2 {
		attrs = append(attrs, crewsaml.Attribute{Name: claims[i], Values: []crewsaml.AttributeValue{{Value: claims[i+1]}}})
	}
	a.AttributeStatements = []crewsaml.AttributeStatement{{Attributes: attrs}}
	return a
}

func TestIdentityFromClaims(t *testing.T) {
	for _, tt := range []struct {
		name    string
		a       *crewsaml.Assertion
		want    Result
		wantErr error
	}{
		{name: "ADFS claims", a: assertion("alice@corp.example",
			ClaimUPN, "alice@corp.example", ClaimEmail, "Alice@Corp.Example", ClaimName, "CORP\\alice",
			ClaimGroup, "North", ClaimRole, "CRM-Admins", ClaimGroup, "North"),
			want: Result{NameID: "alice@corp.example", UPN: "alice@corp.example", Email: "Alice@Corp.Example",
				Name: "CORP\\alice", Groups: []string{"North", "CRM-Admins"}}},
		{name: "no NameID, UPN only", a: assertion("", ClaimUPN, "bob@corp.example"),
			want: Result{UPN: "bob@corp.example"}},
		{name: "no NameID, mail OID", a: assertion("", "urn:oid:0.9.2342.19200300.100.1.3", "carol@corp.example"),
			want: Result{Email: "carol@corp.example"}},
		{name: "given name and surname", a: assertion("dave", ClaimGivenName, "Dave", ClaimSurname, "Jones"),
			want: Result{NameID: "dave", Name: "Dave Jones"}},
		{name: "whitespace around the NameID", a: assertion("\n  erin@corp.example\n"),
			want: Result{NameID: "erin@corp.example"}},
		{name: "same email twice", a: assertion("", ClaimEmail, "f@corp.example", ClaimEmail, "f@corp.example"),
			want: Result{Email: "f@corp.example"}},
		{name: "nobody", a: assertion("", ClaimName, "Nobody"), wantErr: ErrNoIdentity},
		{name: "two different UPNs", a: assertion("", ClaimUPN, "a@corp.example", ClaimUPN, "admin@corp.example"), wantErr: ErrNoIdentity},
		{name: "two different emails", a: assertion("x", ClaimEmail, "a@corp.example", ClaimEmail, "b@corp.example"), wantErr: ErrNoIdentity},
		{name: "NUL in the NameID", a: assertion("admin@corp.example\x00.evil.com"), wantErr: ErrNoIdentity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resultFrom(tt.a)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if got.NameID != tt.want.NameID || got.UPN != tt.want.UPN || got.Email != tt.want.Email ||
				got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.AssertionID != "id-1" {
				t.Errorf("got assertion id %q, want id-1", got.AssertionID)
			}
		})
	}
}

// TestCorpusIdentity reads the ADFS claims of real accepted responses.
func TestCorpusIdentity(t *testing.T) {
	want := map[string]Result{
		"adfs/gosaml2-adfs-assertion-signed": {NameID: "paul@spstest2.com", NameIDFormat: string(crewsaml.EmailAddressNameIDFormat),
			Name: "paul fraley", AuthnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
		"adfs/lightsaml-response01": {NameID: "bos@bead.loc", NameIDFormat: string(crewsaml.TransientNameIDFormat),
			Name: "bos@bead.loc", AuthnContext: "urn:federation:authentication:windows"},
		"adfs/lightsaml-response03": {Email: "bos@bos.com", Name: "bos@bead.loc", AuthnContext: "urn:federation:authentication:windows"},
	}
	for _, c := range loadCorpus(t) {
		w, ok := want[c.ID]
		if !ok {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			got, err := runCase(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if got.NameID != w.NameID || got.NameIDFormat != w.NameIDFormat || got.UPN != w.UPN ||
				got.Email != w.Email || got.Name != w.Name || got.AuthnContext != w.AuthnContext {
				t.Errorf("got %+v, want %+v", got, w)
			}
		})
	}
}
