package saml

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// Attacks on the signature: the response is edited after the IdP signed
// it, or carries something unsigned next to something signed. Each case
// starts a real login, so the only thing wrong is the attack itself.

func decode(t testing.TB, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// samlStamp is how crewjam writes a time into a document.
func samlStamp(t time.Time) string { return crewsaml.RelaxedTime(t).String() }

func encode(doc string) string { return base64.StdEncoding.EncodeToString([]byte(doc)) }

// element returns the first <tag ...>...</tag> in doc and where it starts.
func element(t *testing.T, doc, tag string) (string, int) {
	t.Helper()
	i := strings.Index(doc, "<"+tag)
	j := strings.Index(doc, "</"+tag+">")
	if i < 0 || j < i {
		t.Fatalf("no <%s> in the response", tag)
	}
	return doc[i : j+len("</"+tag+">")], i
}

func replaceOnce(t *testing.T, doc, old, new string) string {
	t.Helper()
	if !strings.Contains(doc, old) {
		t.Fatalf("%q not in the response", old)
	}
	return strings.Replace(doc, old, new, 1)
}

// forge is the genuine assertion unsigned, for admin, with a new ID
// unless sameID.
func forge(t *testing.T, doc string, sameID bool) string {
	t.Helper()
	a, _ := element(t, doc, "saml:Assertion")
	if strings.Contains(a, "<ds:Signature") {
		sig, _ := element(t, a, "ds:Signature")
		a = strings.Replace(a, sig, "", 1)
	}
	f := replaceOnce(t, a, ">alice@corp.example</saml:NameID>", ">admin@corp.example</saml:NameID>")
	if !sameID {
		f = replaceOnce(t, f, `ID="id-`, `ID="id-forged-`)
	}
	return f
}

// attack starts a login, gets a response signed as sign says, lets edit
// change the XML, posts it, and returns what ACS said.
func attack(t *testing.T, sign samltest.Signing, edit func(doc string) string) (Result, error) {
	t.Helper()
	r := newRig(t)
	relay, id := r.begin(t)
	doc := edit(decode(t, r.response(t, id, samltest.Options{Sign: sign})))
	return r.post(encode(doc), relay)
}

var signings = []struct {
	name string
	sign samltest.Signing
}{
	{"assertion signed", samltest.SignAssertion},
	{"response signed", samltest.SignResponse},
	{"both signed", samltest.SignBoth},
}

func TestUnsignedResponse(t *testing.T) {
	t.Run("never signed", func(t *testing.T) {
		_, err := attack(t, samltest.SignNothing, func(d string) string { return d })
		wantKind(t, err, ErrInvalidResponse)
	})
	for _, s := range signings {
		t.Run(s.name+", signatures stripped", func(t *testing.T) {
			_, err := attack(t, s.sign, func(d string) string {
				for strings.Contains(d, "<ds:Signature") {
					sig, _ := element(t, d, "ds:Signature")
					d = strings.Replace(d, sig, "", 1)
				}
				return d
			})
			wantKind(t, err, ErrInvalidResponse)
		})
	}
}

func TestTamperedAssertion(t *testing.T) {
	edits := []struct{ name, old, new string }{
		{"NameID", ">alice@corp.example</saml:NameID>", ">admin@corp.example</saml:NameID>"},
		{"group claim", ">North<", ">CRM-Admins<"},
		// The test IdP (crewjam's code) ends validity MaxIssueDelay after t0.
		{"NotOnOrAfter", `NotOnOrAfter="` + samlStamp(t0.Add(crewsaml.MaxIssueDelay)) + `"><saml:AudienceRestriction>`,
			`NotOnOrAfter="` + samlStamp(t0.Add(crewsaml.MaxIssueDelay).AddDate(1, 0, 0)) + `"><saml:AudienceRestriction>`},
	}
	for _, s := range signings {
		for _, e := range edits {
			t.Run(s.name+", "+e.name, func(t *testing.T) {
				_, err := attack(t, s.sign, func(d string) string { return replaceOnce(t, d, e.old, e.new) })
				wantKind(t, err, ErrInvalidResponse)
			})
		}
	}
}

// TestSignatureWrapping runs the XSW permutations: first the corpus's
// (crewjam's nine, ruby-saml's, the derived ADFS ones), then the same
// moves made on responses from our own IdP.
func TestSignatureWrapping(t *testing.T) {
	for _, c := range loadCorpus(t) {
		if !strings.Contains(c.ID, "xsw") && !strings.Contains(c.ID, "wrapping") && !strings.Contains(c.ID, "signed-assertion") {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			res, err := runCase(t, c)
			if err == nil {
				t.Fatalf("got %+v, want refused", res)
			}
			t.Logf("refused: %v", err)
		})
	}
	wraps := []struct {
		name string
		sign samltest.Signing
		edit func(t *testing.T, d string) string
	}{
		{"genuine moved into Extensions, forged in its place with the same ID", samltest.SignAssertion, func(t *testing.T, d string) string {
			a, _ := element(t, d, "saml:Assertion")
			d = strings.Replace(d, a, forge(t, d, true), 1)
			return replaceOnce(t, d, "<samlp:Status>", "<samlp:Extensions>"+a+"</samlp:Extensions><samlp:Status>")
		}},
		{"genuine wrapped inside a forged assertion", samltest.SignAssertion, func(t *testing.T, d string) string {
			a, _ := element(t, d, "saml:Assertion")
			f := forge(t, d, false)
			f = replaceOnce(t, f, "<saml:Subject>", "<saml:Advice>"+a+"</saml:Advice><saml:Subject>")
			return strings.Replace(d, a, f, 1)
		}},
		{"genuine signature moved onto a forged assertion", samltest.SignAssertion, func(t *testing.T, d string) string {
			a, _ := element(t, d, "saml:Assertion")
			sig, _ := element(t, a, "ds:Signature")
			f := replaceOnce(t, forge(t, d, true), "</saml:Issuer>", "</saml:Issuer>"+sig)
			return strings.Replace(d, a, f, 1)
		}},
		{"signed response moved into a new unsigned one", samltest.SignResponse, func(t *testing.T, d string) string {
			head := replaceOnce(t, d[:strings.Index(d, ">")+1], `ID="id-`, `ID="id-wrapper-`)
			issuer, _ := element(t, d, "saml:Issuer")
			status, _ := element(t, d, "samlp:Status")
			return head + issuer + "<samlp:Extensions>" + d + "</samlp:Extensions>" + status + forge(t, d, false) + "</samlp:Response>"
		}},
	}
	for _, w := range wraps {
		t.Run(w.name, func(t *testing.T) {
			res, err := attack(t, w.sign, func(d string) string { return w.edit(t, d) })
			wantKind(t, err, ErrInvalidResponse)
			if res.NameID == "admin@corp.example" {
				t.Fatal("authenticated the forged identity")
			}
		})
	}
}

func TestMultipleAssertionsOneUnsigned(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sign   samltest.Signing
		before bool
	}{
		{"forged before the signed one", samltest.SignAssertion, true},
		{"forged after the signed one", samltest.SignAssertion, false},
		{"forged after, both signatures kept", samltest.SignBoth, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := attack(t, tt.sign, func(d string) string {
				a, at := element(t, d, "saml:Assertion")
				f := forge(t, d, false)
				if tt.before {
					return d[:at] + f + d[at:]
				}
				return d[:at+len(a)] + f + d[at+len(a):]
			})
			wantKind(t, err, ErrInvalidResponse)
			if res.NameID != "" {
				t.Fatalf("got identity %q, want none", res.NameID)
			}
		})
	}
}

// TestCommentInjectionInNameID (CVE-2017-11427/11428, CVE-2018-7340): a
// comment or CDATA section splits a signed NameID. Exclusive C14N drops
// comments, so the signature may still verify; the identity must then be
// the whole text, never the part before the comment.
func TestCommentInjectionInNameID(t *testing.T) {
	for _, tt := range []struct {
		name, signed, sent, want string // want "" means: must be refused
	}{
		{"suffix added after signing", "alice@corp.example", "alice@corp.example<!---->.evil.com", ""},
		{"attacker's own account split by a comment", "alice@corp.example.evil.com", "alice@corp.example<!---->.evil.com", "alice@corp.example.evil.com"},
		{"attacker's own account split by CDATA", "alice@corp.example.evil.com", "alice@corp.example<![CDATA[.evil.com]]>", "alice@corp.example.evil.com"},
		{"comment inside the victim's name", "alice@corp.example", "alice@<!-- x -->corp.example", "alice@corp.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			u := alice
			u.NameID = tt.signed
			u.Attributes = []samltest.Attribute{{Name: ClaimUPN, Values: []string{tt.signed}}}
			d := decode(t, r.response(t, id, samltest.Options{User: &u}))
			d = replaceOnce(t, d, ">"+tt.signed+"</saml:NameID>", ">"+tt.sent+"</saml:NameID>")
			d = replaceOnce(t, d, ">"+tt.signed+"</saml:AttributeValue>", ">"+tt.sent+"</saml:AttributeValue>")
			res, err := r.post(encode(d), relay)
			if tt.want == "" {
				wantKind(t, err, ErrInvalidResponse)
				return
			}
			if err != nil {
				t.Logf("refused, which is safe: %v", err)
				return
			}
			if res.NameID != tt.want || res.UPN != tt.want {
				t.Fatalf("got NameID %q UPN %q, want the whole %q", res.NameID, res.UPN, tt.want)
			}
		})
	}
}

func TestSignedByAnotherKey(t *testing.T) {
	r := newRig(t)
	key, cert := samltest.NewKeyPair(t)
	for _, s := range signings {
		t.Run(s.name, func(t *testing.T) {
			relay, id := r.begin(t)
			_, err := r.post(r.response(t, id, samltest.Options{Sign: s.sign, Key: key, Cert: cert}), relay)
			wantKind(t, err, ErrInvalidResponse)
		})
	}
}
