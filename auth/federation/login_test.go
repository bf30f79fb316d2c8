package federation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
)

// fakeProtocol vouches for fixed claims, or fails with err.
type fakeProtocol struct {
	claims Claims
	err    error
}

func (f fakeProtocol) Protocol() string { return "oidc" }
func (f fakeProtocol) Start(context.Context, string, string) (string, error) {
	return "https://idp.example/authorize", nil
}
func (f fakeProtocol) Finish(*http.Request, string) (Claims, string, error) {
	return f.claims, "/deals", f.err
}

type fakeSAML struct{ fakeProtocol }

func (fakeSAML) Protocol() string          { return "saml" }
func (fakeSAML) Metadata() ([]byte, error) { return []byte("<md/>"), nil }

func TestLoginResolvesAfterTheProtocol(t *testing.T) {
	db := openDir(t)
	alice := addUser(t, db, "alice", "alice@corp.example", "sales")
	c := corp("s-1", "alice@corp.example")
	c.MFA = true
	l := NewLogin(fakeProtocol{claims: c}, Env{ID: "corp", Label: "Corp SSO", Rule: Rule{Match: "email"}, Users: db})
	if l.ID() != "corp" || l.Label() != "Corp SSO" || l.Protocol() != "oidc" {
		t.Fatalf("got %s %s %s", l.ID(), l.Label(), l.Protocol())
	}
	if _, ok := l.(auth.MetadataProvider); ok {
		t.Error("an OIDC login offers SAML metadata")
	}
	res, err := l.Finish(httptest.NewRequest("GET", "/", nil), "b")
	if err != nil {
		t.Fatal(err)
	}
	if res.Identity.UserID != alice.ID || res.Redirect != "/deals" || !res.MFA || res.Detail["identity_linked"] != "true" {
		t.Fatalf("got %+v", res)
	}
	if _, ok := NewLogin(fakeSAML{}, Env{}).(auth.MetadataProvider); !ok {
		t.Error("a SAML login lost its metadata")
	}
}

func TestLoginRefusalsNameTheProvider(t *testing.T) {
	db := openDir(t)
	l := NewLogin(fakeProtocol{claims: corp("s-x", "nobody@corp.example")}, Env{ID: "corp", Label: "Corp SSO", Rule: Rule{Match: "email"}, Users: db})
	_, err := l.Finish(httptest.NewRequest("GET", "/", nil), "b")
	var r *auth.Refusal
	var f *auth.Failure
	if !errors.As(err, &r) || r.Status != http.StatusForbidden || r.Code != "federated_no_account" ||
		r.Message != "Your Corp SSO account is not set up for this application. Ask your administrator." ||
		!errors.As(err, &f) || f.Reason != "no_account" || !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("got %#v, want a no_account refusal naming Corp SSO", err)
	}
	// A protocol's own error passes through untouched.
	boom := errors.New("store down")
	l = NewLogin(fakeProtocol{err: boom}, Env{ID: "corp", Users: db})
	if _, err := l.Finish(httptest.NewRequest("GET", "/", nil), "b"); !errors.Is(err, boom) || errors.As(err, &r) {
		t.Fatalf("got %v, want the internal error as is", err)
	}
}
