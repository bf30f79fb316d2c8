package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
)

// OpenID Connect Back-Channel Logout 1.0.
const (
	// LogoutEvent is the member of the events claim that makes a JWT a
	// logout token (§2.4).
	LogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// LogoutMaxAge is how old (by iat, beyond the clock skew) a logout
	// token may be: a provider sends it when the session ends, so an old
	// one is a replay kept for later.
	LogoutMaxAge = 5 * time.Minute
	// maxLogoutToken bounds the token read; real ones are under 2 KiB.
	maxLogoutToken = 16 << 10
	// maxLogoutID bounds sub and sid, as sub is bounded at login.
	maxLogoutID = 255
)

// ErrLogoutToken: a back-channel logout token was refused. It is always
// joined with auth.ErrInvalidCredentials.
var ErrLogoutToken = errors.New("oidc: logout token rejected")

// logoutProvider is a provider that also takes back-channel logouts
// (Section.BackchannelLogout).
type logoutProvider struct{ *provider }

var (
	_ federation.Protocol    = (*logoutProvider)(nil)
	_ auth.BackchannelLogout = (*logoutProvider)(nil)
)

func (p *logoutProvider) VerifyLogout(ctx context.Context, token string) (auth.LogoutNotice, error) {
	return p.c.VerifyLogout(ctx, token)
}

// VerifyLogout checks a logout token as §2.6 asks, except its single use
// (the caller records TokenID): a compact JWS whose algorithm is one of
// the provider's configured ones (never none, never HS*), signed by a key
// of the provider's JWKS (the one ID tokens are verified with), with the
// provider's iss, our client id in aud, an unexpired exp, an iat neither
// in the future nor older than LogoutMaxAge (beyond the skew), the
// back-channel logout member in events (a JSON object), sub or sid or
// both, a jti, and no nonce (so an ID token cannot pass as one). An
// explicit typ must be logout+jwt or JWT.
func (c *Connector) VerifyLogout(ctx context.Context, raw string) (auth.LogoutNotice, error) {
	if err := c.checkLogoutHeader(raw); err != nil {
		return auth.LogoutNotice{}, err
	}
	lt, err := c.verifier.VerifyLogout(ctx, raw)
	if err != nil {
		return auth.LogoutNotice{}, c.logoutFail("%v", err)
	}
	var cl struct {
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := lt.Claims(&cl); err != nil {
		return auth.LogoutNotice{}, c.logoutFail("claims: %v", err)
	}
	if ev := bytes.TrimSpace(cl.Events[LogoutEvent]); len(ev) == 0 || ev[0] != '{' {
		return auth.LogoutNotice{}, c.logoutFail("events member %s is not a JSON object", LogoutEvent)
	}
	now := c.now()
	switch iat := lt.IssuedAt; {
	case iat.IsZero():
		return auth.LogoutNotice{}, c.logoutFail("no iat")
	case iat.After(now.Add(maxSkew)):
		return auth.LogoutNotice{}, c.logoutFail("iat in the future")
	case iat.Before(now.Add(-LogoutMaxAge - maxSkew)):
		return auth.LogoutNotice{}, c.logoutFail("iat older than %s", LogoutMaxAge)
	}
	if len(lt.Subject) > maxLogoutID || len(lt.SessionID) > maxLogoutID || len(lt.TokenID) > maxLogoutID {
		return auth.LogoutNotice{}, c.logoutFail("sub, sid or jti longer than %d characters", maxLogoutID)
	}
	// The token is refused once exp has passed or iat is too old,
	// whichever comes first (by this clock, with the skew): its jti
	// need not be remembered longer.
	until := lt.IssuedAt.Add(LogoutMaxAge + maxSkew)
	if lt.Expiry.Before(until) {
		until = lt.Expiry
	}
	ttl := max(until.Sub(now)+maxSkew, time.Minute)
	return auth.LogoutNotice{Subject: lt.Subject, SessionID: lt.SessionID, TokenID: lt.TokenID, TTL: ttl}, nil
}

// checkLogoutHeader refuses, before any key is looked up, what is not a
// compact JWS under one of the provider's algorithms, and a typ naming
// another kind of token (an access token, at+jwt, say).
func (c *Connector) checkLogoutHeader(raw string) error {
	if len(raw) > maxLogoutToken {
		return c.logoutFail("longer than %d bytes", maxLogoutToken)
	}
	if strings.Count(raw, ".") != 2 {
		return c.logoutFail("not a compact JWS")
	}
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return c.logoutFail("header is not base64url")
	}
	var h struct {
		Alg  string          `json:"alg"`
		Typ  *string         `json:"typ"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return c.logoutFail("header is not a JSON object")
	}
	if !slices.Contains(c.cfg.Algs, h.Alg) {
		alg := h.Alg
		if !slices.Contains(append([]string{"none", "HS256", "HS384", "HS512"}, allowedAlgs...), alg) {
			alg = "unknown"
		}
		return c.logoutFail("alg %q is not one of the provider's %v", alg, c.cfg.Algs)
	}
	if h.Crit != nil {
		return c.logoutFail("crit header parameters are not understood")
	}
	if h.Typ != nil {
		typ := strings.TrimPrefix(strings.ToLower(*h.Typ), "application/")
		if typ != "logout+jwt" && typ != "jwt" {
			return c.logoutFail("typ is not logout+jwt")
		}
	}
	return nil
}

// logoutFail is a refused logout token; the reason is safe to log (no
// token, no claim value but what go-oidc quotes of iss and aud).
func (c *Connector) logoutFail(format string, args ...any) error {
	return fmt.Errorf("%w: %w: provider %s: %s", ErrLogoutToken, auth.ErrInvalidCredentials, c.cfg.ID, fmt.Sprintf(format, args...))
}
