package token

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/session"
)

// AuthRequest is a checked authorization request.
type AuthRequest struct {
	ClientID    string `json:"c"`
	RedirectURI string `json:"r"`
	State       string `json:"s"`
	Challenge   string `json:"pc"`
	// JKT is dpop_jkt: the thumbprint of the key the code is bound to
	// (RFC 9449 §10), "" when the app did not send one.
	JKT string `json:"jkt,omitempty"`
	// Expires bounds a sealed request carried through the login.
	Expires int64 `json:"exp,omitempty"`
	// Sealed is when it was sealed (Unix nanoseconds).
	Sealed int64 `json:"iat,omitempty"`
}

// Started is when a sealed request was sealed (SealRequest): the app's
// login began then.
func (r AuthRequest) Started() time.Time { return time.Unix(0, r.Sealed) }

// ClientName is the registered app's name for the consent page (its id
// when it has none).
func (s *Service) ClientName(id string) string {
	if c, ok := s.client(id); ok && c.Name != "" {
		return c.Name
	}
	return id
}

// Denied is the answer to an app whose request the user turned down.
var Denied = oauthErr(http.StatusForbidden, "access_denied", "the user declined the sign-in")

// codeTTL is an authorization code's lifetime.
const codeTTL = 60 * time.Second

// requestTTL bounds how long a login may take between the app opening
// the browser and the code being issued.
const requestTTL = 15 * time.Minute

const (
	codePrefix = "gc1."
	// adRequest separates sealed authorization requests from every other
	// value the key ring seals.
	adRequest = "gatehouse oauth request v1"
)

// b64Thumb matches a base64url SHA-256 value (a PKCE S256 challenge, a
// JWK thumbprint): 43 characters.
func b64Thumb(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// ParseAuthorize checks an authorization request's query. When the error
// may be sent to the app (the client and its redirect URI are valid,
// RFC 6749 §4.1.2.1) redirect is true; otherwise the user must be shown
// it, since an unchecked redirect URI is an open redirect.
func (s *Service) ParseAuthorize(q url.Values) (req AuthRequest, err *Error, redirect bool) {
	for k, v := range q {
		if len(v) > 1 {
			if k == "client_id" || k == "redirect_uri" {
				return req, invalidRequest("%s is given more than once", k), false
			}
			req.ClientID, req.RedirectURI, req.State = q.Get("client_id"), q.Get("redirect_uri"), q.Get("state")
			return req, invalidRequest("%s is given more than once", k), s.checkClient(req) == nil
		}
	}
	req = AuthRequest{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Challenge: q.Get("code_challenge"), JKT: q.Get("dpop_jkt")}
	if e := s.checkClient(req); e != nil {
		return req, e, false
	}
	cur := s.o.Policies.Policy()
	switch m := q.Get("code_challenge_method"); {
	case q.Get("response_type") != "code":
		return req, oauthErr(http.StatusBadRequest, "unsupported_response_type", "response_type must be code"), true
	case cur == nil:
		return req, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the login policy is not loaded"), true
	case !cur.Policy.Mobile.MobileEnabled():
		return req, oauthErr(http.StatusForbidden, "access_denied", "mobile logins are turned off by the login policy"), true
	case req.State == "" || len(req.State) > 512:
		return req, invalidRequest("state is required (at most 512 characters)"), true
	case req.Challenge == "":
		return req, invalidRequest("code_challenge is required: PKCE with S256 (RFC 7636)"), true
	case m == "plain":
		return req, invalidRequest("code_challenge_method plain is not supported; use S256"), true
	case m != "S256":
		return req, invalidRequest("code_challenge_method must be S256"), true
	case !b64Thumb(req.Challenge):
		return req, invalidRequest("code_challenge must be the base64url SHA-256 of the verifier (43 characters)"), true
	case req.JKT != "" && !b64Thumb(req.JKT):
		return req, invalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint"), true
	}
	return req, nil, true
}

func (s *Service) checkClient(req AuthRequest) *Error {
	c, ok := s.client(req.ClientID)
	if !ok {
		return oauthErr(http.StatusBadRequest, "invalid_client", "client_id is not a registered app")
	}
	if !c.registered(req.RedirectURI) {
		return invalidRequest("redirect_uri is not one registered for this app (compared exactly)")
	}
	return nil
}

// ErrorRedirect is where an error for a valid client goes (the redirect
// URI with error, error_description, state and iss).
func (s *Service) ErrorRedirect(req AuthRequest, e *Error) string {
	q := url.Values{"error": {e.Code}, "error_description": {e.Description}, "iss": {s.Issuer()}}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return withQuery(req.RedirectURI, q)
}

func withQuery(uri string, q url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + q.Encode()
}

// SealRequest packs a checked request into one opaque query value, so the
// login pages can carry it back to the authorize endpoint as a plain
// return path (an https redirect URI in rd would not pass the
// open-redirect checks, and should not have to).
func (s *Service) SealRequest(req AuthRequest) string {
	now := s.o.Now()
	req.Expires, req.Sealed = now.Add(requestTTL).Unix(), now.UnixNano()
	b, _ := json.Marshal(req)
	return base64.RawURLEncoding.EncodeToString(s.o.Keys.Seal(b, []byte(adRequest)))
}

// OpenRequest unpacks SealRequest's value and checks it again (the
// configuration may have changed during the login).
func (s *Service) OpenRequest(v string) (AuthRequest, error) {
	var req AuthRequest
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) > 4096 {
		return req, errors.New("the authorization request is not valid")
	}
	plain, _, err := s.o.Keys.Open(raw, []byte(adRequest))
	if err != nil || json.Unmarshal(plain, &req) != nil {
		return req, errors.New("the authorization request is not valid")
	}
	if s.o.Now().Unix() > req.Expires {
		return req, errors.New("the authorization request has expired; start the login in the app again")
	}
	if e := s.checkClient(req); e != nil {
		return req, e
	}
	return req, nil
}

// code is what an authorization code stands for.
type code struct {
	Req      AuthRequest   `json:"req"`
	Identity auth.Identity `json:"id"`
	Expires  int64         `json:"exp"`
}

// IssueCode records a one-time code for a user who completed the login
// and returns where to send the browser: the app's redirect URI with the
// code, the state and the issuer (RFC 9207).
func (s *Service) IssueCode(ctx context.Context, req AuthRequest, id auth.Identity) (string, error) {
	t := session.NewTicket()
	b, err := json.Marshal(code{Req: req, Identity: id, Expires: s.o.Now().Add(codeTTL).Unix()})
	if err != nil {
		return "", err
	}
	sealed, err := t.Seal(b)
	if err != nil {
		return "", err
	}
	if _, err := s.o.Store.PutOnce(ctx, "oauth:code:"+t.ID, sealed, codeTTL); err != nil {
		return "", err
	}
	return withQuery(req.RedirectURI, url.Values{"code": {t.EncodeAs(codePrefix)}, "state": {req.State}, "iss": {s.Issuer()}}), nil
}

// checkVerifier checks a PKCE verifier against the challenge (RFC 7636
// §4.1 shape, §4.6 S256 comparison).
func checkVerifier(verifier, challenge string) *Error {
	if len(verifier) < 43 || len(verifier) > 128 {
		return invalidGrant("code_verifier must be 43-128 characters")
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return invalidGrant("code_verifier has a character RFC 7636 does not allow")
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return invalidGrant("code_verifier does not match the code_challenge")
	}
	return nil
}
