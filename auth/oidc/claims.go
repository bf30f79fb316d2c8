package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// maxSkew is the clock difference tolerated with the provider, the same
// leeway go-oidc gives nbf.
const maxSkew = 5 * time.Minute

// claims are the ID token claims the gateway uses beyond go-oidc's.
type claims struct {
	Email         string      `json:"email"`
	EmailVerified flexBool    `json:"email_verified"`
	Name          string      `json:"name"`
	Groups        flexStrings `json:"groups"`
	AMR           flexStrings `json:"amr"`
	HostedDomain  string      `json:"hd"`
	AZP           string      `json:"azp"`
	SID           string      `json:"sid"`
}

// maxSID bounds the provider session id a session records; a longer one
// is not recorded (the login still works; only a sub-based back-channel
// logout will then find it).
const maxSID = 255

// checkIssuedAt refuses a token without iat, from the future, or issued
// before this login started: go-oidc checks none of these (ASVS 6.8.4),
// and a token older than the transaction cannot have been issued for it.
func (c *Connector) checkIssuedAt(iat time.Time, tr transaction) error {
	now := c.now()
	switch {
	case iat.IsZero():
		return c.fail(ErrToken, "id token has no iat")
	case iat.After(now.Add(maxSkew)):
		return c.fail(ErrToken, "id token issued in the future")
	case iat.Before(time.Unix(tr.Created, 0).Add(-maxSkew)):
		return c.fail(ErrToken, "id token issued before this login started")
	}
	return nil
}

// result applies the claim rules and builds the Result.
func (c *Connector) result(idt *gooidc.IDToken, tr transaction) (Result, error) {
	var cl claims
	if err := idt.Claims(&cl); err != nil {
		return Result{}, c.fail(ErrToken, "claims: %v", err)
	}
	var raw map[string]any
	if err := idt.Claims(&raw); err != nil {
		return Result{}, c.fail(ErrToken, "claims: %v", err)
	}
	if err := c.checkClaims(idt, cl); err != nil {
		return Result{}, err
	}
	return Result{
		// go-oidc accepts Google's scheme-less "accounts.google.com" as an
		// alias; report the configured issuer so callers see one spelling.
		Subject: idt.Subject, Issuer: c.cfg.Issuer,
		Email: cl.Email, EmailVerified: bool(cl.EmailVerified), Name: cl.Name,
		Groups: []string(cl.Groups), AMR: []string(cl.AMR), HostedDomain: cl.HostedDomain,
		Redirect: tr.Redirect, Raw: raw, SessionID: boundedSID(cl.SID),
	}, nil
}

func boundedSID(sid string) string {
	if len(sid) > maxSID {
		return ""
	}
	return sid
}

// checkClaims enforces sub, azp (OpenID Connect Core §3.1.3.7 steps 4–5),
// email_verified and Google's hd.
func (c *Connector) checkClaims(idt *gooidc.IDToken, cl claims) error {
	if idt.Subject == "" || len(idt.Subject) > 255 {
		return c.fail(ErrToken, "sub missing or longer than 255 characters")
	}
	if len(idt.Audience) > 1 && cl.AZP == "" {
		return c.fail(ErrToken, "several audiences and no azp")
	}
	if cl.AZP != "" && cl.AZP != c.cfg.ClientID {
		return c.fail(ErrToken, "azp is another client")
	}
	// An unverified address may belong to someone else; matching users
	// by it would hand them this account.
	if cl.Email != "" && !cl.EmailVerified {
		return c.fail(ErrEmailUnverified, "email_verified is not true")
	}
	if c.cfg.Type == TypeGoogle && len(c.cfg.HostedDomains) > 0 {
		if !slices.ContainsFunc(c.cfg.HostedDomains, func(d string) bool { return strings.EqualFold(d, cl.HostedDomain) }) {
			return c.fail(ErrHostedDomain, "hd %q is not an allowed domain", cl.HostedDomain)
		}
	}
	return nil
}

// flexBool reads a JSON boolean, or the strings "true"/"false" some
// providers send for email_verified.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return errors.New("email_verified is not a boolean")
	}
	return nil
}

// flexStrings reads an array of strings, or a single string, which some
// providers send for a one-element groups or amr claim.
type flexStrings []string

func (s *flexStrings) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("expected a string or an array of strings")
	}
	*s = many
	return nil
}
