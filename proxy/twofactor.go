package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session"
)

// SecondFactor is the TOTP second factor (auth/mfa).
type SecondFactor interface {
	Status(ctx context.Context, userID string) (auth.MFAStatus, error)
	StartEnrollment(ctx context.Context, sid string, id auth.Identity) (auth.Enrollment, error)
	ConfirmEnrollment(ctx context.Context, sid string, id auth.Identity, code string) ([]string, error)
	Verify(ctx context.Context, userID, code string) (method string, err error)
	Remove(ctx context.Context, userID string) error
	RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error)
	RememberToken(userID string, stamp int64, expires time.Time) string
	CheckRemember(token, userID string, stamp int64) bool
}

// Pending steps a half-authenticated session owes.
const (
	pending2FA    = "2fa"
	pendingEnroll = "2fa_enroll"
)

const (
	msgBadCode    = "That code is not right. Check the time on your phone and try again."
	msgCodeLocked = "Too many wrong codes. Please wait a few minutes and try again."
)

// afterFirstFactor decides what a login still owes: nothing (a full
// session), the user's second factor, or enrolment in one. Until then the
// session is pending: it reaches nothing but the 2FA pages and expires in
// minutes.
func (g *Gateway) afterFirstFactor(w http.ResponseWriter, r *http.Request, id auth.Identity, ip, rd string, p *policy.Policy, idpMFA bool) {
	if g.MFA == nil {
		g.loggedIn(w, r, id, ip, rd)
		return
	}
	st, err := g.MFA.Status(r.Context(), id.UserID)
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	step := p.DecideMFA(policy.MFAInput{Role: id.Role, UserRequires: st.Required, Enrolled: st.Enrolled,
		Federated: id.Provider != "", IdPAssertedMFA: idpMFA})
	if step == policy.MFAPrompt && p.MFA.RememberDevice > 0 {
		if c, err := r.Cookie(g.deviceCookie()); err == nil && g.MFA.CheckRemember(c.Value, id.UserID, st.Stamp) {
			id.Methods = append(slices.Clone(id.Methods), auth.MethodRememberedDevice)
			step = policy.MFANone
		}
	}
	switch step {
	case policy.MFANone:
		g.loggedIn(w, r, id, ip, rd)
	case policy.MFAPrompt:
		g.pendingLogin(w, r, id, ip, pending2FA, "/.gatehouse/2fa?"+url.Values{"rd": {rd}}.Encode())
	case policy.MFAEnroll:
		g.pendingLogin(w, r, id, ip, pendingEnroll, "/.gatehouse/2fa/enroll?"+url.Values{"rd": {rd}}.Encode())
	}
}

func (g *Gateway) pendingLogin(w http.ResponseWriter, r *http.Request, id auth.Identity, ip, pending, next string) {
	s, ok := g.startSession(w, r, id, ip, pending)
	if !ok {
		return
	}
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFARequired, Actor: id.Username, UserID: id.UserID, ClientIP: ip,
		Detail: map[string]string{"step": pending, "session": s.ID}})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// pendingPath is where a half-authenticated session must go.
func pendingPath(s *session.Session, rd string) string {
	path := "/.gatehouse/2fa?"
	if s.Pending == pendingEnroll {
		path = "/.gatehouse/2fa/enroll?"
	}
	return path + url.Values{"rd": {CleanRedirect(rd)}}.Encode()
}

// currentSession loads the browser's session under the policy in force.
// It answers the request itself (and returns nil) when there is none or
// the store fails.
func (g *Gateway) currentSession(w http.ResponseWriter, r *http.Request) (*session.Session, *policy.Versioned) {
	cur := g.currentPolicy()
	if cur == nil {
		g.renderError(w, r, errUnavailable)
		return nil, nil
	}
	v := g.cookie.value(r)
	if v == "" {
		http.Redirect(w, r, "/.gatehouse/login", http.StatusSeeOther)
		return nil, nil
	}
	s, err := g.Sessions.Load(r.Context(), v, g.limits(&cur.Policy))
	switch reason, expired := session.IsExpired(err); {
	case err == nil:
	case expired:
		http.Redirect(w, r, loginURL("/", reason), http.StatusSeeOther)
		return nil, nil
	case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrMalformed):
		g.cookie.clear(w)
		http.Redirect(w, r, "/.gatehouse/login", http.StatusSeeOther)
		return nil, nil
	default:
		g.renderError(w, r, errUnavailable.with(err))
		return nil, nil
	}
	if g.Policy.Disabled(s.Identity.UserID) {
		g.Sessions.Revoke(r.Context(), s.ID)
		g.cookie.clear(w)
		http.Redirect(w, r, "/.gatehouse/login", http.StatusSeeOther)
		return nil, nil
	}
	return s, cur
}

func (g *Gateway) twoFactorPage(w http.ResponseWriter, r *http.Request) {
	s, cur := g.currentSession(w, r)
	if s == nil {
		return
	}
	rd := CleanRedirect(r.URL.Query().Get("rd"))
	if s.Pending != pending2FA {
		http.Redirect(w, r, nextFor(s, rd), http.StatusSeeOther)
		return
	}
	g.page(w, http.StatusOK, "twofa.html", g.twoFactorData(cur, rd, ""))
}

func (g *Gateway) twoFactorData(cur *policy.Versioned, rd, errMsg string) pageData {
	d := pageData{Title: "Two-factor authentication", Redirect: rd, Error: errMsg}
	if p := cur.Policy.MFA.RememberDevice; p > 0 {
		d.Remember = humanDuration(p)
	}
	return d
}

// nextFor sends a session that is not where it should be to its place.
func nextFor(s *session.Session, rd string) string {
	if s.Pending != "" {
		return pendingPath(s, rd)
	}
	return rd
}

// stepForm is the start of every 2FA form post: the session, its posted
// form and rd, when the session is at a step allowed here; otherwise it
// answers (redirecting the session to where it belongs) and reports false.
func (g *Gateway) stepForm(w http.ResponseWriter, r *http.Request, allowed func(*session.Session) bool) (*session.Session, *policy.Versioned, string, bool) {
	s, cur := g.currentSession(w, r)
	if s == nil {
		return nil, nil, "", false
	}
	if err := parseForm(w, r); err != nil {
		g.renderError(w, r, err)
		return nil, nil, "", false
	}
	rd := CleanRedirect(r.PostForm.Get("rd"))
	if !allowed(s) {
		http.Redirect(w, r, nextFor(s, rd), http.StatusSeeOther)
		return nil, nil, "", false
	}
	return s, cur, rd, true
}

func (g *Gateway) twoFactorSubmit(w http.ResponseWriter, r *http.Request) {
	s, cur, rd, ok := g.stepForm(w, r, func(s *session.Session) bool { return s.Pending == pending2FA })
	if !ok {
		return
	}
	ip := g.clientIP.Resolve(r).String()
	method, err := g.MFA.Verify(r.Context(), s.Identity.UserID, r.PostForm.Get("code"))
	if err != nil {
		g.codeFailed(w, r, s, ip, err, "twofa.html", g.twoFactorData(cur, rd, ""))
		return
	}
	id := s.Identity
	id.Methods = append(slices.Clone(id.Methods), method)
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFASuccess, Actor: id.Username, UserID: id.UserID, ClientIP: ip,
		Detail: map[string]string{"method": method}})
	if r.PostForm.Get("remember") == "1" && cur.Policy.MFA.RememberDevice > 0 {
		if st, err := g.MFA.Status(r.Context(), id.UserID); err == nil {
			g.setDeviceCookie(w, g.MFA.RememberToken(id.UserID, st.Stamp, time.Now().Add(cur.Policy.MFA.RememberDevice)), cur.Policy.MFA.RememberDevice)
		}
	}
	g.loggedIn(w, r, id, ip, rd)
}

// codeFailed answers a refused second-factor code: the same message for
// a wrong or replayed code, 429 when the user's limit is reached.
func (g *Gateway) codeFailed(w http.ResponseWriter, r *http.Request, s *session.Session, ip string, err error, page string, d pageData) {
	detail := map[string]string{}
	var f *auth.Failure
	if errors.As(err, &f) {
		detail["reason"] = f.Reason
	}
	id := s.Identity
	switch {
	case errors.Is(err, auth.ErrLockedOut):
		g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFALockout, Actor: id.Username, UserID: id.UserID, ClientIP: ip, Detail: detail})
		d.Error = msgCodeLocked
		g.page(w, http.StatusTooManyRequests, page, d)
	case errors.Is(err, auth.ErrInvalidCredentials):
		g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFAFailure, Actor: id.Username, UserID: id.UserID, ClientIP: ip, Detail: detail})
		d.Error = msgBadCode
		g.page(w, http.StatusUnauthorized, page, d)
	default:
		g.renderError(w, r, errUnavailable.with(err))
	}
}

// enrollPage shows the QR code: to a session that must enrol, or to a
// fully logged-in user enrolling by choice.
func (g *Gateway) enrollPage(w http.ResponseWriter, r *http.Request) {
	s, cur := g.currentSession(w, r)
	if s == nil {
		return
	}
	rd := CleanRedirect(r.URL.Query().Get("rd"))
	g.renderEnroll(w, r, s, cur, rd, "", http.StatusOK)
}

func (g *Gateway) renderEnroll(w http.ResponseWriter, r *http.Request, s *session.Session, cur *policy.Versioned, rd, errMsg string, status int) {
	if s.Pending == pending2FA || (s.Pending == "" && cur.Policy.MFA.Mode == "off") {
		http.Redirect(w, r, nextFor(s, rd), http.StatusSeeOther)
		return
	}
	if s.Pending == "" {
		if st, err := g.MFA.Status(r.Context(), s.Identity.UserID); err != nil || st.Enrolled {
			http.Redirect(w, r, "/.gatehouse/account", http.StatusSeeOther)
			return
		}
	}
	e, err := g.MFA.StartEnrollment(r.Context(), s.ID, s.Identity)
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	d := pageData{Title: "Set up two-factor authentication", Redirect: rd, Error: errMsg, Secret: e.Base32, OTPAuth: template.URL(e.URI),
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.PNG))}
	if s.Pending == pendingEnroll {
		d.Notice = "Your organisation requires two-factor authentication. Set it up to continue."
	}
	g.page(w, status, "enroll.html", d)
}

func (g *Gateway) enrollSubmit(w http.ResponseWriter, r *http.Request) {
	s, cur, rd, ok := g.stepForm(w, r, func(s *session.Session) bool { return s.Pending != pending2FA })
	if !ok {
		return
	}
	ip := g.clientIP.Resolve(r).String()
	codes, err := g.MFA.ConfirmEnrollment(r.Context(), s.ID, s.Identity, r.PostForm.Get("code"))
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrLockedOut):
		msg := msgBadCode
		if errors.Is(err, auth.ErrLockedOut) {
			msg = msgCodeLocked
		}
		g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFAFailure, Actor: s.Identity.Username, UserID: s.Identity.UserID, ClientIP: ip,
			Detail: map[string]string{"step": "enrol"}})
		g.renderEnroll(w, r, s, cur, rd, msg, http.StatusUnauthorized)
		return
	case err != nil:
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFAEnrolled, Actor: s.Identity.Username, UserID: s.Identity.UserID, ClientIP: ip})
	next := "/.gatehouse/account"
	if s.Pending == pendingEnroll {
		// Enrolment proved the factor: this login is now complete.
		id := s.Identity
		id.Methods = append(slices.Clone(id.Methods), auth.MethodTOTP)
		if !g.completeLogin(w, r, id, ip) {
			return
		}
		next = rd
	}
	g.page(w, http.StatusOK, "codes.html", pageData{Title: "Recovery codes", Codes: codes, Redirect: next})
}

func (g *Gateway) deviceCookie() string { return g.cookie.name + "-device" }

func (g *Gateway) setDeviceCookie(w http.ResponseWriter, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: g.deviceCookie(), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: g.cookie.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func parseForm(w http.ResponseWriter, r *http.Request) *Error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "The form could not be read.", Err: err}
	}
	return nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return d.String()
}
