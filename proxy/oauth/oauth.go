// Package oauth mounts the mobile app's OAuth endpoints on the gateway:
// authorize (the system browser's login, RFC 8252), token, revoke (RFC
// 7009) and the metadata document (RFC 8414). The protocol decisions are
// auth/token's; this package reads requests and writes answers.
package oauth

import (
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse-auth/gatehouse/auth/token"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// Routes are the OAuth endpoints.
type Routes struct {
	svc    *token.Service
	render *web.Renderer
}

// New returns the route set.
func New(svc *token.Service, g *proxy.Gateway) *Routes {
	return &Routes{svc: svc, render: g.Render()}
}

// Mount implements proxy.Routes.
func (o *Routes) Mount(m *proxy.Mux) {
	// Anyone: the login state is read (the user may already be signed
	// in), and the network rules of the caller apply as on the login page.
	m.Handle("GET "+token.AuthorizePath, proxy.Anyone, o.authorize)
	m.Handle("POST "+token.AuthorizePath, proxy.Anyone, o.consent)
	m.Handle("POST "+token.TokenPath, proxy.Anyone, o.token)
	m.Handle("POST "+token.RevokePath, proxy.Anyone, o.revoke)
	m.HandleWellKnown(token.MetadataPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		web.JSON(w, http.StatusOK, o.svc.Metadata())
	})
}

// authorize checks the app's request, sends the user through the login
// when needed (carrying the request sealed in the return path), and
// redirects to the app with a one-time code.
func (o *Routes) authorize(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	var req token.AuthRequest
	// resumed: the request came back sealed from a login it sent the
	// user through (only then may that login stand for consent).
	resumed := false
	if v := q.Get("resume"); v != "" && len(q) == 1 {
		var err error
		resumed = true
		if req, err = o.svc.OpenRequest(v); err != nil {
			o.render.Error(w, r, &web.Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: err.Error()})
			return
		}
	} else {
		var e *token.Error
		var redirect bool
		req, e, redirect = o.svc.ParseAuthorize(q)
		if e != nil {
			if redirect {
				http.Redirect(w, r, o.svc.ErrorRedirect(req, e), http.StatusFound)
				return
			}
			// The app's redirect URI is not trusted: tell the user.
			o.render.Error(w, r, &web.Error{Status: e.Status, Code: e.Code, Message: "The app's sign-in request is not valid: " + e.Description})
			return
		}
	}
	c := proxy.CallerOf(r)
	sealed := o.svc.SealRequest(req)
	if !o.signedIn(w, r, c, sealed) {
		return
	}
	// A login this request sent the user through is their say-so. A
	// session from before it is not: any app on the device can open the
	// browser with the registered client's id and its own redirect (RFC
	// 8252 §8.6), so the user confirms first, by a same-origin POST.
	if resumed && req.Sealed != 0 && !c.Created.Before(req.Started()) {
		o.issue(w, r, req, c, http.StatusFound)
		return
	}
	o.render.Page(w, r, http.StatusOK, "consent.html", web.PageData{Title: "consent.title", Message: "consent.ask",
		MessageArg: o.svc.ClientName(req.ClientID), Username: c.Identity.Username, Resume: sealed})
}

// signedIn sends a caller who is not (fully) signed in to the login, to
// come back to the request sealed; it reports whether the caller is.
func (o *Routes) signedIn(w http.ResponseWriter, r *http.Request, c *proxy.Caller, sealed string) bool {
	back := token.AuthorizePath + "?" + url.Values{"resume": {sealed}}.Encode()
	switch {
	case !c.SignedIn():
		http.Redirect(w, r, proxy.LoginURL(back, c.Ended), http.StatusFound)
		return false
	case !c.Complete():
		http.Redirect(w, r, proxy.PendingPath(c.Pending, back), http.StatusFound)
		return false
	}
	return true
}

// consent is the consent page's answer: continue issues the code, cancel
// tells the app the user declined.
func (o *Routes) consent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := web.ParseForm(w, r); err != nil {
		o.render.Error(w, r, err)
		return
	}
	req, err := o.svc.OpenRequest(r.PostForm.Get("resume"))
	if err != nil {
		o.render.Error(w, r, &web.Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: err.Error()})
		return
	}
	if r.PostForm.Get("answer") != "continue" {
		http.Redirect(w, r, o.svc.ErrorRedirect(req, token.Denied), http.StatusSeeOther)
		return
	}
	c := proxy.CallerOf(r)
	if !o.signedIn(w, r, c, r.PostForm.Get("resume")) {
		return
	}
	o.issue(w, r, req, c, http.StatusSeeOther)
}

// issue redirects to the app with a one-time code.
func (o *Routes) issue(w http.ResponseWriter, r *http.Request, req token.AuthRequest, c *proxy.Caller, status int) {
	to, err := o.svc.IssueCode(r.Context(), req, c.Identity)
	if err != nil {
		o.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	http.Redirect(w, r, to, status)
}

// maxForm bounds a token or revocation request body.
const maxForm = 16 << 10

// form reads a POST body that must be form-encoded.
func form(w http.ResponseWriter, r *http.Request) (url.Values, *token.Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &token.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return nil, &token.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body is not a valid form"}
	}
	if len(r.URL.RawQuery) > 0 {
		// Credentials in a URL end up in logs (RFC 6749 §3.2).
		return nil, &token.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "parameters go in the body, never in the URL"}
	}
	return r.PostForm, nil
}

func (o *Routes) token(w http.ResponseWriter, r *http.Request) {
	f, e := form(w, r)
	if e == nil {
		var resp *token.TokenResponse
		c := proxy.CallerOf(r)
		resp, e = o.svc.Token(r.Context(), token.TokenRequest{Form: f, DPoP: r.Header.Values("Dpop"),
			ClientIP: c.IP.String(), UserAgent: r.UserAgent()})
		if e == nil {
			o.nonce(w)
			w.Header().Set("Pragma", "no-cache")
			web.JSON(w, http.StatusOK, resp)
			return
		}
	}
	o.fail(w, e)
}

func (o *Routes) revoke(w http.ResponseWriter, r *http.Request) {
	f, e := form(w, r)
	if e == nil {
		if e = o.svc.Revoke(r.Context(), f, proxy.CallerOf(r).IP.String()); e == nil {
			web.JSON(w, http.StatusOK, struct{}{})
			return
		}
	}
	o.fail(w, e)
}

func (o *Routes) nonce(w http.ResponseWriter) {
	if n := o.svc.Nonce(); n != "" {
		w.Header().Set("DPoP-Nonce", n)
	}
}

func (o *Routes) fail(w http.ResponseWriter, e *token.Error) {
	if e.Nonce != "" {
		w.Header().Set("DPoP-Nonce", e.Nonce)
	} else {
		o.nonce(w)
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	web.JSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}
