package saml

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// editMetadata returns the test IdP's metadata changed by f.
func editMetadata(t *testing.T, md []byte, f func(*crewsaml.IDPSSODescriptor)) []byte {
	t.Helper()
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	f(&ed.IDPSSODescriptors[0])
	out, err := xml.Marshal(ed)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ed25519Pair(t *testing.T) (*x509.Certificate, ed25519.PrivateKey) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestNewFailsClosed(t *testing.T) {
	r := newRig(t)
	md := r.idp.Metadata()
	_, otherCert := samltest.NewKeyPair(t)
	edCert, edKey := ed25519Pair(t)
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no IdP metadata", func(c *Config) { c.IDPMetadata = nil }, "empty"},
		{"IdP metadata not XML", func(c *Config) { c.IDPMetadata = []byte("{}") }, "EntityDescriptor"},
		{"no signing certificate", func(c *Config) {
			c.IDPMetadata = editMetadata(t, md, func(d *crewsaml.IDPSSODescriptor) { d.KeyDescriptors = nil })
		}, "no signing certificate"},
		{"only an encryption certificate", func(c *Config) {
			c.IDPMetadata = editMetadata(t, md, func(d *crewsaml.IDPSSODescriptor) { d.KeyDescriptors[0].Use = "encryption" })
		}, "no signing certificate"},
		{"unparsable signing certificate", func(c *Config) {
			c.IDPMetadata = editMetadata(t, md, func(d *crewsaml.IDPSSODescriptor) {
				d.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data = "AAAA"
			})
		}, "signing certificate"},
		{"no HTTP-Redirect SSO endpoint", func(c *Config) {
			c.IDPMetadata = editMetadata(t, md, func(d *crewsaml.IDPSSODescriptor) {
				d.SingleSignOnServices = d.SingleSignOnServices[:0]
			})
		}, "HTTP-Redirect"},
		{"SP certificate of another key", func(c *Config) { c.SPCert = otherCert }, "does not match"},
		{"no SP key", func(c *Config) { c.SPKey = nil }, "required"},
		{"relative ACS URL", func(c *Config) { c.ACSURL = "/.gatehouse/saml/adfs/acs" }, "acs url"},
		{"negative clock skew", func(c *Config) { c.ClockSkew = -time.Second }, "clock_skew"},
		{"huge clock skew", func(c *Config) { c.ClockSkew = time.Hour }, "clock_skew"},
		{"Ed25519 SP key", func(c *Config) { c.SPCert, c.SPKey = edCert, edKey }, "want RSA or ECDSA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := r.cfg
			tt.edit(&cfg)
			c, err := New(cfg, r.store, r.clock.Now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want an error mentioning %q", c, err, tt.want)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	r := newRig(t, func(c *Config) { c.EntityID = "urn:gatehouse:crm" })
	out, err := r.c.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("<?xml")) {
		t.Errorf("got %.20q, want an XML declaration first", out)
	}
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(out, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != "urn:gatehouse:crm" || len(ed.SPSSODescriptors) != 1 {
		t.Fatalf("got entityID %q with %d SP descriptors, want ours and one", ed.EntityID, len(ed.SPSSODescriptors))
	}
	d := ed.SPSSODescriptors[0]
	if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Binding != crewsaml.HTTPPostBinding ||
		d.AssertionConsumerServices[0].Location != r.cfg.ACSURL {
		t.Errorf("got ACS %+v, want only the POST binding at %s", d.AssertionConsumerServices, r.cfg.ACSURL)
	}
	certB64 := base64.StdEncoding.EncodeToString(r.cfg.SPCert.Raw)
	if len(d.KeyDescriptors) != 1 || d.KeyDescriptors[0].Use != "signing" ||
		d.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data != certB64 {
		t.Errorf("got key descriptors %+v, want only the SP certificate for signing", d.KeyDescriptors)
	}
	if d.AuthnRequestsSigned == nil || !*d.AuthnRequestsSigned || d.WantAssertionsSigned == nil || !*d.WantAssertionsSigned {
		t.Error("got unsigned requests or assertions advertised, want both signed")
	}
	u, err := r.c.Start(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if got := authnRequest(t, mustParse(t, u).Query().Get("SAMLRequest")).Issuer.Value; got != "urn:gatehouse:crm" {
		t.Errorf("got AuthnRequest issuer %q, want the configured entity id", got)
	}
}

// TestErrorsCarryNoXML: a refusal's text goes to the log, so it must not
// carry the document (crewjam's InvalidResponseError holds all of it).
func TestErrorsCarryNoXML(t *testing.T) {
	r := newRig(t)
	relay, id := r.begin(t)
	d := replaceOnce(t, decode(t, r.response(t, id, samltest.Options{})), ">North<", ">CRM-Admins<")
	_, err := r.post(encode(d), relay)
	var ire *crewsaml.InvalidResponseError
	if err == nil || errors.As(err, &ire) || strings.Contains(err.Error(), "<") {
		t.Fatalf("got %v, want a refusal without the XML", err)
	}
}

// TestPinnedCertificates: metadata from a URL is accepted only when every
// signing certificate in it is pinned, so a tampered download cannot add
// an attacker's key.
func TestPinnedCertificates(t *testing.T) {
	idp := samltest.New(t, samltest.User{NameID: "alice@corp.example"})
	_, other := samltest.NewKeyPair(t)
	r := newRig(t) // for SP key material and URLs
	cfg := r.cfg
	cfg.IDPMetadata = idp.Metadata()
	cfg.PinnedCerts = []*x509.Certificate{idp.Cert}
	if _, err := New(cfg, r.store, r.clock.Now); err != nil {
		t.Fatalf("metadata signed by the pinned certificate: %v", err)
	}
	cfg.PinnedCerts = []*x509.Certificate{other}
	if _, err := New(cfg, r.store, r.clock.Now); err == nil || !strings.Contains(err.Error(), "not one of the pinned") {
		t.Fatalf("metadata with an unpinned certificate: %v", err)
	}
}

func TestSHA1SignaturesDetected(t *testing.T) {
	for file, want := range map[string]bool{
		"testdata/corpus/adfs/rubysaml_adfs_response_sha1.xml":   true,
		"testdata/corpus/adfs/rubysaml_adfs_response_sha256.xml": false,
		"testdata/corpus/adfs/rubysaml_adfs_response_sha512.xml": false,
	} {
		raw := readFile(t, file)
		if got := sha1Algorithm(raw) != ""; got != want {
			t.Errorf("%s: SHA-1 detected %v, want %v", file, got, want)
		}
	}
	// RSA-OAEP's SHA-1 digest (key transport, not a signature) is not flagged.
	enc := []byte(`<EncryptedKey><EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></EncryptionMethod></EncryptedKey>`)
	if alg := sha1Algorithm(enc); alg != "" {
		t.Errorf("key-transport digest flagged as a SHA-1 signature: %s", alg)
	}
}
