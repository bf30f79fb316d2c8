package saml

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

func TestSectionValidate(t *testing.T) {
	ok := Section{IDPMetadataFile: "/etc/m.xml", SPCertFile: "/etc/sp.crt", SPKeyFile: "/etc/sp.key"}
	for _, tt := range []struct {
		name string
		mod  func(*Section)
		want string // "" for valid
	}{
		{"pinned metadata file", func(*Section) {}, ""},
		{"metadata URL with pinned certificate", func(s *Section) {
			s.IDPMetadataFile, s.IDPMetadataURL, s.IDPCertFile = "", "https://adfs.corp.example/md.xml", "/etc/idp.pem"
		}, ""},
		{"largest clock skew", func(s *Section) { s.ClockSkew = 10 * time.Minute }, ""},
		{"no metadata", func(s *Section) { s.IDPMetadataFile = "" }, "providers[0].idp_metadata_file: set exactly one"},
		{"both metadata", func(s *Section) { s.IDPMetadataURL = "https://adfs.corp.example/md.xml" }, "providers[0].idp_metadata_file: set exactly one"},
		{"metadata URL without pinned certificate", func(s *Section) { s.IDPMetadataFile, s.IDPMetadataURL = "", "https://adfs.corp.example/md.xml" }, "providers[0].idp_cert_file: required"},
		{"metadata over http", func(s *Section) {
			s.IDPMetadataFile, s.IDPMetadataURL, s.IDPCertFile = "", "http://adfs.corp.example/md.xml", "/etc/idp.pem"
		}, "providers[0].idp_metadata_url: must be an https:// URL"},
		{"no SP key", func(s *Section) { s.SPKeyFile = "" }, "providers[0].sp_cert_file:"},
		{"clock skew too large", func(s *Section) { s.ClockSkew = 11 * time.Minute }, "providers[0].clock_skew: must be 0s..10m0s, got 11m0s"},
		{"negative clock skew", func(s *Section) { s.ClockSkew = -time.Second }, "providers[0].clock_skew:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mod(&s)
			s.SetDefaults()
			err := s.Validate("providers[0]", "adfs", nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestSAMLMetadataURLNeedsPinnedCertificate: metadata fetched from a URL
// is used only when its signing certificates are the pinned ones.
func TestSAMLMetadataURLNeedsPinnedCertificate(t *testing.T) {
	idp := samltest.New(t, samltest.User{NameID: "alice@corp.example"})
	s, env := openable(t, idp)
	s.IDPMetadataURL = idp.EntityID()
	l, err := s.Open(t.Context(), env)
	if err != nil {
		t.Fatalf("metadata URL with the right pinned certificate: %v", err)
	}
	if l.ID() != "adfs" || l.Protocol() != "saml" {
		t.Fatalf("got %s %s", l.ID(), l.Protocol())
	}
	md, err := l.(auth.MetadataProvider).Metadata()
	if err != nil || !strings.Contains(string(md), "http://127.0.0.1:1/.gatehouse/saml/adfs/acs") {
		t.Fatalf("metadata %s %v, want the ACS under public_url", md, err)
	}
	_, wrongCert := samltest.NewKeyPair(t)
	s.IDPCertFile = writePEM(t, "wrong.crt", "CERTIFICATE", wrongCert.Raw)
	if _, err := s.Open(t.Context(), env); err == nil || !strings.Contains(err.Error(), "not one of the pinned") {
		t.Fatalf("metadata URL with another pinned certificate: %v, want a refusal", err)
	}
}

// openable returns a section with the SP key pair and idp's certificate
// pinned in files, and the env to open it with.
func openable(t *testing.T, idp *samltest.IdP) (*Section, federation.Env) {
	t.Helper()
	key, cert := samltest.NewKeyPair(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSection()
	s.SPCertFile = writePEM(t, "sp.crt", "CERTIFICATE", cert.Raw)
	s.SPKeyFile = writePEM(t, "sp.key", "PRIVATE KEY", keyDER)
	s.IDPCertFile = writePEM(t, "idp.crt", "CERTIFICATE", idp.Cert.Raw)
	s.SetDefaults()
	public, _ := url.Parse("http://127.0.0.1:1")
	clk := &testClock{now: time.Now()}
	return s, federation.Env{ID: "adfs", Label: "ADFS", Rule: federation.Rule{Match: "upn"}, PublicURL: public, Transactions: newNonces(t, clk)}
}

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClaimsSubjectChoice(t *testing.T) {
	for _, tt := range []struct {
		name string
		res  Result
		want string
	}{
		{"persistent NameID", Result{NameID: "n-1", UPN: "alice@corp.example"}, "n-1"},
		{"transient NameID is never the key", Result{NameID: "_tmp", NameIDFormat: transientNameID, UPN: "alice@corp.example"}, "alice@corp.example"},
		{"no NameID", Result{UPN: "alice@corp.example", Email: "a@corp.example"}, "alice@corp.example"},
		{"email only", Result{Email: "a@corp.example"}, "a@corp.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Claims("adfs", tt.res)
			if c.Subject != tt.want || c.Provider != "adfs" || c.Method != auth.MethodSAML {
				t.Fatalf("got %+v, want subject %q", c, tt.want)
			}
		})
	}
	if c := Claims("adfs", Result{UPN: "u@corp.example", AuthnContext: "http://schemas.microsoft.com/claims/multipleauthn"}); !c.MFA || c.EmailVerified {
		t.Errorf("ADFS multipleauthn without email: got %+v, want MFA and no verified email", c)
	}
	if MFA("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport") {
		t.Error("a password is not MFA")
	}
}

func TestRefusalsForTheUser(t *testing.T) {
	p := &provider{label: "ADFS"}
	for _, tt := range []struct {
		err          error
		code, prefix string
	}{
		{refuse(ErrReplay, "seen"), "federated_replay", "The sign-in response from ADFS could not be accepted."},
		{&Error{Kind: ErrInvalidResponse, Reason: crewsaml.ErrBadStatus{Status: "urn:x:Requester"}}, "federated_idp_status", "ADFS did not complete the sign-in."},
	} {
		err := p.refusal(tt.err)
		var r *auth.Refusal
		if !errors.As(err, &r) || r.Code != tt.code || r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Message, tt.prefix) || !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("got %#v, want %s", err, tt.code)
		}
	}
	boom := errors.New("store down")
	if err := p.refusal(boom); err != boom {
		t.Errorf("got %v, want the internal error as is", err)
	}
}
