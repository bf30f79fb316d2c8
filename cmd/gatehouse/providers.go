package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/apilogin"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session"
)

// openedProviders are the configured providers by shape: buttons on the
// login page, and checkers of the login form's password (type api).
type openedProviders struct {
	redirect []auth.RedirectLogin
	password []apilogin.Provider
}

// openProviders opens every configured provider, in config order; each
// login method's package (auth/oidc, auth/saml, auth/apilogin) reads its
// own section.
func openProviders(ctx context.Context, a *app, tx session.Nonces) (openedProviders, error) {
	out, err := openConfiguredProviders(ctx, a.cfg, federation.Env{Users: a.dir, Transactions: tx, Now: a.now})
	for _, l := range out.redirect {
		if _, ok := l.(auth.BackchannelLogout); ok {
			a.log.Info("provider takes back-channel logouts; register this URL at it as the backchannel_logout_uri", "provider", l.ID(),
				"url", a.cfg.PublicURLParsed.JoinPath(oidc.BackchannelLogoutPath(l.ID())).String())
		}
	}
	return out, err
}

// openConfiguredProviders is openProviders with the shared services given
// (tests give an HTTP client that reaches no network).
func openConfiguredProviders(ctx context.Context, cfg *configs.Config, shared federation.Env) (openedProviders, error) {
	var out openedProviders
	for _, p := range cfg.Providers {
		env := p.Env(cfg.PublicURLParsed, shared)
		switch m := p.Method.(type) {
		case configs.RedirectMethod:
			l, err := m.Open(ctx, env)
			if err != nil {
				return out, fmt.Errorf("provider %s: %w", p.ID, err)
			}
			out.redirect = append(out.redirect, l)
		case configs.PasswordMethod:
			l, err := m.OpenPassword(ctx, env)
			if err != nil {
				return out, fmt.Errorf("provider %s: %w", p.ID, err)
			}
			out.password = append(out.password, apilogin.Provider{ID: p.ID, Login: l})
		default:
			return out, fmt.Errorf("provider %s: type %q cannot be opened", p.ID, p.Type)
		}
	}
	return out, nil
}
