package token

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/session"
)

const (
	accessPrefix = "gat1."
	// adAccess separates access tokens from everything else the key ring
	// seals.
	adAccess = "gatehouse access token v1"
)

// accessToken seals the device session's ticket with an expiry. The
// client learns nothing from it; only a replica holding the key ring can
// open it, and it opens only a session that still exists.
func (s *Service) accessToken(t session.Ticket, exp time.Time, bound bool) string {
	var p [8 + 1 + 16 + 32]byte
	binary.BigEndian.PutUint64(p[:8], uint64(exp.Unix()))
	if bound {
		p[8] = 1
	}
	hex.Decode(p[9:25], []byte(t.ID))
	copy(p[25:], t.Secret[:])
	return accessPrefix + base64.RawURLEncoding.EncodeToString(s.o.Keys.Seal(p[:], []byte(adAccess)))
}

var errBadAccess = errors.New("token: not an access token this gateway issued")

// maxAccess bounds the header value read.
const maxAccess = 512

// openAccess returns the session ticket, expiry and binding an access
// token carries.
func (s *Service) openAccess(tok string) (session.Ticket, time.Time, bool, error) {
	if len(tok) > maxAccess || !strings.HasPrefix(tok, accessPrefix) {
		return session.Ticket{}, time.Time{}, false, errBadAccess
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(accessPrefix):])
	if err != nil {
		return session.Ticket{}, time.Time{}, false, errBadAccess
	}
	p, _, err := s.o.Keys.Open(raw, []byte(adAccess))
	if err != nil || len(p) != 8+1+16+32 {
		return session.Ticket{}, time.Time{}, false, errBadAccess
	}
	var t session.Ticket
	t.ID = hex.EncodeToString(p[9:25])
	copy(t.Secret[:], p[25:])
	return t, time.Unix(int64(binary.BigEndian.Uint64(p[:8])), 0), p[8] == 1, nil
}

// Authenticator reads device access tokens for the pipeline.
func (s *Service) Authenticator() auth.Authenticator { return (*authenticator)(s) }

type authenticator Service

func refusal(scheme, desc string) *auth.Refused {
	return &auth.Refused{Status: http.StatusUnauthorized, Code: "invalid_token", Message: desc, Scheme: scheme}
}

// Authenticate implements auth.Authenticator: Authorization: DPoP <token>
// with a proof of the device key (or Bearer <token> when the policy binds
// refresh tokens only).
func (a *authenticator) Authenticate(r *http.Request) (auth.Credential, error) {
	s := (*Service)(a)
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.HasPrefix(tok, accessPrefix) {
		return auth.Credential{}, auth.ErrNoCredentials
	}
	dpopScheme := strings.EqualFold(scheme, "DPoP")
	if !dpopScheme && !strings.EqualFold(scheme, "Bearer") {
		return auth.Credential{}, auth.ErrNoCredentials
	}
	ch := "DPoP"
	ctx := r.Context()
	t, exp, bound, err := s.openAccess(tok)
	if err != nil {
		return auth.Credential{}, refusal(ch, "the access token is not valid")
	}
	now := s.o.Now()
	if !now.Before(exp) {
		return auth.Credential{}, refusal(ch, "the access token has expired; use the refresh token")
	}
	cur := s.o.Policies.Policy()
	if cur == nil {
		return auth.Credential{}, errors.New("token: no policy loaded")
	}
	if !cur.Policy.Mobile.MobileEnabled() {
		return auth.Credential{}, refusal(ch, "mobile logins are turned off by the login policy")
	}
	l := limits(&cur.Policy)
	sess, err := s.o.Sessions.Load(ctx, t.Encode(), l)
	if err != nil {
		if r, expired := session.IsExpired(err); expired {
			s.recordExpired(ctx, err)
			return auth.Credential{}, refusal(ch, "the device's login has ended ("+string(r)+"); log in again")
		}
		if errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrMalformed) {
			if msg, ok := Messages[s.endedReason(ctx, t.ID)]; ok {
				return auth.Credential{}, refusal(ch, msg)
			}
			return auth.Credential{}, refusal(ch, "the device's login has ended; log in again")
		}
		return auth.Credential{}, err
	}
	if sess.Device == nil || sess.Device.Bound != bound {
		return auth.Credential{}, refusal(ch, "the access token is not valid")
	}
	if bound && !dpopScheme {
		// RFC 9449 §7.2: a bound token sent as a bearer token is refused,
		// so a stolen token is useless without the device key.
		s.o.Audit.Record(ctx, audit.Event{Event: audit.TokenRefused, UserID: sess.Identity.UserID,
			Detail: map[string]string{"device": sess.ID, "reason": "bound_as_bearer"}})
		return auth.Credential{}, refusal(ch, "the access token is DPoP-bound: send it as Authorization: DPoP with a proof")
	}
	if bound || dpopScheme {
		proofs := r.Header.Values("Dpop")
		if len(proofs) != 1 {
			return auth.Credential{}, refusal(ch, "exactly one DPoP proof header is required")
		}
		p, err := s.proofs.Verify(ctx, proofs[0], r.Method, s.Issuer()+r.URL.EscapedPath(), tok)
		if e := s.proofError(ctx, err, http.StatusUnauthorized); e != nil {
			if e.Status == http.StatusServiceUnavailable {
				return auth.Credential{}, err
			}
			ref := &auth.Refused{Status: http.StatusUnauthorized, Code: e.Code, Message: e.Description, Scheme: "DPoP", Nonce: e.Nonce}
			s.o.Audit.Record(ctx, audit.Event{Event: audit.TokenRefused, UserID: sess.Identity.UserID,
				Detail: map[string]string{"device": sess.ID, "reason": e.Code}})
			return auth.Credential{}, ref
		}
		if p.JKT != sess.Device.JKT {
			s.o.Audit.Record(ctx, audit.Event{Event: audit.TokenRefused, UserID: sess.Identity.UserID,
				Detail: map[string]string{"device": sess.ID, "reason": "wrong_key"}})
			return auth.Credential{}, &auth.Refused{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof",
				Message: "the proof is signed by a key the token is not bound to", Scheme: "DPoP"}
		}
	}
	deadline := sess.Created.Add(l.Absolute)
	if exp.Before(deadline) {
		deadline = exp
	}
	return auth.Credential{Kind: auth.KindDevice, ID: sess.ID, Identity: sess.Identity, Created: sess.Created, Deadline: deadline}, nil
}
