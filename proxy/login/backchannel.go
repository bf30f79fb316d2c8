package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Backchannel is what OpenID Connect Back-Channel Logout acts on; cmd
// wires the directory, the session manager and the shared store.
type Backchannel struct {
	// Users finds the user a provider's subject is linked to.
	Users interface {
		UserByIdentity(ctx context.Context, provider, subject string) (*directory.User, error)
	}
	// Revocations ends every session of a user on every replica: the
	// revocation `gatehouse user logout` records.
	Revocations interface {
		RevokeUserSessions(ctx context.Context, userID string) (directory.Revocation, error)
	}
	// Sessions lists a user's sessions, to find those of one provider
	// session.
	Sessions interface {
		List(ctx context.Context, userID string) ([]session.Record, error)
	}
	// Nonces is the shared store's single-use primitive: each logout
	// token's jti is accepted once, on any replica.
	Nonces session.Nonces
	// Values keeps which user a provider session logged in, read (never
	// consumed) by a token naming only the sid, so a logout that failed
	// half-way finds the user again when the provider retries.
	Values session.Values
}

// ReasonBackchannel is the session_revoked reason of a back-channel
// logout.
const ReasonBackchannel = "backchannel_logout"

// maxLogoutRequest bounds the POST body: one form field with a JWT.
const maxLogoutRequest = 64 << 10

// errLogoutRequest is every refusal of a logout request: the body the
// specification asks for (§2.8), and nothing about why.
var errLogoutRequest = map[string]string{"error": "invalid_request"}

// backchannelLogout is POST /.gatehouse/oidc/{id}/backchannel-logout
// (OpenID Connect Back-Channel Logout 1.0 §2.5–2.8): the provider's
// server, not a browser, says that a session there ended. A valid token
// whose jti was not seen before ends the gateway sessions it names, on
// every replica, and gets 200; any refused token gets 400 with
// {"error":"invalid_request"}; both are Cache-Control: no-store. The
// route is public (no cookie, no network rule: the provider's server is
// no user); the token's signature is its only credential.
func (p *Pages) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	pr := p.provider(r.PathValue("id"))
	bl, ok := pr.(auth.BackchannelLogout)
	if !ok || pr.Protocol() != "oidc" {
		web.JSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	log := p.gw.Logger().With("provider", pr.ID())
	ctx := r.Context()
	ip := p.gw.ClientAddr(r)
	if !p.allowLogoutFrom(w, r, log, ip) {
		return
	}
	refuse := func(reason string) {
		log.WarnContext(ctx, "back-channel logout refused", "reason", reason, "client_ip", ip.String())
		p.countRefusedLogout(ctx, ip)
		web.JSON(w, http.StatusBadRequest, errLogoutRequest)
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(10 * time.Second))
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutRequest)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil || len(r.PostForm["logout_token"]) != 1 {
		refuse("not a form with one logout_token")
		return
	}
	n, err := bl.VerifyLogout(ctx, r.PostForm.Get("logout_token"))
	if err != nil {
		refuse(err.Error())
		return
	}
	key := "oidc:bcl:jti:" + pr.ID() + ":" + digest(n.TokenID)
	fresh, err := p.back.Nonces.PutOnce(ctx, key, []byte{1}, n.TTL)
	if err != nil {
		p.logoutUnavailable(w, r, log, err)
		return
	}
	if !fresh {
		refuse("jti already used (replay)")
		return
	}
	if err := p.endIdPSessions(ctx, pr.ID(), n); err != nil {
		// Not done: the token may be sent again (its jti is forgotten).
		p.back.Nonces.Take(context.WithoutCancel(ctx), key)
		p.logoutUnavailable(w, r, log, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// maxRefusedLogouts is how many refused logout tokens one client network
// may send per start window (10 minutes) before its requests are not read
// at all: each refusal costs a signature check, and a token naming an
// unknown key makes the provider's keys be fetched again, so an
// unthrottled public endpoint would let anyone make the gateway hammer
// the provider. The provider's own server, sending valid tokens, never
// counts.
const maxRefusedLogouts = 30

var errTooManyLogouts = map[string]string{"error": "temporarily_unavailable"}

func refusedLogoutKey(ip netip.Addr) string { return "oidc:bcl:refused:" + clientNetwork(ip) }

// allowLogoutFrom answers 429 to a client network past maxRefusedLogouts
// (and 503 when the count cannot be read: fail closed).
func (p *Pages) allowLogoutFrom(w http.ResponseWriter, r *http.Request, log *slog.Logger, ip netip.Addr) bool {
	if p.starts == nil {
		return true
	}
	n, err := p.starts.Count(r.Context(), refusedLogoutKey(ip))
	if err != nil {
		p.logoutUnavailable(w, r, log, err)
		return false
	}
	if n >= maxRefusedLogouts {
		log.WarnContext(r.Context(), "back-channel logout refused", "reason", "too many refused tokens from this network", "client_ip", ip.String())
		w.Header().Set("Retry-After", strconv.Itoa(int(p.window.Seconds())))
		web.JSON(w, http.StatusTooManyRequests, errTooManyLogouts)
		return false
	}
	return true
}

func (p *Pages) countRefusedLogout(ctx context.Context, ip netip.Addr) {
	if p.starts != nil {
		p.starts.Incr(context.WithoutCancel(ctx), refusedLogoutKey(ip), p.window)
	}
}

func (p *Pages) logoutUnavailable(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	log.ErrorContext(r.Context(), "back-channel logout not carried out", "error", err)
	w.Header().Set("Retry-After", "5")
	web.JSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
}

// endIdPSessions ends what a verified logout token names. With a sid, the
// user's browser sessions of that provider session end (and, when the
// token also names the user by sub, those of the provider that recorded
// no sid); with only a sub, every session of the user ends on every
// replica through the same revocation `gatehouse user logout` records.
// A token naming no known user or session ends nothing, and succeeds.
func (p *Pages) endIdPSessions(ctx context.Context, provider string, n auth.LogoutNotice) error {
	userID, err := p.logoutUser(ctx, provider, n)
	if err != nil || userID == "" {
		return err
	}
	actor := "idp:" + provider
	if n.SessionID == "" {
		if _, err := p.back.Revocations.RevokeUserSessions(ctx, userID); err != nil {
			return err
		}
		p.audit.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: actor, UserID: userID,
			Detail: map[string]string{"reason": ReasonBackchannel, "provider": provider}})
		return nil
	}
	want := auth.IdPSessionKey(provider, n.SessionID)
	recs, err := p.back.Sessions.List(ctx, userID)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		m := rec.Meta
		if m.Client != "" || m.Provider != provider || (m.IdPSession != want && (m.IdPSession != "" || n.Subject == "")) {
			continue
		}
		if err := p.sessions.Revoke(ctx, rec.ID); err != nil {
			return err
		}
		p.gw.Assertions().Forget(rec.ID)
		p.audit.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: actor, UserID: userID,
			Detail: map[string]string{"reason": ReasonBackchannel, "provider": provider, "session": rec.ID}})
	}
	return nil
}

// logoutUser is the user a logout token names: linked to its sub, or,
// for a token with only a sid, the one that provider session logged in
// (rememberIdPSession); "" when none.
func (p *Pages) logoutUser(ctx context.Context, provider string, n auth.LogoutNotice) (string, error) {
	if n.Subject != "" {
		u, err := p.back.Users.UserByIdentity(ctx, provider, n.Subject)
		if errors.Is(err, directory.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return u.ID, nil
	}
	v, err := p.back.Values.Value(ctx, sidKey(auth.IdPSessionKey(provider, n.SessionID)))
	if errors.Is(err, session.ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

// rememberIdPSession records which user a provider session logged in,
// for a later logout token that names only the sid; kept as long as a
// session of that login can live. Best effort: without it such a token
// ends nothing, and one with a sub still works.
func (p *Pages) rememberIdPSession(ctx context.Context, id auth.Identity, lifetime time.Duration) {
	if p.back == nil || id.IdPSession == "" {
		return
	}
	// A later login in the same provider session replaces the entry: it
	// lives longer.
	if err := p.back.Values.SetValue(ctx, sidKey(id.IdPSession), []byte(id.UserID), lifetime); err != nil {
		p.gw.Logger().WarnContext(ctx, "remember the provider session for back-channel logout", "provider", id.Provider, "error", err)
	}
}

func sidKey(idpSession string) string { return "oidc:bcl:sid:" + idpSession }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
