package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/session"
)

// maxCode bounds the code we forward to the token endpoint.
const maxCode = 4096

// Callback finishes a login from the callback request's query; see
// CallbackBound.
func (c *Connector) Callback(ctx context.Context, query url.Values) (Result, error) {
	return c.CallbackBound(ctx, query, "")
}

// CallbackBound finishes a login. In order, and failing at the first
// problem: it takes the transaction named by state (so a replayed, unknown
// or expired state fails, and any callback burns its state), checks the
// browser binding, checks the RFC 9207 iss parameter, handles an error
// response, exchanges the code with the PKCE verifier, verifies the ID
// token, its nonce, at_hash, azp and iat, and the email and hosted-domain
// rules. The error wraps one of the package's sentinels, or none for an
// internal failure such as a store outage.
func (c *Connector) CallbackBound(ctx context.Context, query url.Values, binding string) (Result, error) {
	tr, err := c.take(ctx, query, binding)
	if err != nil {
		return Result{}, err
	}
	code, err := c.response(query)
	if err != nil {
		return Result{}, err
	}
	tok, err := c.exchange(ctx, code, tr.Verifier)
	if err != nil {
		return Result{}, err
	}
	idt, err := c.verify(ctx, tok, tr)
	if err != nil {
		return Result{}, err
	}
	return c.result(idt, tr)
}

// fail wraps a sentinel with this provider's id and a reason that is safe
// to log.
func (c *Connector) fail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: provider %s: %s", sentinel, c.cfg.ID, fmt.Sprintf(format, args...))
}

// take consumes the transaction the state names. The state is checked for
// shape first so that query junk never reaches the store.
func (c *Connector) take(ctx context.Context, q url.Values, binding string) (transaction, error) {
	state, ok := single(q, "state")
	if !ok || !validToken(state) {
		return transaction{}, c.fail(ErrState, "state missing or malformed")
	}
	raw, err := c.tx.Take(ctx, c.key(state))
	if errors.Is(err, session.ErrNotFound) {
		return transaction{}, c.fail(ErrState, "state unknown, used or expired")
	}
	if err != nil {
		return transaction{}, fmt.Errorf("oidc %s callback: take state: %w", c.cfg.ID, err)
	}
	var tr transaction
	if err := json.Unmarshal(raw, &tr); err != nil || tr.Nonce == "" || tr.Verifier == "" {
		return transaction{}, c.fail(ErrState, "state record unreadable")
	}
	// The store's TTL should already have dropped it; this holds even for
	// a store with a coarse TTL.
	if age := c.now().Sub(time.Unix(tr.Created, 0)); age > TransactionTTL {
		return transaction{}, c.fail(ErrState, "state expired")
	}
	if len(tr.Binding) > 0 {
		sum := sha256.Sum256([]byte(binding))
		if subtle.ConstantTimeCompare(tr.Binding, sum[:]) != 1 {
			return transaction{}, c.fail(ErrState, "state started in another browser")
		}
	}
	return tr, nil
}

// response checks the authorization response itself: the issuer it claims
// to come from (RFC 9207), an error, and the code.
func (c *Connector) response(q url.Values) (string, error) {
	if _, present := q["iss"]; present {
		iss, ok := single(q, "iss")
		if !ok || iss != c.cfg.Issuer {
			return "", c.fail(ErrProvider, "iss response parameter is not this provider's issuer (mix-up)")
		}
	} else if c.requireIss {
		return "", c.fail(ErrProvider, "iss response parameter missing although the provider advertises it")
	}
	if _, present := q["error"]; present {
		return "", fmt.Errorf("oidc %s callback: %w", c.cfg.ID, &ResponseError{Code: safeCode(q.Get("error"))})
	}
	code, ok := single(q, "code")
	if !ok || code == "" || len(code) > maxCode {
		return "", c.fail(ErrProvider, "code missing, repeated or too long")
	}
	return code, nil
}

// exchange redeems the code with the PKCE verifier. Errors carry the
// status and the RFC 6749 error code only, never the response body.
func (c *Connector) exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	tok, err := c.oauth.Exchange(gooidc.ClientContext(ctx, c.client), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		errCode := "none"
		if re.ErrorCode != "" {
			errCode = safeCode(re.ErrorCode)
		}
		return nil, c.fail(ErrProvider, "token endpoint refused the code: status %d, error %q", status, errCode)
	case err != nil:
		return nil, c.fail(ErrProvider, "token request failed: %v", err)
	case !strings.EqualFold(tok.Type(), "Bearer"):
		return nil, c.fail(ErrProvider, "token_type %q is not Bearer", safeCode(strings.ToLower(tok.Type())))
	}
	return tok, nil
}

// verify checks the ID token: go-oidc does signature, algorithm, issuer,
// audience and expiry; the nonce, at_hash and iat are ours.
func (c *Connector) verify(ctx context.Context, tok *oauth2.Token, tr transaction) (*gooidc.IDToken, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, c.fail(ErrToken, "token response has no id_token")
	}
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: provider %s: %w", ErrToken, c.cfg.ID, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(tr.Nonce)) != 1 {
		return nil, c.fail(ErrNonce, "id token nonce is not this login's")
	}
	// at_hash is optional in the code flow; when present it must match.
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, c.fail(ErrToken, "at_hash does not match the access token")
		}
	}
	if err := c.checkIssuedAt(idt.IssuedAt, tr); err != nil {
		return nil, err
	}
	return idt, nil
}

// single returns the one value of key, or false when it is absent or
// repeated: a repeated parameter is ambiguous and never ours.
func single(q url.Values, key string) (string, bool) {
	v := q[key]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}
