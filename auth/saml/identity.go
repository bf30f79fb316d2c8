package saml

import (
	"slices"
	"strings"
	"unicode"

	crewsaml "github.com/crewjam/saml"
)

// Claim URIs that ADFS sends (and the OIDs other IdPs use for the same).
const (
	ClaimUPN        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	ClaimEmail      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	ClaimName       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimGivenName  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	ClaimSurname    = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	ClaimCommonName = "http://schemas.xmlsoap.org/claims/CommonName"
	ClaimGroup      = "http://schemas.xmlsoap.org/claims/Group"
	ClaimGroups     = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	ClaimRole       = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
)

var (
	emailClaims = []string{ClaimEmail, "urn:oid:0.9.2342.19200300.100.1.3", "email", "mail"}
	nameClaims  = []string{ClaimName, ClaimCommonName, "urn:oid:2.16.840.1.113730.3.1.241", "urn:oid:2.5.4.3"}
	groupClaims = []string{ClaimGroup, ClaimGroups, ClaimRole, "groups"}
)

// Result is who a verified assertion authenticates, as the IdP said it.
// Mapping it to a directory user (match by UPN, email or NameID; group
// table) is the caller's job.
type Result struct {
	NameID       string // empty when the IdP sent none (ADFS can omit it)
	NameIDFormat string // transient NameIDs change per login: never match on them
	UPN          string
	Email        string
	Name         string
	Groups       []string // group and role claims, in order, without repeats
	AuthnContext string   // AuthnContextClassRef, e.g. ...:ac:classes:PasswordProtectedTransport
	Redirect     string   // rd given to Start; empty for IdP-initiated logins
	AssertionID  string
	Attributes   map[string][]string // every attribute, by Name
}

// resultFrom reads the identity from the assertion crewjam verified. The
// values are encoding/xml character data, so a comment inside a NameID
// (user@corp.com<!---->.evil.com) yields the whole text, never a part.
func resultFrom(a *crewsaml.Assertion) (Result, error) {
	res := Result{AssertionID: a.ID, Attributes: attributes(a)}
	if a.Subject != nil && a.Subject.NameID != nil {
		res.NameID, res.NameIDFormat = strings.TrimSpace(a.Subject.NameID.Value), a.Subject.NameID.Format
	}
	var err error
	if res.UPN, err = single(res.Attributes, ClaimUPN); err != nil {
		return Result{}, err
	}
	if res.Email, err = firstSingle(res.Attributes, emailClaims); err != nil {
		return Result{}, err
	}
	res.Name = displayName(res.Attributes)
	res.Groups = union(res.Attributes, groupClaims)
	res.AuthnContext = authnContext(a)
	for _, v := range []string{res.NameID, res.UPN, res.Email} {
		if strings.ContainsFunc(v, unicode.IsControl) {
			return Result{}, refuse(ErrNoIdentity, "identity holds control characters")
		}
	}
	if res.NameID == "" && res.UPN == "" && res.Email == "" {
		return Result{}, refuse(ErrNoIdentity, "no NameID, UPN or email claim")
	}
	return res, nil
}

func attributes(a *crewsaml.Assertion) map[string][]string {
	out := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				val := v.Value
				if v.NameID != nil {
					val = v.NameID.Value
				}
				out[at.Name] = append(out[at.Name], strings.TrimSpace(val))
			}
		}
	}
	return out
}

// single returns the claim's value, "" if absent, and refuses a claim
// that names two different people: which one would we pick?
func single(attrs map[string][]string, claim string) (string, error) {
	var got string
	for _, v := range attrs[claim] {
		switch {
		case v == "" || v == got:
		case got == "":
			got = v
		default:
			return "", refuse(ErrNoIdentity, "claim %s has several different values", claim)
		}
	}
	return got, nil
}

// firstSingle is single for the first of claims the IdP sent.
func firstSingle(attrs map[string][]string, claims []string) (string, error) {
	for _, c := range claims {
		if v, err := single(attrs, c); err != nil || v != "" {
			return v, err
		}
	}
	return "", nil
}

func first(attrs map[string][]string, claims []string) string {
	for _, c := range claims {
		for _, v := range attrs[c] {
			if v != "" {
				return v
			}
		}
	}
	return ""
}

// displayName is the name claim, else given name and surname joined.
func displayName(attrs map[string][]string) string {
	if n := first(attrs, nameClaims); n != "" {
		return n
	}
	given, sur := first(attrs, []string{ClaimGivenName}), first(attrs, []string{ClaimSurname})
	return strings.TrimSpace(given + " " + sur)
}

func union(attrs map[string][]string, claims []string) []string {
	var out []string
	for _, c := range claims {
		for _, v := range attrs[c] {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

func authnContext(a *crewsaml.Assertion) string {
	for _, st := range a.AuthnStatements {
		if ref := st.AuthnContext.AuthnContextClassRef; ref != nil && ref.Value != "" {
			return strings.TrimSpace(ref.Value)
		}
	}
	return ""
}
