package login

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// Passkeys on the login pages. Each ceremony is two page loads with no
// API of its own: the page carries the options, passkey.js asks the
// browser and posts the answer in a form, and the handler here checks it
// as any other form post (the pipeline's origin checks included) and
// answers with a page or a redirect.

const (
	msgPasskeyFailed  = "passkey.failed"
	msgPasskeyExpired = "passkey.expired"
	// msgPasskeyUnavailable: the 2FA step could not ask for a passkey.
	msgPasskeyUnavailable = "passkey.unavailable"
)

// passkeySubmit is the 2FA step answered with a passkey.
func (p *Pages) passkeySubmit(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.stepForm(w, r, func(c *proxy.Caller) bool { return c.Pending == proxy.Pending2FA })
	if !ok {
		return
	}
	method, err := p.mfa.FinishPasskeyLogin(r.Context(), c.ID, c.Identity.UserID, []byte(r.PostForm.Get("credential")))
	if err != nil {
		d, derr := p.twoFactorData(r, rd)
		if derr != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(derr))
			return
		}
		p.factorFailed(w, r, err, "twofa.html", d, msgPasskeyFailed)
		return
	}
	p.secondFactorPassed(w, r, c, rd, method)
}

// passkeyEnrollSubmit stores the passkey the enrolment page registered.
func (p *Pages) passkeyEnrollSubmit(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.otpEnrollStep(w, r, auth.MethodWebAuthn)
	if !ok {
		return
	}
	codes, err := p.mfa.FinishPasskeyRegistration(r.Context(), c.ID, c.Identity, []byte(r.PostForm.Get("credential")), r.PostForm.Get("name"), wantsAdd(r))
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrLockedOut):
		msg := msgPasskeyFailed
		if errors.Is(err, auth.ErrLockedOut) {
			msg = msgCodeLocked
		}
		detail := map[string]string{"step": "enrol", "method": auth.MethodWebAuthn}
		var f *auth.Failure
		if errors.As(err, &f) {
			detail["reason"] = f.Reason
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFAFailure, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
			Detail: detail})
		p.renderEnroll(w, r, rd, msg, http.StatusUnauthorized)
		return
	case errors.Is(err, auth.ErrAlreadyEnrolled):
		http.Redirect(w, r, nextFor(c, "/.gatehouse/account"), http.StatusSeeOther)
		return
	case errors.Is(err, auth.ErrNoEnrollment):
		p.renderEnroll(w, r, rd, msgPasskeyExpired, http.StatusBadRequest)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.enrolled(w, r, c, rd, auth.MethodWebAuthn, codes)
}

// passwordlessForm parses the form of a passwordless step, when the
// policy offers it; it answers 404 otherwise.
func (p *Pages) passwordlessForm(w http.ResponseWriter, r *http.Request) (*proxy.Caller, string, bool) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return nil, "", false
	}
	if !c.Policy.Policy.PasswordlessPasskeys() {
		p.render.Error(w, r, web.ErrNotFound)
		return nil, "", false
	}
	// As the password form: the organisation's network rules before
	// anything is checked, the user's own once the user is known.
	if c.SignedIn() && !p.gw.CheckNetwork(w, r, true, nil) {
		return nil, "", false
	}
	return c, web.CleanRedirect(r.PostForm.Get("rd")), true
}

// passwordlessStart shows the page that asks the browser for any passkey
// of this site. The challenge waits in the shared store, so starts count
// against the client network's bound as federated logins do, and the
// browser gets a binding cookie the answer must come back with.
func (p *Pages) passwordlessStart(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.passwordlessForm(w, r)
	if !ok || !p.allowStart(w, r, c.IP) {
		return
	}
	binding := rand.Text()
	opts, err := p.mfa.BeginPasswordless(r.Context(), binding)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.cookies.SetBinding(w, binding, loginBindingTTL)
	p.render.Page(w, r, http.StatusOK, "passkey.html", web.PageData{Title: "passkey.title", Redirect: rd, PasskeyOptions: string(opts)})
}

// passwordlessFinish logs the passkey's owner in: the passkey with user
// verification is both factors, so the login is complete (the user's
// network rules still apply).
func (p *Pages) passwordlessFinish(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.passwordlessForm(w, r)
	if !ok {
		return
	}
	id, err := p.mfa.FinishPasswordless(r.Context(), []byte(r.PostForm.Get("credential")), p.cookies.Binding(r))
	if err != nil {
		data := web.PageData{Title: "login.title", Redirect: rd, PasswordEnabled: p.formEnabled(&c.Policy.Policy), PasskeyLogin: true,
			Providers: p.buttons(c.Policy.Policy.MethodEnabled, rd)}
		if p.withChallenge(w, r, &c.Policy.Policy, &data) {
			p.loginFailed(w, r, err, c.IP.String(), data)
		}
		return
	}
	p.cookies.SetBinding(w, "", 0)
	if !p.gw.CheckNetwork(w, r, true, &id) {
		return
	}
	p.loggedIn(w, r, id, rd)
}
