package saml

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	// maxResponseBytes bounds the base64 SAMLResponse (and with it the
	// form body). A real ADFS response with a few dozen group claims is
	// 10-30 KiB; 256 KiB leaves room and keeps parsing cheap. The POST
	// binding is never deflated, so nothing here is ever inflated.
	maxResponseBytes = 256 << 10

	// issueTransit is how old an IssueInstant may be before clock skew is
	// added: the time a browser takes to carry the response from the IdP.
	issueTransit = 90 * time.Second

	// maxReplayTTL caps how long an assertion id is remembered. Beyond it
	// the IssueInstant window (at most skew in the future, issueTransit +
	// skew in the past) has closed anyway, whatever NotOnOrAfter says.
	maxReplayTTL = 24 * time.Hour

	protocolNS  = "urn:oasis:names:tc:SAML:2.0:protocol"
	assertionNS = "urn:oasis:names:tc:SAML:2.0:assertion"
	bearer      = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// verifier is the validation core shared by ACS and the corpus tests: one
// IdP, one SP entity id, one ACS URL. It checks a base64 SAMLResponse and
// returns the assertion crewjam verified; nothing else is ever read from
// the document.
type verifier struct {
	sp        crewsaml.ServiceProvider
	acs       url.URL
	now       func() time.Time
	skew      time.Duration
	allowSHA1 bool
}

// verifierConfig is what the core needs. Key is optional and only used to
// decrypt an EncryptedAssertion.
type verifierConfig struct {
	IDPMetadata []byte
	PinnedCerts []*x509.Certificate
	AllowSHA1   bool
	EntityID    string
	ACSURL      string
	Key         crypto.Signer
	Now         func() time.Time
	Skew        time.Duration
}

func newVerifier(c verifierConfig) (*verifier, error) {
	ed, err := parseIDPMetadata(c.IDPMetadata)
	if err != nil {
		return nil, err
	}
	if err := checkPinned(ed, c.PinnedCerts); err != nil {
		return nil, err
	}
	acs, err := absoluteURL(c.ACSURL)
	if err != nil {
		return nil, fmt.Errorf("acs url: %w", err)
	}
	v := &verifier{acs: *acs, now: c.Now, skew: c.Skew, allowSHA1: c.AllowSHA1}
	v.sp = crewsaml.ServiceProvider{
		EntityID:                    c.EntityID,
		Key:                         c.Key,
		AcsURL:                      *acs,
		IDPMetadata:                 ed,
		AuthnNameIDFormat:           crewsaml.UnspecifiedNameIDFormat,
		ValidateAudienceRestriction: strictAudience(c.EntityID),
		SignatureVerifier:           clockedSignatures{now: c.Now},
	}
	return v, nil
}

// verify checks samlResponse (the POSTed form value) against the request
// ids this browser is allowed to answer. An empty list accepts nothing; a
// list holding "" accepts only a response with no InResponseTo
// (IdP-initiated). crewjam's own AllowIDPInitiated is never set: it would
// skip InResponseTo checks for every response, solicited ones included.
func (v *verifier) verify(samlResponse string, requestIDs []string) (*crewsaml.Assertion, error) {
	if len(samlResponse) > maxResponseBytes {
		return nil, refuse(ErrInvalidResponse, "response of %d bytes exceeds %d", len(samlResponse), maxResponseBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil {
		return nil, refuse(ErrInvalidResponse, "decode base64: %w", err)
	}
	root, err := preflight(raw)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidResponse, Reason: err}
	}
	if !v.allowSHA1 {
		if alg := sha1Algorithm(raw); alg != "" {
			return nil, refuse(ErrInvalidResponse, "signed with SHA-1 (%s); ask the IdP for SHA-256, or set allow_sha1 for this provider", alg)
		}
	}
	a, err := v.parse(raw, requestIDs)
	if err != nil {
		return nil, err
	}
	if err := v.strict(root, a); err != nil {
		return nil, &Error{Kind: ErrInvalidResponse, Reason: err}
	}
	return a, nil
}

// parse runs crewjam. Its validateAssertion dereferences Subject,
// Conditions and SubjectConfirmationData without nil checks, so a signed
// assertion missing one of them panics; that is turned into a refusal.
func (v *verifier) parse(raw []byte, requestIDs []string) (a *crewsaml.Assertion, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, refuse(ErrInvalidResponse, "malformed assertion: %v", r)
		}
	}()
	a, err = v.sp.ParseXMLResponse(raw, requestIDs, v.acs)
	if err == nil {
		return a, nil
	}
	reason := err
	var ire *crewsaml.InvalidResponseError
	if errors.As(err, &ire) {
		reason = ire.PrivateErr // never ire itself: it holds the whole XML
	}
	if errors.Is(reason, errAudienceMismatch) {
		return nil, &Error{Kind: ErrAudience, Reason: reason}
	}
	return nil, &Error{Kind: ErrInvalidResponse, Reason: reason}
}

// preflight refuses shapes crewjam would tolerate: a DTD, a root that is
// not a protocol Response, and more than one assertion. crewjam returns
// the first assertion that verifies and ignores the rest, which is safe,
// but no IdP we support sends two, and refusing is simpler to reason
// about than which one won (CVE-2022-41912, XSW).
func preflight(raw []byte) (*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("parse xml: %w", err)
	}
	for _, tok := range doc.Child {
		if _, ok := tok.(*etree.Directive); ok {
			return nil, errors.New("document type declarations are refused")
		}
	}
	root := doc.Root()
	if root == nil || root.Tag != "Response" || root.NamespaceURI() != protocolNS {
		return nil, errors.New("root element is not a SAML protocol Response")
	}
	n := 0
	for _, el := range root.ChildElements() {
		if el.NamespaceURI() == assertionNS && (el.Tag == "Assertion" || el.Tag == "EncryptedAssertion") {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("response holds %d assertions, want at most one", n)
	}
	return root, nil
}

// strict adds what crewjam leaves optional: an assertion id (the replay
// cache keys on it), a bearer subject confirmation (crewjam checks
// Recipient and InResponseTo only on the confirmations present, so none
// at all would skip both), and every time check with this provider's
// skew (checkTimes; crewjam only bounds IssueInstant in the past, and with
// its process-wide tolerances).
func (v *verifier) strict(root *etree.Element, a *crewsaml.Assertion) error {
	if a.ID == "" {
		return errors.New("assertion has no ID")
	}
	if !hasBearer(a) {
		return errors.New("assertion has no bearer SubjectConfirmation")
	}
	return v.checkTimes(root, a)
}

func hasBearer(a *crewsaml.Assertion) bool {
	if a.Subject == nil {
		return false
	}
	for _, sc := range a.Subject.SubjectConfirmations {
		if sc.Method == bearer && sc.SubjectConfirmationData != nil {
			return true
		}
	}
	return false
}

// replayTTL is how long the assertion id must be remembered: until the
// last NotOnOrAfter it carries, plus skew, never beyond maxReplayTTL.
func (v *verifier) replayTTL(a *crewsaml.Assertion) time.Duration {
	last := a.IssueInstant.Add(issueTransit)
	if a.Conditions != nil && a.Conditions.NotOnOrAfter.After(last) {
		last = a.Conditions.NotOnOrAfter
	}
	for _, sc := range a.Subject.SubjectConfirmations {
		if d := sc.SubjectConfirmationData; d != nil && d.NotOnOrAfter.After(last) {
			last = d.NotOnOrAfter
		}
	}
	ttl := last.Add(v.skew).Sub(v.now())
	return min(max(ttl, time.Minute), maxReplayTTL)
}

// strictAudience replaces crewjam's check, which passes an assertion with
// no AudienceRestriction at all. Ours requires at least one, and every one
// must name us (SAML core 2.5.1.4: several restrictions are a logical AND).
func strictAudience(entityID string) func(*crewsaml.Assertion) error {
	return func(a *crewsaml.Assertion) error {
		if a.Conditions == nil || len(a.Conditions.AudienceRestrictions) == 0 {
			return errAudienceMismatch
		}
		for _, r := range a.Conditions.AudienceRestrictions {
			if r.Audience.Value != entityID {
				return errAudienceMismatch
			}
		}
		return nil
	}
}

// clockedSignatures gives goxmldsig the connector's clock (for the IdP
// certificate's validity period) instead of crewjam's package-level Clock.
type clockedSignatures struct{ now func() time.Time }

func (c clockedSignatures) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	vc.Clock = dsig.NewFakeClockAt(c.now())
	if _, err := vc.Validate(el); err != nil {
		return fmt.Errorf("cannot validate signature on %s: %w", el.Tag, err)
	}
	return nil
}

// crewjam reads its time tolerances (MaxClockSkew, MaxIssueDelay) from
// package variables on every response, so through them one provider's
// clock_skew would be every provider's. They are widened once instead, to
// the most any provider may configure, while this package is initialised
// (before anything can read them concurrently), and never written again;
// each verifier then applies its own provider's skew in checkTimes, so
// crewjam's checks are only an outer bound that ours always meets.
var _ = widenLibraryTolerances()

func widenLibraryTolerances() bool {
	crewsaml.MaxClockSkew = maxClockSkew
	crewsaml.MaxIssueDelay = issueTransit + maxClockSkew
	return true
}

// checkTimes repeats every time check crewjam makes, with this provider's
// skew and clock: the Response's IssueInstant (read from the same root
// element crewjam read it from), the assertion's IssueInstant, each
// subject confirmation's NotOnOrAfter and the Conditions' window.
func (v *verifier) checkTimes(root *etree.Element, a *crewsaml.Assertion) error {
	now, issueDelay := v.now(), issueTransit+v.skew
	var issued crewsaml.RelaxedTime
	if err := issued.UnmarshalText([]byte(root.SelectAttrValue("IssueInstant", ""))); err != nil {
		return fmt.Errorf("response IssueInstant: %w", err)
	}
	if time.Time(issued).Add(issueDelay).Before(now) {
		return fmt.Errorf("response IssueInstant expired at %s", stamp(time.Time(issued).Add(issueDelay)))
	}
	if a.IssueInstant.Add(issueDelay).Before(now) {
		return fmt.Errorf("assertion IssueInstant expired at %s", stamp(a.IssueInstant.Add(issueDelay)))
	}
	if a.IssueInstant.After(now.Add(v.skew)) {
		return fmt.Errorf("assertion IssueInstant %s is in the future", stamp(a.IssueInstant))
	}
	for _, sc := range a.Subject.SubjectConfirmations {
		if d := sc.SubjectConfirmationData; d == nil || d.NotOnOrAfter.Add(v.skew).Before(now) {
			return errors.New("assertion SubjectConfirmationData is expired")
		}
	}
	switch c := a.Conditions; {
	case c == nil:
		return errors.New("assertion has no Conditions")
	case c.NotBefore.Add(-v.skew).After(now):
		return errors.New("assertion Conditions is not yet valid")
	case c.NotOnOrAfter.Add(v.skew).Before(now):
		return errors.New("assertion Conditions is expired")
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func absoluteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL", s)
	}
	return u, nil
}

// isSHA1 reports whether an XML-DSig algorithm URI rests on SHA-1
// (xmldsig#rsa-sha1, xmldsig#sha1, and the xmldsig-more / xmlenc aliases
// seen in real ADFS output). SHA-1 chosen-prefix collisions are practical:
// a signature over SHA-1 no longer binds the signed content.
func isSHA1(uri string) bool {
	u := strings.ToLower(strings.TrimSpace(uri))
	return strings.HasSuffix(u, "#sha1") || strings.HasSuffix(u, "-sha1")
}

// sha1Algorithm returns the first SHA-1 algorithm named by a signature's
// SignatureMethod or by a DigestMethod inside a signature Reference (the
// SHA-1 digest RSA-OAEP key transport uses in encrypted assertions is not
// a signature and is left alone). It can only refuse more, never accept
// anything crewjam would not.
func sha1Algorithm(raw []byte) string {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var stack []string
	for {
		tok, err := d.RawToken()
		if err != nil {
			return "" // malformed input is crewjam's to refuse
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			stack = append(stack, t.Name.Local)
			if t.Name.Local != "SignatureMethod" && !(t.Name.Local == "DigestMethod" && parent == "Reference") {
				continue
			}
			for _, a := range t.Attr {
				if a.Name.Local == "Algorithm" && isSHA1(a.Value) {
					return a.Value
				}
			}
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}
