package oidctest

import (
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"
)

// LogoutEvent is the events member of a back-channel logout token.
const LogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Logout describes a back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0 §2.4). The zero value is a valid token for no
// one: set Subject, SessionID or both.
type Logout struct {
	Subject   string
	SessionID string
	// Claims are merged last: they add claims or replace the defaults
	// (iss, aud, iat, exp, jti, events); a nil value removes one.
	Claims map[string]any
	// Alg is RS256 by default; "ES256", "HS256" (keyed with the client
	// secret) and "none" (unsigned) are the attacks'.
	Alg string
	// UnknownKey signs with a key the provider does not publish.
	UnknownKey bool
	// Typ is the JOSE typ header: "" means logout+jwt, "-" none at all.
	Typ string
}

// LogoutToken signs a logout token as the provider would send it to the
// client's backchannel_logout_uri, stamped with the provider's clock.
func (p *Provider) LogoutToken(t testing.TB, l Logout) string {
	t.Helper()
	now := p.now()
	c := map[string]any{
		"iss": p.Issuer, "aud": p.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "events": map[string]any{LogoutEvent: map[string]any{}},
	}
	if l.Subject != "" {
		c["sub"] = l.Subject
	}
	if l.SessionID != "" {
		c["sid"] = l.SessionID
	}
	for k, v := range l.Claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("oidctest: logout token claims: %v", err)
	}
	typ := l.Typ
	switch typ {
	case "":
		typ = "logout+jwt"
	case "-":
		typ = ""
	}
	tok, err := p.signTyped(l.Alg, l.UnknownKey, typ, payload)
	if err != nil {
		t.Fatalf("oidctest: sign logout token: %v", err)
	}
	return tok
}
