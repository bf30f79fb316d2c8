package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session"
)

// federatedLogin adapts a protocol connector and the user mapping to the
// gateway's FederatedLogin: the connector verifies, federation.Resolve
// finds the user, and errors become pages a user can act on.
type federatedLogin struct {
	cfg    configs.Provider
	proto  string // "oidc" or "saml"
	dir    federation.Store
	start  func(ctx context.Context, rd, binding string) (string, error)
	finish func(r *http.Request, binding string) (federation.Claims, string, error)
	meta   func() ([]byte, error) // SAML only
}

func (f *federatedLogin) ID() string    { return f.cfg.ID }
func (f *federatedLogin) Label() string { return f.cfg.Label }

func (f *federatedLogin) Protocol() string { return f.proto }

func (f *federatedLogin) Start(ctx context.Context, rd, binding string) (string, error) {
	return f.start(ctx, rd, binding)
}

func (f *federatedLogin) Finish(r *http.Request, binding string) (auth.FederatedResult, error) {
	claims, rd, err := f.finish(r, binding)
	if err != nil {
		return auth.FederatedResult{}, err
	}
	u, out, err := federation.Resolve(r.Context(), f.dir, claims, f.cfg.Rule())
	if err != nil {
		return auth.FederatedResult{}, f.refusal(claims.Method, err)
	}
	detail := map[string]string{}
	if out.Created {
		detail["user_created"] = "true"
	}
	if out.Linked {
		detail["identity_linked"] = "true"
	}
	return auth.FederatedResult{Identity: federation.IdentityFor(u, claims), Redirect: rd, MFA: claims.MFA, Detail: detail}, nil
}

// refusal maps a mapping error to what the user is told.
func (f *federatedLogin) refusal(method string, err error) error {
	reasons := []struct {
		err    error
		reason string
		msg    string
	}{
		{federation.ErrNoAccount, "no_account", "Your %s account is not set up for this application. Ask your administrator."},
		{federation.ErrDisabled, "disabled", "Your account cannot sign in here. Ask your administrator."},
		{federation.ErrUnverifiedEmail, "email_unverified", "%s did not confirm your email address, so it cannot be used to sign in."},
		{federation.ErrBadEmail, "bad_email", "%s sent an email address this application cannot use."},
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			msg := r.msg
			if strings.Contains(msg, "%s") {
				msg = fmt.Sprintf(msg, f.cfg.Label)
			}
			return &auth.Refusal{Status: http.StatusForbidden, Code: "federated_" + r.reason, Message: msg,
				Err: &auth.Failure{Method: method, Reason: r.reason, Err: auth.ErrInvalidCredentials}}
		}
	}
	return err
}

// Metadata serves SAML SP metadata; other providers have none.
func (f *federatedLogin) Metadata() ([]byte, error) {
	if f.meta == nil {
		return nil, errors.New("no metadata")
	}
	return f.meta()
}

// openProviders builds every configured provider, in config order.
func openProviders(ctx context.Context, a *app, tx session.Nonces) ([]auth.RedirectLogin, error) {
	var out []auth.RedirectLogin
	for _, p := range a.cfg.Providers {
		var (
			f   *federatedLogin
			err error
		)
		switch p.Type {
		case "google", "oidc":
			f, err = openOIDC(ctx, a, p, tx)
		case "saml":
			f, err = openSAML(ctx, a, p, tx)
		}
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.ID, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func openOIDC(ctx context.Context, a *app, p configs.Provider, tx session.Nonces) (*federatedLogin, error) {
	secret := p.ClientSecret
	if p.ClientSecretFile != "" {
		b, err := os.ReadFile(p.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("client_secret_file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	cfg := oidc.Config{ID: p.ID, Type: p.Type, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: secret, Scopes: p.Scopes,
		HostedDomains: p.HostedDomains, RedirectURL: a.cfg.PublicURLParsed.JoinPath("/.gatehouse/oidc", p.ID, "callback").String()}
	c, err := oidc.New(ctx, cfg, tx, &http.Client{Timeout: 15 * time.Second}, a.now)
	if err != nil {
		return nil, err
	}
	return &federatedLogin{cfg: p, proto: "oidc", dir: a.dir,
		start: c.StartBound,
		finish: func(r *http.Request, binding string) (federation.Claims, string, error) {
			res, err := c.CallbackBound(r.Context(), r.URL.Query(), binding)
			if err != nil {
				return federation.Claims{}, "", oidcRefusal(p, c.Method(), err)
			}
			return federation.Claims{Provider: p.ID, Method: c.Method(), Subject: res.Subject, Email: res.Email,
				EmailVerified: res.EmailVerified, Name: res.Name, Groups: res.Groups, MFA: amrMFA(res.AMR)}, res.Redirect, nil
		},
	}, nil
}

// oidcRefusal turns a connector error into the page the user sees; an
// error that is not the protocol's (a store outage) stays internal (503).
func oidcRefusal(p configs.Provider, method string, err error) error {
	cases := []struct {
		err         error
		status      int
		reason, msg string
	}{
		{oidc.ErrState, http.StatusBadRequest, "state", "This sign-in attempt expired or was already used. Please start again from the login page."},
		{oidc.ErrProvider, http.StatusUnauthorized, "provider_error", "%s did not complete the sign-in."},
		{oidc.ErrEmailUnverified, http.StatusForbidden, "email_unverified", "%s did not confirm your email address, so it cannot be used to sign in."},
		{oidc.ErrHostedDomain, http.StatusForbidden, "hosted_domain", "This %s account is not allowed here. Sign in with your organisation's account."},
		{oidc.ErrNonce, http.StatusUnauthorized, "nonce", "The sign-in response could not be verified. Please start again."},
		{oidc.ErrToken, http.StatusUnauthorized, "token", "The sign-in response could not be verified. Please start again."},
	}
	for _, c := range cases {
		if errors.Is(err, c.err) {
			msg := c.msg
			if strings.Contains(msg, "%s") {
				msg = fmt.Sprintf(msg, p.Label)
			}
			return &auth.Refusal{Status: c.status, Code: "federated_" + c.reason, Message: msg,
				Err: &auth.Failure{Method: method, Reason: c.reason, Err: fmt.Errorf("%w: %w", auth.ErrInvalidCredentials, err)}}
		}
	}
	return err
}

// amrMFA reads RFC 8176 authentication method references: the IdP says
// more than a password was used.
func amrMFA(amr []string) bool {
	return slices.ContainsFunc(amr, func(m string) bool {
		return slices.Contains([]string{"mfa", "otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm"}, m)
	})
}
