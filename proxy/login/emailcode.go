package login

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// The product's "OTP by email": a user enrols by entering a code sent to
// their account's address, and at each login asks for a code, which goes
// to that address (never to one typed on the page).

const (
	msgEmailSent = "twofa.email_sent"
	msgEmailWait = "twofa.email_wait"
)

// emailEnrollable reports whether email codes may be set up now: the
// policy allows them and a relay can send them.
func (p *Pages) emailEnrollable(pol *policy.Policy) bool {
	return pol.MFAMethodAllowed("email") && p.mfa.EmailAvailable()
}

// sendLoginCode emails a code to a login at its 2FA step.
func (p *Pages) sendLoginCode(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.stepForm(w, r, func(c *proxy.Caller) bool { return c.Pending == proxy.Pending2FA })
	if !ok {
		return
	}
	d, err := p.twoFactorData(r, rd)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	to, err := p.mfa.SendLoginCode(r.Context(), c.Identity.UserID)
	switch {
	case errors.Is(err, auth.ErrCodeSentRecently):
		d.Error = msgEmailWait
		p.render.Page(w, r, http.StatusTooManyRequests, "twofa.html", d)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFACodeSent, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
		Detail: map[string]string{"method": auth.MethodEmailOTP}})
	d.Notice, d.NoticeArg = msgEmailSent, to
	p.render.Page(w, r, http.StatusOK, "twofa.html", d)
}

// emailEnrollStep is the start of both email enrolment posts: the caller
// may enrol (as on the enrolment page) and email codes are allowed.
func (p *Pages) emailEnrollStep(w http.ResponseWriter, r *http.Request) (*proxy.Caller, string, bool) {
	c, rd, ok := p.stepForm(w, r, func(c *proxy.Caller) bool { return c.Pending != proxy.Pending2FA })
	if !ok {
		return nil, "", false
	}
	if !p.emailEnrollable(&c.Policy.Policy) || c.Pending == "" && c.Policy.Policy.MFA.Mode == "off" {
		p.render.Error(w, r, web.ErrNotFound)
		return nil, "", false
	}
	return c, rd, true
}

// startEmailEnrollment sends the confirmation code to the account's
// address and asks for it.
func (p *Pages) startEmailEnrollment(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.emailEnrollStep(w, r)
	if !ok {
		return
	}
	d := web.PageData{Title: "enroll.email_title", Redirect: rd}
	to, err := p.mfa.StartEmailEnrollment(r.Context(), c.ID, c.Identity)
	switch {
	case errors.Is(err, auth.ErrCodeSentRecently):
		d.Error = msgEmailWait
		p.render.Page(w, r, http.StatusTooManyRequests, "enroll_email.html", d)
		return
	case errors.Is(err, auth.ErrNoEmail):
		p.renderEnroll(w, r, rd, "enroll.no_email", http.StatusBadRequest)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	d.Notice, d.NoticeArg = "enroll.email_sent", to
	p.render.Page(w, r, http.StatusOK, "enroll_email.html", d)
}

// confirmEmailEnrollment stores the email factor once the code matches.
func (p *Pages) confirmEmailEnrollment(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.emailEnrollStep(w, r)
	if !ok {
		return
	}
	codes, err := p.mfa.ConfirmEmailEnrollment(r.Context(), c.ID, c.Identity, r.PostForm.Get("code"))
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrLockedOut):
		msg := msgBadCode
		if errors.Is(err, auth.ErrLockedOut) {
			msg = msgCodeLocked
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFAFailure, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
			Detail: map[string]string{"step": "enrol", "method": auth.MethodEmailOTP}})
		p.render.Page(w, r, http.StatusUnauthorized, "enroll_email.html", web.PageData{Title: "enroll.email_title", Redirect: rd, Error: msg})
		return
	case errors.Is(err, auth.ErrAlreadyEnrolled):
		http.Redirect(w, r, nextFor(c, "/.gatehouse/account"), http.StatusSeeOther)
		return
	case errors.Is(err, auth.ErrNoEnrollment):
		p.renderEnroll(w, r, rd, "enroll.email_expired", http.StatusBadRequest)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.enrolled(w, r, c, rd, auth.MethodEmailOTP, codes)
}
