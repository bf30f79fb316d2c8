package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"
)

// Walkthrough is the whole life of an app installation, step by step,
// as cmd/gatehouse-mobile-demo runs it and the README describes it.
type Walkthrough struct {
	Gateway     *url.URL
	ClientID    string
	RedirectURI string
	Username    string
	Password    string
	// Path is the API call made through the gateway (default "/").
	Path string
	// HTTP is the app's client; the system browser gets its own, with a
	// cookie jar, built from it.
	HTTP *http.Client
	Out  io.Writer
}

// Run logs in, calls the API, rotates the tokens, calls again and signs
// out, printing what happens at each step.
func (w Walkthrough) Run(ctx context.Context) error {
	if w.Path == "" {
		w.Path = "/"
	}
	if w.HTTP == nil {
		w.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	say := func(format string, args ...any) { fmt.Fprintf(w.Out, format+"\n", args...) }
	app, err := New(w.Gateway, w.ClientID, w.RedirectURI, w.HTTP)
	if err != nil {
		return err
	}
	say("1. device key made (P-256); its thumbprint, which every token will be bound to: %s", app.JKT())
	p := NewPKCE()
	au := app.AuthorizeURL(p, true)
	say("2. the app opens the system browser at\n   %s", au)
	jar, _ := cookiejar.New(nil)
	browser := *w.HTTP
	browser.Jar = jar
	final, err := BrowserLogin(ctx, &browser, au, w.Username, w.Password)
	if err != nil {
		return fmt.Errorf("browser login: %w", err)
	}
	code, err := app.CodeFrom(final, p)
	if err != nil {
		return err
	}
	say("3. %s logged in; the gateway sent the browser back to the app: %.60s…", w.Username, final)
	if err := app.Exchange(ctx, code, p); err != nil {
		return fmt.Errorf("token exchange: %w", err)
	}
	say("4. code + PKCE verifier + DPoP proof exchanged for a %s access token and a refresh token", app.Type)
	call := func(step string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.Gateway.JoinPath(w.Path).String(), nil)
		if err != nil {
			return err
		}
		resp, err := app.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		say("%s GET %s with a fresh proof → %d %q", step, w.Path, resp.StatusCode, body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("API call answered %d", resp.StatusCode)
		}
		return nil
	}
	if err := call("5."); err != nil {
		return err
	}
	old := app.Refresh
	if err := app.RefreshTokens(ctx); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	say("6. refreshed: a new pair; the old refresh token is now used up (presenting it again would sign the device out)")
	if old == app.Refresh {
		return fmt.Errorf("the refresh token did not rotate")
	}
	if err := call("7."); err != nil {
		return err
	}
	if err := app.Revoke(ctx); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.Gateway.JoinPath(w.Path).String(), nil)
	resp, err := app.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	say("8. signed out (RFC 7009 revocation); the same access token now gets %d", resp.StatusCode)
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("the access token still works after sign-out: %d", resp.StatusCode)
	}
	return nil
}
