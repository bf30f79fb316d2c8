package token

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/token/dpop"
	"github.com/gatehouse-auth/gatehouse/session"
)

// TokenRequest is a POST to the token endpoint.
type TokenRequest struct {
	Form url.Values
	// DPoP holds the request's DPoP header values.
	DPoP                []string
	ClientIP, UserAgent string
}

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	// Expires is when the refresh token's grace copy must go (not sent).
	Expires int64 `json:"-"`
}

const refreshPrefix = "gr1."

// Reasons a device session ended, kept a while so the device's next call
// is told why (error_description) instead of a bare invalid_token.
const (
	ReasonAnotherDevice = "another_device"
	ReasonRevoked       = "revoked"
	ReasonRefreshReuse  = "refresh_reuse"
	ReasonLoggedOut     = "logged_out"
)

var reasonCodes = []string{"", ReasonAnotherDevice, ReasonRevoked, ReasonRefreshReuse, ReasonLoggedOut}

// Messages are what a device is told about why it was signed out.
var Messages = map[string]string{
	ReasonAnotherDevice: "signed in on another device",
	ReasonRevoked:       "the device was signed out",
	ReasonRefreshReuse:  "a refresh token was used twice; the device was signed out",
	ReasonLoggedOut:     "the device signed out",
}

// reasonTTL is how long the reason is remembered.
const reasonTTL = 24 * time.Hour

// Token answers the token endpoint.
func (s *Service) Token(ctx context.Context, req TokenRequest) (*TokenResponse, *Error) {
	for k, v := range req.Form {
		if len(v) > 1 {
			return nil, invalidRequest("%s is given more than once", k)
		}
	}
	cur := s.o.Policies.Policy()
	if cur == nil {
		return nil, s.unavailable(ctx, errors.New("no policy loaded"))
	}
	if !cur.Policy.Mobile.MobileEnabled() {
		return nil, oauthErr(http.StatusBadRequest, "unauthorized_client", "mobile logins are turned off by the login policy")
	}
	f := req.Form
	switch f.Get("grant_type") {
	case "authorization_code":
		if f.Get("code") == "" || f.Get("redirect_uri") == "" || f.Get("client_id") == "" {
			return nil, invalidRequest("code, redirect_uri and client_id are required")
		}
		if f.Get("code_verifier") == "" {
			return nil, invalidRequest("code_verifier is required (PKCE)")
		}
		if _, ok := s.client(f.Get("client_id")); !ok {
			return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "client_id is not a registered app")
		}
		p, e := s.proof(ctx, req)
		if e != nil {
			return nil, e
		}
		return s.exchangeCode(ctx, req, p)
	case "refresh_token":
		if f.Get("refresh_token") == "" {
			return nil, invalidRequest("refresh_token is required")
		}
		p, e := s.proof(ctx, req)
		if e != nil {
			return nil, e
		}
		return s.refresh(ctx, req, p)
	case "":
		return nil, invalidRequest("grant_type is required")
	default:
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
}

// proof verifies the token request's DPoP proof: every grant needs one,
// since refresh tokens are always bound to the device key.
func (s *Service) proof(ctx context.Context, req TokenRequest) (dpop.Proof, *Error) {
	if len(req.DPoP) != 1 {
		return dpop.Proof{}, oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "exactly one DPoP proof header is required")
	}
	p, err := s.proofs.Verify(ctx, req.DPoP[0], http.MethodPost, s.Endpoint(TokenPath), "")
	return p, s.proofError(ctx, err, http.StatusBadRequest)
}

func (s *Service) proofError(ctx context.Context, err error, status int) *Error {
	var n *dpop.UseNonceError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &n):
		return &Error{Status: status, Code: "use_dpop_nonce", Description: "the DPoP proof must carry the nonce this response supplies", Nonce: n.Nonce}
	case errors.Is(err, dpop.ErrInvalidProof):
		return &Error{Status: status, Code: "invalid_dpop_proof", Description: strings.TrimPrefix(err.Error(), "dpop: ")}
	default:
		return s.unavailable(ctx, err)
	}
}

func (s *Service) exchangeCode(ctx context.Context, req TokenRequest, p dpop.Proof) (*TokenResponse, *Error) {
	f := req.Form
	t, err := session.ParseTicketAs(codePrefix, f.Get("code"))
	if err != nil {
		return nil, invalidGrant("the authorization code is not valid")
	}
	raw, err := s.o.Store.Take(ctx, "oauth:code:"+t.ID)
	if errors.Is(err, session.ErrNotFound) {
		return nil, invalidGrant("the authorization code is invalid, expired or already used")
	}
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	plain, err := t.Open(raw)
	var c code
	if err != nil || json.Unmarshal(plain, &c) != nil {
		return nil, invalidGrant("the authorization code is not valid")
	}
	now := s.o.Now()
	switch {
	case now.Unix() > c.Expires:
		return nil, invalidGrant("the authorization code has expired")
	case c.Req.ClientID != f.Get("client_id"):
		return nil, invalidGrant("the authorization code was issued to another client")
	case c.Req.RedirectURI != f.Get("redirect_uri"):
		return nil, invalidGrant("redirect_uri differs from the authorization request's")
	}
	if e := checkVerifier(f.Get("code_verifier"), c.Req.Challenge); e != nil {
		return nil, e
	}
	if c.Req.JKT != "" && c.Req.JKT != p.JKT {
		return nil, invalidGrant("the DPoP key is not the one the authorization request named (dpop_jkt)")
	}
	if s.o.Policies.Disabled(c.Identity.UserID) {
		return nil, invalidGrant("the account is disabled")
	}
	if e := s.allowedFrom(req.ClientIP, c.Identity.Role, c.Identity.UserID); e != nil {
		return nil, e
	}
	return s.login(ctx, req, c, p.JKT)
}

// login creates the device session, its directory row, signs out the
// user's other devices when the policy allows only one, and issues the
// first pair.
func (s *Service) login(ctx context.Context, req TokenRequest, c code, jkt string) (*TokenResponse, *Error) {
	cur := s.o.Policies.Policy()
	mp := cur.Policy.Mobile
	bound := mp.DPoP != "refresh_only"
	id := c.Identity
	m := auth.MethodDPoP
	if !bound {
		m = auth.MethodMobile
	}
	id.Methods = append(slices.Clip(id.Methods), m)
	sess := &session.Session{Identity: id, ClientIP: req.ClientIP, Agent: truncate(req.UserAgent, 256),
		Device: &session.Device{Client: c.Req.ClientID, JKT: jkt, Bound: bound}}
	l := limits(&cur.Policy)
	t, err := s.o.Sessions.Create(ctx, sess, l)
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	now := s.o.Now()
	if err := s.o.Devices.AddDevice(ctx, directory.Device{ID: t.ID, UserID: id.UserID, ClientID: c.Req.ClientID,
		UserAgent: sess.Agent, FirstSeen: now, LastSeen: now, LastIP: req.ClientIP}); err != nil {
		// Without its row the device could not be listed or revoked
		// from the CLI: it must not exist.
		s.o.Sessions.Revoke(ctx, t.ID)
		return nil, s.unavailable(ctx, err)
	}
	if mp.SingleDevice {
		if err := s.signOutOthers(ctx, id.UserID, t.ID, req.ClientIP); err != nil {
			s.o.Sessions.Revoke(ctx, t.ID)
			return nil, s.unavailable(ctx, err)
		}
	}
	s.o.Audit.Record(ctx, audit.Event{Event: audit.DeviceLogin, Actor: id.Username, UserID: id.UserID, ClientIP: req.ClientIP,
		Detail: map[string]string{"device": t.ID, "client": c.Req.ClientID, "amr": strings.Join(id.Methods, "+")}})
	return s.issue(ctx, t, sess.Created.Add(l.Absolute), jkt, bound, "")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// signOutOthers ends every device session of the user but keep (one
// device at a time).
func (s *Service) signOutOthers(ctx context.Context, userID, keep, ip string) error {
	recs, err := s.o.Sessions.List(ctx, userID)
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range recs {
		if r.Meta.Client != "" && r.ID != keep {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return s.EndDevices(ctx, userID, ids, ReasonAnotherDevice, "system", ip)
}

// EndDevices signs devices out: their sessions go (every replica evicts
// them through the invalidation channel), the directory marks them
// revoked, and each device's next call is told why.
func (s *Service) EndDevices(ctx context.Context, userID string, ids []string, reason, actor, ip string) error {
	for _, id := range ids {
		s.markEnded(ctx, id, reason)
		if err := s.o.Sessions.Revoke(ctx, id); err != nil {
			return err
		}
	}
	if _, err := s.o.Devices.RevokeDevices(ctx, userID, ids, s.o.Now(), reason); err != nil {
		return err
	}
	for _, id := range ids {
		s.o.Audit.Record(ctx, audit.Event{Event: audit.DeviceRevoked, Actor: actor, UserID: userID, ClientIP: ip,
			Detail: map[string]string{"device": id, "reason": reason}})
	}
	return nil
}

// markEnded remembers why a device ended (best effort: without it the
// device is still refused, only with a plainer message). The first reason
// stays: the counter only adds, so a second sign-out of an ended device
// must not add to it (two racing ones may; the message is then plainer).
func (s *Service) markEnded(ctx context.Context, id, reason string) {
	if s.endedReason(ctx, id) != "" {
		return
	}
	if n := slices.Index(reasonCodes, reason); n > 0 {
		if _, err := s.o.Store.IncrBy(ctx, "oauth:ended:"+id, int64(n), reasonTTL); err != nil {
			s.o.Log.WarnContext(ctx, "remember why a device ended", "device", id, "error", err)
		}
	}
}

// endedReason is why a device session is gone, "" when not known.
func (s *Service) endedReason(ctx context.Context, id string) string {
	n, err := s.o.Store.Count(ctx, "oauth:ended:"+id)
	if err != nil || n <= 0 || n >= int64(len(reasonCodes)) {
		return ""
	}
	return reasonCodes[n]
}

// refreshState is what a refresh token stands for, sealed under its own
// secret in the store.
type refreshState struct {
	Family string `json:"f"` // the device session's ticket
	JKT    string `json:"jkt"`
	Bound  bool   `json:"b,omitempty"`
	// Prev is the id of the token this one replaced: its grace copy is
	// dropped when this one is used, so only the immediately previous
	// token is ever forgiven.
	Prev     string `json:"p,omitempty"`
	Deadline int64  `json:"d"` // the session's absolute deadline
}

// issue mints an access token and a new refresh token for the device
// session t.
func (s *Service) issue(ctx context.Context, t session.Ticket, deadline time.Time, jkt string, bound bool, prev string) (*TokenResponse, *Error) {
	cur := s.o.Policies.Policy()
	mp := cur.Policy.Mobile
	now := s.o.Now()
	ttl := mp.AccessTokenTTL
	if left := deadline.Sub(now); left < ttl {
		ttl = left
	}
	if ttl <= 0 {
		return nil, invalidGrant("the device's login has expired; log in again")
	}
	rt := session.NewTicket()
	b, _ := json.Marshal(refreshState{Family: t.Encode(), JKT: jkt, Bound: bound, Prev: prev, Deadline: deadline.Unix()})
	sealed, err := rt.Seal(b)
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	if _, err := s.o.Store.PutOnce(ctx, "oauth:rt:"+rt.ID, sealed, deadline.Sub(now)); err != nil {
		return nil, s.unavailable(ctx, err)
	}
	typ := "DPoP"
	if !bound {
		typ = "Bearer"
	}
	return &TokenResponse{
		AccessToken:  s.accessToken(t, now.Add(ttl), bound),
		TokenType:    typ,
		ExpiresIn:    int(ttl / time.Second),
		RefreshToken: rt.EncodeAs(refreshPrefix) + "." + jkt,
	}, nil
}

// parseRefresh splits a refresh token into its ticket and key thumbprint.
func parseRefresh(v string) (session.Ticket, string, error) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 || !b64Thumb(v[i+1:]) {
		return session.Ticket{}, "", session.ErrMalformed
	}
	t, err := session.ParseTicketAs(refreshPrefix, v[:i])
	return t, v[i+1:], err
}

// graceCopy is a rotation's answer, kept for the grace window under the
// old token, sealed with the old token's secret.
type graceCopy struct {
	Resp    TokenResponse `json:"r"`
	Family  string        `json:"f"`
	Expires int64         `json:"e"`
	// JKT is the device key's thumbprint: only a retry signed by it gets
	// the answer again.
	JKT string `json:"k"`
}

func (s *Service) refresh(ctx context.Context, req TokenRequest, p dpop.Proof) (*TokenResponse, *Error) {
	t, jkt, err := parseRefresh(req.Form.Get("refresh_token"))
	if err != nil {
		return nil, invalidGrant("the refresh token is not valid")
	}
	// The ".<jkt>" ending is the client's to write, so it only refuses
	// early; the key the token was bound to is the sealed state's, and
	// it is compared before anything is taken: without the device key a
	// thief can neither use the token nor use it up.
	if jkt != p.JKT {
		return nil, s.wrongKey(ctx, req)
	}
	raw, err := s.o.Store.Peek(ctx, "oauth:rt:"+t.ID)
	switch {
	case errors.Is(err, session.ErrNotFound):
		return s.refreshUsed(ctx, req, t, p.JKT)
	case err != nil:
		return nil, s.unavailable(ctx, err)
	}
	plain, err := t.Open(raw)
	var st refreshState
	if err != nil || json.Unmarshal(plain, &st) != nil {
		return nil, invalidGrant("the refresh token is not valid")
	}
	if st.JKT != p.JKT {
		return nil, s.wrongKey(ctx, req)
	}
	switch _, err := s.o.Store.Take(ctx, "oauth:rt:"+t.ID); {
	case errors.Is(err, session.ErrNotFound):
		return s.refreshUsed(ctx, req, t, p.JKT) // used meanwhile
	case err != nil:
		return nil, s.unavailable(ctx, err)
	}
	resp, e := s.rotate(ctx, req, t, st)
	if e != nil && e.Status == http.StatusServiceUnavailable {
		// Not the client's fault: the token goes back, so the retry is
		// not taken for a replay.
		if left := time.Until(time.Unix(st.Deadline, 0)); left > 0 {
			s.o.Store.PutOnce(ctx, "oauth:rt:"+t.ID, raw, left)
		}
	}
	return resp, e
}

// rotate answers a refresh with a live token: the device session must
// still exist, its user be enabled and its directory row not revoked.
func (s *Service) rotate(ctx context.Context, req TokenRequest, t session.Ticket, st refreshState) (*TokenResponse, *Error) {
	jkt := st.JKT
	fam, err := session.ParseTicket(st.Family)
	if err != nil {
		return nil, invalidGrant("the refresh token is not valid")
	}
	cur := s.o.Policies.Policy()
	sess, err := s.o.Sessions.Load(ctx, st.Family, limits(&cur.Policy))
	if e := s.sessionGone(ctx, fam.ID, err); e != nil {
		return nil, e
	}
	if sess.Device == nil || sess.Device.JKT != jkt {
		return nil, invalidGrant("the refresh token is not valid")
	}
	if e := s.deviceUsable(ctx, req, fam, sess); e != nil {
		return nil, e
	}
	now := s.o.Now()
	resp, e := s.issue(ctx, fam, sess.Created.Add(limits(&cur.Policy).Absolute), jkt, sess.Device.Bound, t.ID)
	if e != nil {
		return nil, e
	}
	left := time.Duration(st.Deadline-now.Unix()) * time.Second
	// The grace copy first: a retry that finds the used marker must
	// find the copy too, or it would be taken for a replay.
	if g := cur.Policy.Mobile.Grace(); g > 0 {
		b, _ := json.Marshal(graceCopy{Resp: *resp, Family: st.Family, Expires: now.Add(g).Unix(), JKT: jkt})
		if sealed, err := t.Seal(b); err == nil {
			s.o.Store.PutOnce(ctx, "oauth:rtgrace:"+t.ID, sealed, g)
		}
	}
	// The used token is remembered for as long as it could have lived,
	// so a replay at any time is recognised as one.
	if _, err := s.o.Store.PutOnce(ctx, "oauth:rtused:"+t.ID, []byte(fam.ID+" "+jkt), max(left, time.Minute)); err != nil {
		return nil, s.unavailable(ctx, err)
	}
	if st.Prev != "" {
		// The token before this one is no longer the immediately
		// previous: a retry of it now is a replay.
		s.o.Store.Take(ctx, "oauth:rtgrace:"+st.Prev)
	}
	if err := s.o.Devices.TouchDevice(ctx, fam.ID, now, req.ClientIP); err != nil {
		s.o.Log.WarnContext(ctx, "record device use", "device", fam.ID, "error", err)
	}
	return resp, nil
}

// deviceUsable is what every refresh answer checks of the device login
// fam (its session sess): the user is enabled, the caller's address
// allowed, the device not signed out in the directory.
func (s *Service) deviceUsable(ctx context.Context, req TokenRequest, fam session.Ticket, sess *session.Session) *Error {
	if s.o.Policies.Disabled(sess.Identity.UserID) {
		s.EndDevices(ctx, sess.Identity.UserID, []string{fam.ID}, ReasonRevoked, "system", req.ClientIP)
		return invalidGrant("the account is disabled")
	}
	if e := s.allowedFrom(req.ClientIP, sess.Identity.Role, sess.Identity.UserID); e != nil {
		return e
	}
	dev, err := s.o.Devices.Device(ctx, fam.ID)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return s.unavailable(ctx, err)
	}
	if dev == nil || !dev.RevokedAt.IsZero() {
		s.o.Sessions.Revoke(ctx, fam.ID)
		return invalidGrant("the device was signed out")
	}
	return nil
}

// wrongKey refuses a refresh token presented with a proof by another key
// than the one it is bound to.
func (s *Service) wrongKey(ctx context.Context, req TokenRequest) *Error {
	s.o.Audit.Record(ctx, audit.Event{Event: audit.TokenRefused, ClientIP: req.ClientIP, Detail: map[string]string{"reason": "refresh_wrong_key"}})
	return invalidGrant("the refresh token is bound to another key")
}

// refreshUsed handles a refresh token that is no longer live, presented
// with a proof by the key jkt: the retry of the token just rotated
// (inside the grace window) gets the same answer again; any other use of
// a used token by the device's key is a replay, and the whole device is
// signed out (RFC 9700 §4.14.2) — whoever holds the current token, the
// thief or the app, must log in again. By another key it is refused and
// changes nothing: that key cannot use any of the device's tokens, so
// signing the device out would only hand anyone holding an old token a
// way to log it out.
func (s *Service) refreshUsed(ctx context.Context, req TokenRequest, t session.Ticket, jkt string) (*TokenResponse, *Error) {
	raw, err := s.o.Store.Peek(ctx, "oauth:rtgrace:"+t.ID)
	if err == nil {
		// Read, not taken: two retries at once both get the answer.
		var g graceCopy
		plain, err := t.Open(raw)
		if err == nil && json.Unmarshal(plain, &g) == nil && s.o.Now().Before(time.Unix(g.Expires, 0)) {
			if g.JKT != jkt {
				return nil, s.wrongKey(ctx, req)
			}
			cur := s.o.Policies.Policy()
			sess, err := s.o.Sessions.Load(ctx, g.Family, limits(&cur.Policy))
			fam, _ := session.ParseTicket(g.Family)
			if e := s.sessionGone(ctx, fam.ID, err); e != nil {
				return nil, e
			}
			if e := s.deviceUsable(ctx, req, fam, sess); e != nil {
				return nil, e
			}
			return &g.Resp, nil
		}
	} else if !errors.Is(err, session.ErrNotFound) {
		return nil, s.unavailable(ctx, err)
	}
	used, err := s.o.Store.Peek(ctx, "oauth:rtused:"+t.ID)
	if errors.Is(err, session.ErrNotFound) {
		return nil, invalidGrant("the refresh token is invalid or expired")
	}
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	// A marker without a key (written before keys were recorded) proves
	// nothing about who presents the token: refused, nothing revoked.
	if _, usedJKT, _ := strings.Cut(string(used), " "); usedJKT != jkt {
		return nil, s.wrongKey(ctx, req)
	}
	fam, err := s.o.Store.Take(ctx, "oauth:rtused:"+t.ID)
	if errors.Is(err, session.ErrNotFound) {
		return nil, invalidGrant("the refresh token is invalid or expired")
	}
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	famID, _, _ := strings.Cut(string(fam), " ")
	recs := s.userOf(ctx, famID)
	s.o.Audit.Record(ctx, audit.Event{Event: audit.RefreshReuse, UserID: recs, ClientIP: req.ClientIP,
		Detail: map[string]string{"device": famID}})
	if recs != "" {
		if err := s.EndDevices(ctx, recs, []string{famID}, ReasonRefreshReuse, "system", req.ClientIP); err != nil {
			return nil, s.unavailable(ctx, err)
		}
	} else {
		s.markEnded(ctx, famID, ReasonRefreshReuse)
		if err := s.o.Sessions.Revoke(ctx, famID); err != nil {
			return nil, s.unavailable(ctx, err)
		}
	}
	return nil, invalidGrant("the refresh token was already used; the device has been signed out")
}

// userOf is the owner of a device, "" when unknown.
func (s *Service) userOf(ctx context.Context, deviceID string) string {
	d, err := s.o.Devices.Device(ctx, deviceID)
	if err != nil {
		return ""
	}
	return d.UserID
}

// sessionGone turns a device session's load error into the answer.
func (s *Service) sessionGone(ctx context.Context, id string, err error) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrMalformed):
		if msg, ok := Messages[s.endedReason(ctx, id)]; ok {
			return invalidGrant("%s", msg)
		}
		return invalidGrant("the device's login has ended; log in again")
	}
	if r, ok := session.IsExpired(err); ok {
		s.recordExpired(ctx, err)
		return invalidGrant("the device's login has ended (%s); log in again", r)
	}
	return s.unavailable(ctx, err)
}

// Revoke is the revocation endpoint (RFC 7009): a refresh or access token
// signs its device out. An invalid or unknown token is not an error.
func (s *Service) Revoke(ctx context.Context, form url.Values, ip string) *Error {
	for k, v := range form {
		if len(v) > 1 {
			return invalidRequest("%s is given more than once", k)
		}
	}
	tok := form.Get("token")
	if tok == "" {
		return invalidRequest("token is required")
	}
	var famTicket string
	switch {
	case strings.HasPrefix(tok, refreshPrefix):
		t, _, err := parseRefresh(tok)
		if err != nil {
			return nil
		}
		// Read, not taken: a request refused below (another client)
		// leaves the token as it was; ending the device ends it anyway.
		raw, err := s.o.Store.Peek(ctx, "oauth:rt:"+t.ID)
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		if err != nil {
			return s.unavailable(ctx, err)
		}
		var st refreshState
		if plain, err := t.Open(raw); err != nil || json.Unmarshal(plain, &st) != nil {
			return nil
		}
		famTicket = st.Family
	case strings.HasPrefix(tok, accessPrefix):
		fam, _, _, err := s.openAccess(tok)
		if err != nil {
			return nil
		}
		famTicket = fam.Encode()
	default:
		return nil
	}
	fam, err := session.ParseTicket(famTicket)
	if err != nil {
		return nil
	}
	cur := s.o.Policies.Policy()
	sess, err := s.o.Sessions.Load(ctx, famTicket, limits(&cur.Policy))
	if err != nil || sess.Device == nil {
		s.recordExpired(ctx, err) // the load that found it over claimed it
		return nil
	}
	if c := form.Get("client_id"); c != "" && c != sess.Device.Client {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "the token was issued to another client")
	}
	if err := s.EndDevices(ctx, sess.Identity.UserID, []string{fam.ID}, ReasonLoggedOut, sess.Identity.Username, ip); err != nil {
		return s.unavailable(ctx, err)
	}
	return nil
}

// DevicesRevoked ends the sessions of devices revoked in the directory
// (the CLI, another replica): the watcher calls it on every replica, and
// deleting what is gone already is harmless.
func (s *Service) DevicesRevoked(ctx context.Context, ids []string) error {
	for _, id := range ids {
		s.markEnded(ctx, id, ReasonRevoked)
		if err := s.o.Sessions.Revoke(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
