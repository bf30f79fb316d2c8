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

// The product's "OTP by email / by SMS": a user enrols by entering a code
// sent to their account's address, or to a phone number they type, and
// at each login asks for a code, which goes where the factor was set up
// (never to an address or number typed at login).

const (
	msgCodeSent = "twofa.code_sent"
	msgCodeWait = "twofa.email_wait"
)

// otpMethod is the login method name of a code sent by kind.
var otpMethod = map[string]string{"email": auth.MethodEmailOTP, "sms": auth.MethodSMSOTP}

// enrollable reports whether factors of kind ("email", "sms",
// "webauthn") may be set up now: the policy allows them and a sender can
// send the codes (passkeys: public_url names a host).
func (p *Pages) enrollable(pol *policy.Policy, kind string) bool {
	if !pol.MFAMethodAllowed(kind) {
		return false
	}
	switch kind {
	case "sms":
		return p.mfa.SMSAvailable()
	case auth.MethodWebAuthn:
		return p.mfa.PasskeysAvailable()
	}
	return p.mfa.EmailAvailable()
}

// sendLoginCode sends a code by kind to a login at its 2FA step.
func (p *Pages) sendLoginCode(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, rd, ok := p.stepForm(w, r, func(c *proxy.Caller) bool { return c.Pending == proxy.Pending2FA })
		if !ok {
			return
		}
		d, err := p.twoFactorData(r, rd)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		to, err := p.mfa.SendLoginCode(r.Context(), c.Identity.UserID, kind)
		switch {
		case errors.Is(err, auth.ErrCodeSentRecently):
			d.Error = msgCodeWait
			p.render.Page(w, r, http.StatusTooManyRequests, "twofa.html", d)
			return
		case err != nil:
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFACodeSent, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
			Detail: map[string]string{"method": otpMethod[kind]}})
		d.Notice, d.NoticeArg = msgCodeSent, to
		p.render.Page(w, r, http.StatusOK, "twofa.html", d)
	}
}

// otpEnrollStep is the start of the code enrolment posts: the caller may
// enrol (as on the enrolment page) and codes by kind are allowed ("" for
// the confirmation, which works for either).
func (p *Pages) otpEnrollStep(w http.ResponseWriter, r *http.Request, kind string) (*proxy.Caller, string, bool) {
	c, rd, ok := p.stepForm(w, r, mayEnrol)
	if !ok {
		return nil, "", false
	}
	pol := &c.Policy.Policy
	allowed := p.enrollable(pol, kind)
	if kind == "" {
		allowed = p.enrollable(pol, "email") || p.enrollable(pol, "sms")
	}
	if !allowed || c.Pending == "" && pol.MFA.Mode == "off" {
		p.render.Error(w, r, web.ErrNotFound)
		return nil, "", false
	}
	if wantsAdd(r) {
		return c, rd, p.mayAdd(w, r, c)
	}
	if c.Pending == "" {
		// As on the enrolment page: a user with a factor adds another
		// from the account page, and is sent no code here.
		if st, err := p.mfa.Status(r.Context(), c.Identity.UserID); err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return nil, "", false
		} else if st.Enrolled {
			http.Redirect(w, r, "/.gatehouse/account", http.StatusSeeOther)
			return nil, "", false
		}
	}
	return c, rd, true
}

// startOTPEnrollment sends the confirmation code by kind (to the
// account's address, or to the number posted) and asks for it.
func (p *Pages) startOTPEnrollment(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, rd, ok := p.otpEnrollStep(w, r, kind)
		if !ok {
			return
		}
		d := web.PageData{Title: "enroll.code_title", Redirect: rd, AddFactor: wantsAdd(r)}
		var to string
		var err error
		if kind == "sms" {
			to, err = p.mfa.StartSMSEnrollment(r.Context(), c.ID, c.Identity, r.PostForm.Get("phone"))
		} else {
			d.EmailTo = "resend" // the page offers to send again
			to, err = p.mfa.StartEmailEnrollment(r.Context(), c.ID, c.Identity)
		}
		switch {
		case errors.Is(err, auth.ErrCodeSentRecently):
			d.Error = msgCodeWait
			p.render.Page(w, r, http.StatusTooManyRequests, "enroll_code.html", d)
			return
		case errors.Is(err, auth.ErrNoEmail):
			p.renderEnroll(w, r, rd, "enroll.no_email", http.StatusBadRequest)
			return
		case errors.Is(err, auth.ErrBadPhone):
			p.renderEnroll(w, r, rd, "enroll.bad_phone", http.StatusBadRequest)
			return
		case err != nil:
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		d.Notice, d.NoticeArg = "enroll.code_sent", to
		p.render.Page(w, r, http.StatusOK, "enroll_code.html", d)
	}
}

// confirmOTPEnrollment stores the factor once the code matches.
func (p *Pages) confirmOTPEnrollment(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.otpEnrollStep(w, r, "")
	if !ok {
		return
	}
	pol := &c.Policy.Policy
	codes, method, err := p.mfa.ConfirmOTPEnrollment(r.Context(), c.ID, c.Identity, r.PostForm.Get("code"), wantsAdd(r),
		func(kind string) bool { return p.enrollable(pol, kind) })
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrLockedOut):
		msg := msgBadCode
		if errors.Is(err, auth.ErrLockedOut) {
			msg = msgCodeLocked
		}
		detail := map[string]string{"step": "enrol"}
		var f *auth.Failure
		if errors.As(err, &f) {
			detail["method"] = f.Method
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFAFailure, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
			Detail: detail})
		p.render.Page(w, r, http.StatusUnauthorized, "enroll_code.html", web.PageData{Title: "enroll.code_title", Redirect: rd, Error: msg, AddFactor: wantsAdd(r)})
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
	p.enrolled(w, r, c, rd, method, codes)
}
