// Package login is the interactive login flow of the gateway's own pages:
// the password form, federated logins (the provider buttons, OIDC
// callbacks, the SAML ACS and metadata), the second-factor prompt and
// enrolment, and logout. It mounts its routes on the pipeline's Mux and
// reads each request's Caller from it, so it never loads a session itself.
package login

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// SecondFactor is the TOTP second factor (auth/mfa).
type SecondFactor interface {
	Status(ctx context.Context, userID string) (auth.MFAStatus, error)
	StartEnrollment(ctx context.Context, sid string, id auth.Identity) (auth.Enrollment, error)
	// ConfirmEnrollment stores the app a code confirmed: as the user's
	// first factor with new recovery codes, or with add (a full, fresh
	// session of a user who has one) beside the others, returning none.
	ConfirmEnrollment(ctx context.Context, sid string, id auth.Identity, code string, add bool) ([]string, error)
	Verify(ctx context.Context, userID, code string) (method string, err error)
	// VerifyForReset is Verify on the password reset page: a code sent
	// by email (where the link went) is refused like a wrong one.
	VerifyForReset(ctx context.Context, userID, code string) (method string, err error)
	// SendResetCode texts the user's SMS factor a code for the reset
	// page (VerifyForReset takes it, Verify does not).
	SendResetCode(ctx context.Context, userID string) (string, error)
	RememberToken(userID string, stamp int64, expires time.Time) string
	// CheckRemember refuses a token older than maxAge, the policy's
	// remember_device in force, so shortening it shortens cookies
	// already issued.
	CheckRemember(token, userID string, stamp int64, maxAge time.Duration) bool
	// EmailAvailable and SMSAvailable report whether codes can be sent
	// that way at all (an SMTP relay, an SMS sender configured).
	EmailAvailable() bool
	SMSAvailable() bool
	// SendLoginCode sends the user a code for the 2FA step by kind
	// ("email", "sms") and returns the masked destination;
	// auth.ErrCodeSentRecently when one was sent moments ago.
	SendLoginCode(ctx context.Context, userID, kind string) (string, error)
	// StartEmailEnrollment emails a code that confirms the address, and
	// StartSMSEnrollment texts one to phone (auth.ErrBadPhone for a
	// number that is not E.164), for enrolling from session sid.
	StartEmailEnrollment(ctx context.Context, sid string, id auth.Identity) (string, error)
	StartSMSEnrollment(ctx context.Context, sid string, id auth.Identity, phone string) (string, error)
	// ConfirmOTPEnrollment checks that code and stores the factor,
	// returning the new recovery codes (as ConfirmEnrollment does).
	// It also returns the stored factor's login method. allowed says
	// whether the code's kind may still be set up.
	ConfirmOTPEnrollment(ctx context.Context, sid string, id auth.Identity, code string, add bool, allowed func(kind string) bool) ([]string, string, error)
	Passkeys
}

// Passkeys is WebAuthn (auth/mfa): each Begin returns the options the
// browser's navigator.credentials call takes (JSON) and keeps the
// challenge; each Finish checks the browser's answer (JSON, as
// PublicKeyCredential.toJSON writes it) against it, once.
type Passkeys interface {
	// PasskeysAvailable reports whether passkeys are configured at all
	// (public_url names a host).
	PasskeysAvailable() bool
	// BeginPasskeyRegistration and FinishPasskeyRegistration register a
	// passkey named name from session sid: the first factor with
	// recovery codes returned, or with add one more (no codes).
	BeginPasskeyRegistration(ctx context.Context, sid string, id auth.Identity) ([]byte, error)
	FinishPasskeyRegistration(ctx context.Context, sid string, id auth.Identity, answer []byte, name string, add bool) ([]string, error)
	// BeginPasskeyLogin and FinishPasskeyLogin are the 2FA step with
	// one of the user's passkeys.
	BeginPasskeyLogin(ctx context.Context, sid, userID string) ([]byte, error)
	FinishPasskeyLogin(ctx context.Context, sid, userID string, answer []byte) (string, error)
	// BeginPasswordless and FinishPasswordless log in with a
	// discoverable passkey alone, returning its owner's identity;
	// binding is the value the browser was given with the options.
	BeginPasswordless(ctx context.Context, binding string) ([]byte, error)
	FinishPasswordless(ctx context.Context, answer []byte, binding string) (auth.Identity, error)
}

// Options are the login methods the pages offer.
type Options struct {
	Password auth.PasswordLogin
	// PasswordProviders are the ids of providers that check the login
	// form's password (type api): the form shows while the policy allows
	// the local password or any of them.
	PasswordProviders []string
	MFA               SecondFactor // nil: no second factor
	Providers         []auth.RedirectLogin
	// Starts counts federated login starts per client network in the
	// shared store, so the server-side state an anonymous client can
	// create stays bounded (nil: no bound; see MaxStarts).
	Starts session.Counter
	// MaxStarts is how many federated logins one client network may
	// start per StartWindow; default 30 per 10 minutes.
	MaxStarts   int
	StartWindow time.Duration
	// Passwords replaces an administrator-set password at the end of a
	// login that owes it (nil: such a login is refused at that step).
	Passwords PasswordChanger
	// Now is the clock adding a factor is judged fresh by (default
	// time.Now).
	Now func() time.Time
	// Encryption issues the login form's challenges and opens the
	// passwords encrypted for them, for the policy's
	// methods.password_encryption (nil: with that on, the form answers
	// 503 rather than take a password in clear).
	Encryption PasswordEncryption
	// Backchannel carries out OIDC back-channel logouts for the
	// providers configured to take them (nil: the route is not mounted).
	Backchannel *Backchannel
	// Resets is "Forgot password?" (auth/reset, adapted by
	// cmd/gatehouse); nil when no email is configured: the pages are
	// then absent whatever the policy says.
	Resets Resets
}

// PasswordChanger is the must-change step's store (auth/admin, adapted
// by cmd/gatehouse): it answers *PasswordRefused for a password the rules
// refuse and ErrNoChangeOwed when the step is over.
type PasswordChanger interface {
	ChangeOwnPassword(ctx context.Context, userID, pw string) error
}

// Pages is the login route set.
type Pages struct {
	gw       *proxy.Gateway
	render   *web.Renderer
	cookies  web.Cookies
	sessions proxy.Sessions
	audit    proxy.Auditor
	password auth.PasswordLogin
	// passwordIDs are the providers that check the form's password.
	passwordIDs []string
	mfa         SecondFactor
	providers   []auth.RedirectLogin
	starts      session.Counter
	maxStarts   int
	window      time.Duration
	passwords   PasswordChanger
	crypt       PasswordEncryption
	back        *Backchannel
	resets      Resets
	now         func() time.Time
}

// New returns the login pages of gw.
func New(gw *proxy.Gateway, o Options) *Pages {
	if o.MaxStarts == 0 {
		o.MaxStarts = 30
	}
	if o.StartWindow == 0 {
		o.StartWindow = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pages{gw: gw, render: gw.Render(), cookies: gw.Cookies(), sessions: gw.Sessions(), audit: gw.Audit(),
		password: o.Password, passwordIDs: o.PasswordProviders, mfa: o.MFA, providers: o.Providers, starts: o.Starts, maxStarts: o.MaxStarts, window: o.StartWindow, passwords: o.Passwords, crypt: o.Encryption, back: o.Backchannel, resets: o.Resets, now: o.Now}
}

// formEnabled reports whether the username and password form is on: for
// the local password or for a provider that checks it.
func (p *Pages) formEnabled(pol *policy.Policy) bool {
	return pol.MethodEnabled(auth.MethodPassword) || slices.ContainsFunc(p.passwordIDs, pol.MethodEnabled)
}

// Mount implements proxy.Routes.
func (p *Pages) Mount(m *proxy.Mux) {
	m.Handle("GET /.gatehouse/login", proxy.Anyone, p.loginPage)
	m.Handle("POST /.gatehouse/login", proxy.Anyone, p.loginSubmit)
	m.Handle("GET /.gatehouse/logout", proxy.Public, p.logoutPage)
	m.Handle("POST /.gatehouse/logout", proxy.Exit, p.logout)
	if p.mfa != nil {
		m.Handle("GET /.gatehouse/2fa", proxy.AnySession, p.twoFactorPage)
		m.Handle("POST /.gatehouse/2fa", proxy.AnySession, p.twoFactorSubmit)
		m.Handle("GET /.gatehouse/2fa/enroll", proxy.AnySession, p.enrollPage)
		m.Handle("POST /.gatehouse/2fa/enroll", proxy.AnySession, p.enrollSubmit)
		m.Handle("POST /.gatehouse/2fa/email", proxy.AnySession, p.sendLoginCode("email"))
		m.Handle("POST /.gatehouse/2fa/sms", proxy.AnySession, p.sendLoginCode("sms"))
		m.Handle("POST /.gatehouse/2fa/enroll/email", proxy.AnySession, p.startOTPEnrollment("email"))
		m.Handle("POST /.gatehouse/2fa/enroll/sms", proxy.AnySession, p.startOTPEnrollment("sms"))
		m.Handle("POST /.gatehouse/2fa/enroll/code", proxy.AnySession, p.confirmOTPEnrollment)
		if p.mfa.PasskeysAvailable() {
			m.Handle("POST /.gatehouse/2fa/passkey", proxy.AnySession, p.passkeySubmit)
			m.Handle("POST /.gatehouse/2fa/enroll/passkey", proxy.AnySession, p.passkeyEnrollSubmit)
			m.Handle("POST /.gatehouse/login/passkey", proxy.Anyone, p.passwordlessStart)
			m.Handle("POST /.gatehouse/login/passkey/finish", proxy.Anyone, p.passwordlessFinish)
		}
	}
	m.Handle("GET /.gatehouse/password", proxy.AnySession, p.passwordPage)
	m.Handle("POST /.gatehouse/password", proxy.AnySession, p.passwordSubmit)
	if p.resets != nil {
		m.Handle("GET /.gatehouse/password/forgot", proxy.Anyone, p.forgotPage)
		m.Handle("POST /.gatehouse/password/forgot", proxy.Anyone, p.forgotSubmit)
		m.Handle("GET /.gatehouse/password/reset", proxy.Anyone, p.resetPage)
		m.Handle("POST /.gatehouse/password/reset", proxy.Anyone, p.resetSubmit)
		m.Handle("POST /.gatehouse/password/reset/sms", proxy.Anyone, p.resetSMS)
	}
	m.Handle("GET /.gatehouse/login/{id}", proxy.Anyone, p.providerLogin)
	m.Handle("GET /.gatehouse/oidc/{id}/callback", proxy.Anyone, p.providerCallback("oidc"))
	m.Handle("POST /.gatehouse/saml/{id}/acs", proxy.Anyone, p.providerCallback("saml"))
	m.Handle("GET /.gatehouse/saml/{id}/metadata", proxy.Public, p.samlMetadata)
	if p.back != nil {
		m.Handle("POST /.gatehouse/oidc/{id}/backchannel-logout", proxy.Public, p.backchannelLogout)
	}
}

const (
	msgBusy    = "login.busy"
	reasonBusy = "busy" // auth/password's Failure reason for a full hash queue
	msgInvalid = "login.invalid"
	msgLocked  = "login.locked"
)

func (p *Pages) loginPage(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	// rd may be the absolute URL of this origin (forward-auth's links).
	rd := web.LocalRedirect(r.URL.Query().Get("rd"), r.Host)
	// Already logged in: go straight on.
	if c.Complete() {
		http.Redirect(w, r, rd, http.StatusSeeOther)
		return
	}
	pol := &c.Policy.Policy
	data := web.PageData{
		Title: "login.title", Redirect: rd, Notice: proxy.Notices[r.URL.Query().Get("reason")],
		PasswordEnabled: p.formEnabled(pol),
		Providers:       p.buttons(pol.MethodEnabled, rd),
		ForgotLink:      p.resets != nil && pol.SelfServiceReset(),
		PasskeyLogin:    p.mfa != nil && p.mfa.PasskeysAvailable() && pol.PasswordlessPasskeys(),
	}
	if !p.withChallenge(w, r, pol, &data) {
		return
	}
	p.render.Page(w, r, http.StatusOK, "login.html", data)
}

func (p *Pages) loginSubmit(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	rd := web.CleanRedirect(r.PostForm.Get("rd"))
	username := r.PostForm.Get("username")
	data := web.PageData{Title: "login.title", Redirect: rd, Username: username, PasswordEnabled: true}
	if !p.formEnabled(&c.Policy.Policy) {
		data.PasswordEnabled, data.Username = false, ""
		p.render.Page(w, r, http.StatusForbidden, "login.html", data)
		return
	}
	ip := c.IP.String()
	// Organisation-wide login rules first, before any password is
	// checked (a signed-in caller passed the pipeline under its own
	// user's rules); the role and user lists once the user is known.
	if c.SignedIn() && !p.gw.CheckNetwork(w, r, true, nil) {
		return
	}
	pw, ok := p.formPassword(w, r, &data)
	if !ok {
		return
	}
	id, err := p.password.Authenticate(r.Context(), username, pw, ip)
	if err != nil {
		p.loginFailed(w, r, err, ip, data)
		return
	}
	if !p.gw.CheckNetwork(w, r, true, &id) {
		return
	}
	p.afterFirstFactor(w, r, id, rd)
}

// loginFailed answers a refused login. Unknown user, wrong password and
// disabled account give the same page and status (ASVS 6.3.8); the audit
// log keeps the real reason.
func (p *Pages) loginFailed(w http.ResponseWriter, r *http.Request, err error, ip string, data web.PageData) {
	var f *auth.Failure
	detail := map[string]string{"method": auth.MethodPassword}
	userID := ""
	if errors.As(err, &f) {
		detail["reason"], userID = f.Reason, f.UserID
		if f.Method != "" {
			detail["method"] = f.Method
		}
	}
	switch {
	case errors.Is(err, auth.ErrLockedOut) && f != nil && f.Reason == reasonBusy:
		// Too many password checks already waiting: nothing was
		// checked or counted, so this is not a lockout.
		p.audit.Record(r.Context(), audit.Event{Event: audit.LoginFailure, UserID: userID, ClientIP: ip, Detail: detail})
		w.Header().Set("Retry-After", "5")
		data.Error = msgBusy
		p.render.Page(w, r, http.StatusTooManyRequests, "login.html", data)
	case errors.Is(err, auth.ErrLockedOut):
		p.audit.Record(r.Context(), audit.Event{Event: audit.LoginLockout, UserID: userID, ClientIP: ip, Detail: detail})
		data.Error = msgLocked
		p.render.Page(w, r, http.StatusTooManyRequests, "login.html", data)
	case errors.Is(err, auth.ErrInvalidCredentials):
		p.audit.Record(r.Context(), audit.Event{Event: audit.LoginFailure, UserID: userID, ClientIP: ip, Detail: detail})
		data.Error = msgInvalid
		if detail["method"] == auth.MethodWebAuthn {
			data.Error = msgPasskeyFailed // a passkey refused, not a password
		}
		p.render.Page(w, r, http.StatusUnauthorized, "login.html", data)
	default:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
	}
}

// startSession creates a fresh session for id (pending names a step still
// owed, "" for none) and ends the session the browser already carried,
// so a planted cookie is never adopted (session fixation) and the id
// changes at login and again when 2FA completes (ASVS 7.2.4). Only a
// session the cookie actually opened is ended: its public id alone (in
// headers, assertions, audit lines) can end nothing (review finding F2).
// It reports false after answering the request itself with an error.
func (p *Pages) startSession(w http.ResponseWriter, r *http.Request, id auth.Identity, pending string) (*session.Session, bool) {
	c := proxy.CallerOf(r)
	s := &session.Session{Identity: id, ClientIP: c.IP.String(), Agent: truncate(r.UserAgent(), 256), Pending: pending}
	t, err := p.sessions.Create(r.Context(), s, p.gw.Limits(&c.Policy.Policy))
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return nil, false
	}
	if c.SignedIn() && c.Kind == auth.KindSession {
		p.sessions.Revoke(r.Context(), c.ID) // best effort: it may already be gone
		p.gw.Assertions().Forget(c.ID)
	}
	p.cookies.SetSession(w, t.Encode())
	return s, true
}

// loggedIn completes a login whose every factor is done and sends the
// browser on to rd.
func (p *Pages) loggedIn(w http.ResponseWriter, r *http.Request, id auth.Identity, rd string) {
	if p.completeLogin(w, r, id) {
		http.Redirect(w, r, rd, http.StatusSeeOther)
	}
}

// completeLogin creates the full session, counts and audits the login; it
// reports false after answering the request itself with an error. A login
// with an administrator-set password gets a session that owes a new one
// instead: the caller's redirect then lands on the change page.
func (p *Pages) completeLogin(w http.ResponseWriter, r *http.Request, id auth.Identity) bool {
	if id.MustChangePassword {
		s, ok := p.startSession(w, r, id, proxy.PendingPassword)
		if ok {
			p.audit.Record(r.Context(), audit.Event{Event: audit.PasswordChangeRequired, Actor: id.Username, UserID: id.UserID, ClientIP: s.ClientIP,
				Detail: map[string]string{"session": s.ID}})
		}
		return ok
	}
	s, ok := p.startSession(w, r, id, "")
	if !ok {
		return false
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.LoginSuccess, Actor: id.Username, UserID: id.UserID, ClientIP: s.ClientIP,
		Detail: map[string]string{"method": joinMethods(id.Methods), "session": s.ID, "provider": id.Provider}})
	return true
}

func (p *Pages) logoutPage(w http.ResponseWriter, r *http.Request) {
	p.render.Page(w, r, http.StatusOK, "logout.html", web.PageData{Title: "logout.title"})
}

// logout ends the session server-side, then clears the cookie. A store
// outage is reported rather than pretending the session ended (the
// pipeline answers 503 when it cannot check the cookie at all).
func (p *Pages) logout(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if c.SignedIn() && c.Kind == auth.KindSession {
		if err := p.sessions.Revoke(r.Context(), c.ID); err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		p.gw.Assertions().Forget(c.ID)
		p.audit.Record(r.Context(), audit.Event{Event: audit.Logout, Actor: c.Identity.Username, UserID: c.Identity.UserID,
			ClientIP: c.IP.String(), Detail: map[string]string{"session": c.ID}})
	}
	p.cookies.ClearSession(w)
	if web.WantsHTML(r) || r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		http.Redirect(w, r, "/.gatehouse/login?reason=logged_out", http.StatusSeeOther)
		return
	}
	web.JSON(w, http.StatusOK, map[string]string{"status": "logged_out"})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func joinMethods(m []string) string { return strings.Join(m, "+") }
