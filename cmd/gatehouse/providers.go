package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/session"
)

// openProviders opens every configured provider, in config order; each
// login method's package (auth/oidc, auth/saml) reads its own section.
func openProviders(ctx context.Context, a *app, tx session.Nonces) ([]proxy.FederatedLogin, error) {
	return openConfiguredProviders(ctx, a.cfg, federation.Env{Users: a.dir, Transactions: tx, Now: a.now})
}

// openConfiguredProviders is openProviders with the shared services given
// (tests give an HTTP client that reaches no network).
func openConfiguredProviders(ctx context.Context, cfg *configs.Config, shared federation.Env) ([]proxy.FederatedLogin, error) {
	var out []proxy.FederatedLogin
	for _, p := range cfg.Providers {
		l, err := p.Method.Open(ctx, p.Env(cfg.PublicURLParsed, shared))
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.ID, err)
		}
		out = append(out, proxyLogin{l})
	}
	return out, nil
}

// proxyLogin adapts an auth.RedirectLogin to proxy.FederatedLogin, and an
// *auth.Refusal to the *proxy.Error the gateway renders.
//
// TEMPORARY: delete it (and use the auth.RedirectLogin directly) once
// proxy takes auth.RedirectLogin, auth.FederatedResult and *auth.Refusal.
type proxyLogin struct{ auth.RedirectLogin }

func (l proxyLogin) Finish(r *http.Request, binding string) (proxy.FederatedResult, error) {
	res, err := l.RedirectLogin.Finish(r, binding)
	if ref, ok := errors.AsType[*auth.Refusal](err); ok {
		return proxy.FederatedResult{}, &proxy.Error{Status: ref.Status, Code: ref.Code, Message: ref.Message, Err: ref.Err}
	}
	if err != nil {
		return proxy.FederatedResult{}, err
	}
	return proxy.FederatedResult(res), nil
}

// Metadata is proxy.SAMLMetadata, for the providers that have it.
func (l proxyLogin) Metadata() ([]byte, error) {
	if m, ok := l.RedirectLogin.(auth.MetadataProvider); ok {
		return m.Metadata()
	}
	return nil, errors.New("no metadata")
}
