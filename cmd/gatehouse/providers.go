package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session"
)

// openProviders opens every configured provider, in config order; each
// login method's package (auth/oidc, auth/saml) reads its own section.
func openProviders(ctx context.Context, a *app, tx session.Nonces) ([]auth.RedirectLogin, error) {
	return openConfiguredProviders(ctx, a.cfg, federation.Env{Users: a.dir, Transactions: tx, Now: a.now})
}

// openConfiguredProviders is openProviders with the shared services given
// (tests give an HTTP client that reaches no network).
func openConfiguredProviders(ctx context.Context, cfg *configs.Config, shared federation.Env) ([]auth.RedirectLogin, error) {
	var out []auth.RedirectLogin
	for _, p := range cfg.Providers {
		l, err := p.Method.Open(ctx, p.Env(cfg.PublicURLParsed, shared))
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.ID, err)
		}
		out = append(out, l)
	}
	return out, nil
}
