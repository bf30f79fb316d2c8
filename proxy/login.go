package proxy

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Fixed notices the login page shows for ?reason=; the page never echoes
// text from the URL.
var notices = map[string]string{
	string(session.ReasonIdle):     "Your session timed out after a period of inactivity. Please log in again.",
	string(session.ReasonAbsolute): "Your session reached its maximum lifetime (login expiration). Please log in again.",
	"logged_out":                   "You have been logged out.",
	"revoked":                      "Your session was ended. Please log in again.",
}

const (
	msgInvalid = "Invalid username or password."
	msgLocked  = "Too many failed attempts. Please wait a few minutes and try again."
	maxForm    = 16 << 10
)

func (g *Gateway) loginPage(w http.ResponseWriter, r *http.Request) {
	cur := g.currentPolicy()
	if cur == nil {
		g.renderError(w, r, errUnavailable)
		return
	}
	rd := CleanRedirect(r.URL.Query().Get("rd"))
	if !g.networkAllowed(w, r, g.clientIP.Resolve(r), true, "", "", "") {
		return
	}
	// Already logged in: go straight on.
	if v := g.cookie.value(r); v != "" {
		if s, err := g.Sessions.Load(r.Context(), v, g.limits(&cur.Policy)); err == nil && s.Authenticated() && !g.Policy.Disabled(s.Identity.UserID) {
			http.Redirect(w, r, rd, http.StatusSeeOther)
			return
		}
	}
	g.page(w, http.StatusOK, "login.html", pageData{
		Title: "Log in", Redirect: rd, Notice: notices[r.URL.Query().Get("reason")],
		PasswordEnabled: cur.Policy.MethodEnabled(auth.MethodPassword),
		Providers:       g.buttons(cur.Policy.MethodEnabled, rd),
	})
}

func (g *Gateway) loginSubmit(w http.ResponseWriter, r *http.Request) {
	cur := g.currentPolicy()
	if cur == nil {
		g.renderError(w, r, errUnavailable)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		g.renderError(w, r, &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "The form could not be read.", Err: err})
		return
	}
	rd := CleanRedirect(r.PostForm.Get("rd"))
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	data := pageData{Title: "Log in", Redirect: rd, Username: username, PasswordEnabled: true}
	if !cur.Policy.MethodEnabled(auth.MethodPassword) {
		data.PasswordEnabled, data.Username = false, ""
		g.page(w, http.StatusForbidden, "login.html", data)
		return
	}
	addr := g.clientIP.Resolve(r)
	ip := addr.String()
	// Organisation-wide rules first, before any password is checked; the
	// role and user lists once the user is known.
	if !g.networkAllowed(w, r, addr, true, "", "", "") {
		return
	}
	id, err := g.Password.Authenticate(r.Context(), username, pw, ip)
	if err != nil {
		g.loginFailed(w, r, err, ip, data)
		return
	}
	if !g.networkAllowed(w, r, addr, true, id.Role, id.UserID, id.Username) {
		return
	}
	g.afterFirstFactor(w, r, id, ip, rd, &cur.Policy, false)
}

// loginFailed answers a refused login. Unknown user, wrong password and
// disabled account give the same page and status (ASVS 6.3.8); the audit
// log keeps the real reason.
func (g *Gateway) loginFailed(w http.ResponseWriter, r *http.Request, err error, ip string, data pageData) {
	var f *auth.Failure
	detail := map[string]string{"method": auth.MethodPassword}
	userID := ""
	if errors.As(err, &f) {
		detail["reason"], userID = f.Reason, f.UserID
	}
	switch {
	case errors.Is(err, auth.ErrLockedOut):
		g.metrics.inc(outcomeLoginLockout)
		g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.LoginLockout, UserID: userID, ClientIP: ip, Detail: detail})
		data.Error = msgLocked
		g.page(w, http.StatusTooManyRequests, "login.html", data)
	case errors.Is(err, auth.ErrInvalidCredentials):
		g.metrics.inc(outcomeLoginFailure)
		g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.LoginFailure, UserID: userID, ClientIP: ip, Detail: detail})
		data.Error = msgInvalid
		g.page(w, http.StatusUnauthorized, "login.html", data)
	default:
		g.renderError(w, r, errUnavailable.with(err))
	}
}

// startSession creates a fresh session for id (pending names a step still
// owed, "" for none) and ends any session the browser already carried, so
// a planted cookie is never adopted (session fixation) and the id changes
// at login and again when 2FA completes (ASVS 7.2.4). It reports false
// after answering the request itself with an error.
func (g *Gateway) startSession(w http.ResponseWriter, r *http.Request, id auth.Identity, ip, pending string) (*session.Session, bool) {
	cur := g.currentPolicy()
	if cur == nil {
		g.renderError(w, r, errUnavailable)
		return nil, false
	}
	s := &session.Session{Identity: id, ClientIP: ip, Agent: truncate(r.UserAgent(), 256), Pending: pending}
	t, err := g.Sessions.Create(r.Context(), s, g.limits(&cur.Policy))
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return nil, false
	}
	if old := g.cookie.value(r); old != "" {
		if ot, err := session.ParseTicket(old); err == nil {
			g.Sessions.Revoke(r.Context(), ot.ID) // best effort: a stale id may already be gone
		}
	}
	g.cookie.set(w, t.Encode())
	return s, true
}

// loggedIn completes a login whose every factor is done and sends the
// browser on to rd.
func (g *Gateway) loggedIn(w http.ResponseWriter, r *http.Request, id auth.Identity, ip, rd string) {
	if g.completeLogin(w, r, id, ip) {
		http.Redirect(w, r, rd, http.StatusSeeOther)
	}
}

// completeLogin creates the full session, counts and audits the login; it
// reports false after answering the request itself with an error.
func (g *Gateway) completeLogin(w http.ResponseWriter, r *http.Request, id auth.Identity, ip string) bool {
	s, ok := g.startSession(w, r, id, ip, "")
	if !ok {
		return false
	}
	g.metrics.inc(outcomeLoginSuccess)
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.LoginSuccess, Actor: id.Username, UserID: id.UserID, ClientIP: ip,
		Detail: map[string]string{"method": joinMethods(id.Methods), "session": s.ID, "provider": id.Provider}})
	return true
}

func (g *Gateway) logoutPage(w http.ResponseWriter, r *http.Request) {
	g.page(w, http.StatusOK, "logout.html", pageData{Title: "Log out"})
}

// logout ends the session server-side, then clears the cookie. A store
// outage is reported rather than pretending the session ended.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	ip := g.clientIP.Resolve(r).String()
	if v := g.cookie.value(r); v != "" {
		if t, err := session.ParseTicket(v); err == nil {
			if cur := g.currentPolicy(); cur != nil {
				if s, err := g.Sessions.Load(r.Context(), v, g.limits(&cur.Policy)); err == nil {
					g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.Logout, Actor: s.Identity.Username, UserID: s.Identity.UserID, ClientIP: ip,
						Detail: map[string]string{"session": s.ID}})
				}
			}
			if err := g.Sessions.Revoke(r.Context(), t.ID); err != nil {
				g.renderError(w, r, errUnavailable.with(err))
				return
			}
			g.Assertions.Forget(t.ID)
		}
	}
	g.cookie.clear(w)
	if wantsHTML(r) || r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		http.Redirect(w, r, "/.gatehouse/login?reason=logged_out", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged_out"})
}

// loginURL is where an unauthenticated browser is sent.
func loginURL(original string, reason session.Reason) string {
	q := url.Values{"rd": {CleanRedirect(original)}}
	if reason != "" {
		q.Set("reason", string(reason))
	}
	return "/.gatehouse/login?" + q.Encode()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
