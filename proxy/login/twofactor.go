package login

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

const (
	msgBadCode    = "twofa.bad_code"
	msgCodeLocked = "twofa.locked"
)

// afterFirstFactor decides what a login still owes: nothing (a full
// session), the user's second factor, or enrolment in one. Until then the
// session is pending: it reaches nothing but the 2FA pages and expires in
// minutes.
func (p *Pages) afterFirstFactor(w http.ResponseWriter, r *http.Request, id auth.Identity, rd string) {
	if p.mfa == nil {
		p.loggedIn(w, r, id, rd)
		return
	}
	pol := &proxy.CallerOf(r).Policy.Policy
	st, err := p.mfa.Status(r.Context(), id.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	step := pol.DecideMFA(policy.MFAInput{Role: id.Role, UserRequires: st.Required, Enrolled: st.Enrolled,
		Federated: id.Provider != "", IdPAssertedMFA: id.IdPMFA})
	if step == policy.MFAPrompt && pol.MFA.RememberDevice > 0 {
		if v := p.cookies.Device(r); v != "" && p.mfa.CheckRemember(v, id.UserID, st.Stamp, pol.MFA.RememberDevice) {
			id.Methods = append(slices.Clone(id.Methods), auth.MethodRememberedDevice)
			step = policy.MFANone
		}
	}
	switch step {
	case policy.MFANone:
		p.loggedIn(w, r, id, rd)
	case policy.MFAPrompt:
		p.pendingLogin(w, r, id, proxy.Pending2FA, "/.gatehouse/2fa?"+url.Values{"rd": {rd}}.Encode())
	case policy.MFAEnroll:
		p.pendingLogin(w, r, id, proxy.PendingEnroll, "/.gatehouse/2fa/enroll?"+url.Values{"rd": {rd}}.Encode())
	}
}

func (p *Pages) pendingLogin(w http.ResponseWriter, r *http.Request, id auth.Identity, pending, next string) {
	s, ok := p.startSession(w, r, id, pending)
	if !ok {
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFARequired, Actor: id.Username, UserID: id.UserID, ClientIP: s.ClientIP,
		Detail: map[string]string{"step": pending, "session": s.ID}})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// nextFor sends a caller that is not where it should be to its place.
func nextFor(c *proxy.Caller, rd string) string {
	if c.Pending != "" {
		return proxy.PendingPath(c.Pending, rd)
	}
	return rd
}

func (p *Pages) twoFactorPage(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	rd := web.CleanRedirect(r.URL.Query().Get("rd"))
	if c.Pending != proxy.Pending2FA {
		http.Redirect(w, r, nextFor(c, rd), http.StatusSeeOther)
		return
	}
	d, err := p.twoFactorData(r, rd)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.render.Page(w, r, http.StatusOK, "twofa.html", d)
}

// twoFactorData is the code page for the caller: the remember-device
// offer, and "Email me a code" for a user with email codes.
func (p *Pages) twoFactorData(r *http.Request, rd string) (web.PageData, error) {
	c := proxy.CallerOf(r)
	d := web.PageData{Title: "twofa.title", Redirect: rd}
	if pp := c.Policy.Policy.MFA.RememberDevice; pp > 0 {
		d.Remember, d.RememberN = rememberPeriod(pp)
	}
	st, err := p.mfa.Status(r.Context(), c.Identity.UserID)
	if err != nil {
		return d, err
	}
	if slices.Contains(st.Methods, "email") && p.mfa.EmailAvailable() {
		d.EmailTo = st.EmailTo
	}
	if slices.Contains(st.Methods, "sms") && p.mfa.SMSAvailable() {
		d.PhoneTo = st.PhoneTo
	}
	switch {
	case slices.Equal(st.Methods, []string{auth.MethodWebAuthn}):
		d.Message = "twofa.help_passkey"
	case !slices.Contains(st.Methods, auth.MethodTOTP):
		d.Message = "twofa.help_email"
	}
	if slices.Contains(st.Methods, auth.MethodWebAuthn) && p.mfa.PasskeysAvailable() {
		// A passkey that cannot be asked for (an unreadable record, the
		// ceremony store down) takes only itself off the page: the
		// user's other factors and recovery codes stay usable.
		if opts, err := p.mfa.BeginPasskeyLogin(r.Context(), c.ID, c.Identity.UserID); err != nil {
			p.gw.Logger().WarnContext(r.Context(), "passkey not offered at the 2FA step", "user_id", c.Identity.UserID, "error", err)
			d.Notice = msgPasskeyUnavailable // rather than spend a recovery code
		} else {
			d.PasskeyOptions = string(opts)
		}
	}
	return d, nil
}

// stepForm is the start of every 2FA form post: the posted form and rd,
// when the caller is at a step allowed here; otherwise it answers
// (redirecting the caller to where it belongs) and reports false.
func (p *Pages) stepForm(w http.ResponseWriter, r *http.Request, allowed func(*proxy.Caller) bool) (*proxy.Caller, string, bool) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return nil, "", false
	}
	rd := web.CleanRedirect(r.PostForm.Get("rd"))
	if !allowed(c) {
		http.Redirect(w, r, nextFor(c, rd), http.StatusSeeOther)
		return nil, "", false
	}
	return c, rd, true
}

func (p *Pages) twoFactorSubmit(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.stepForm(w, r, func(c *proxy.Caller) bool { return c.Pending == proxy.Pending2FA })
	if !ok {
		return
	}
	method, err := p.mfa.Verify(r.Context(), c.Identity.UserID, r.PostForm.Get("code"))
	if err != nil {
		d, derr := p.twoFactorData(r, rd)
		if derr != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(derr))
			return
		}
		p.codeFailed(w, r, err, "twofa.html", d)
		return
	}
	p.secondFactorPassed(w, r, c, rd, method)
}

// secondFactorPassed completes a login whose second factor (method) was
// just checked: audited, the device remembered when asked, and a new
// session.
func (p *Pages) secondFactorPassed(w http.ResponseWriter, r *http.Request, c *proxy.Caller, rd, method string) {
	pol := &c.Policy.Policy
	id := c.Identity
	id.Methods = append(slices.Clone(id.Methods), method)
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFASuccess, Actor: id.Username, UserID: id.UserID, ClientIP: c.IP.String(),
		Detail: map[string]string{"method": method}})
	if r.PostForm.Get("remember") == "1" && pol.MFA.RememberDevice > 0 {
		if st, err := p.mfa.Status(r.Context(), id.UserID); err == nil {
			p.cookies.SetDevice(w, p.mfa.RememberToken(id.UserID, st.Stamp, time.Now().Add(pol.MFA.RememberDevice)), pol.MFA.RememberDevice)
		}
	}
	p.loggedIn(w, r, id, rd)
}

// CodeRefusal maps a refused second-factor code to what the user sees and
// the audit event: the same message for a wrong or replayed code, 429
// when the user's limit is reached. ok is false for an error that is not
// a refusal (a store outage).
func CodeRefusal(err error) (status int, msg, event string, ok bool) {
	switch {
	case errors.Is(err, auth.ErrLockedOut):
		return http.StatusTooManyRequests, msgCodeLocked, audit.MFALockout, true
	case errors.Is(err, auth.ErrInvalidCredentials):
		return http.StatusUnauthorized, msgBadCode, audit.MFAFailure, true
	}
	return 0, "", "", false
}

// codeFailed answers a refused second-factor code on page.
func (p *Pages) codeFailed(w http.ResponseWriter, r *http.Request, err error, page string, d web.PageData) {
	p.factorFailed(w, r, err, page, d, msgBadCode)
}

// factorFailed is codeFailed with the words for a refusal that is not a
// lockout (wrong).
func (p *Pages) factorFailed(w http.ResponseWriter, r *http.Request, err error, page string, d web.PageData, wrong string) {
	c := proxy.CallerOf(r)
	status, msg, event, ok := CodeRefusal(err)
	if !ok {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	if msg == msgBadCode {
		msg = wrong
	}
	detail := map[string]string{}
	var f *auth.Failure
	if errors.As(err, &f) {
		detail["reason"] = f.Reason
		if f.Method == auth.MethodWebAuthn {
			detail["method"] = f.Method
		}
	}
	p.audit.Record(r.Context(), audit.Event{Event: event, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(), Detail: detail})
	d.Error = msg
	p.render.Page(w, r, status, page, d)
}

// mayEnrol reports whether c may be at an enrolment step: a complete
// session, or one that owes enrolment. One that owes its second factor
// or a new password may not: a temporary password an admin set must not
// be enough to register a factor (a passkey) of its holder's own.
func mayEnrol(c *proxy.Caller) bool {
	return c.Pending != proxy.Pending2FA && c.Pending != proxy.PendingPassword
}

// enrollPage shows the QR code: to a session that must enrol, or to a
// fully logged-in user enrolling by choice.
func (p *Pages) enrollPage(w http.ResponseWriter, r *http.Request) {
	p.renderEnroll(w, r, web.CleanRedirect(r.URL.Query().Get("rd")), "", http.StatusOK)
}

func (p *Pages) renderEnroll(w http.ResponseWriter, r *http.Request, rd, errMsg string, status int) {
	c := proxy.CallerOf(r)
	if !mayEnrol(c) || (c.Pending == "" && c.Policy.Policy.MFA.Mode == "off") {
		http.Redirect(w, r, nextFor(c, rd), http.StatusSeeOther)
		return
	}
	st, err := p.mfa.Status(r.Context(), c.Identity.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	add := false
	if c.Pending == "" && st.Enrolled {
		// Enrolled: only the account page's "Add a factor", from a
		// fresh sign-in.
		if !wantsAdd(r) {
			http.Redirect(w, r, "/.gatehouse/account", http.StatusSeeOther)
			return
		}
		if !p.mayAdd(w, r, c) {
			return
		}
		add = true
	}
	pol := &c.Policy.Policy
	has := func(kind string) bool { return slices.Contains(st.Methods, kind) }
	d := web.PageData{Title: "enroll.title", Redirect: rd, Error: errMsg, AddFactor: add}
	if add {
		d.Title = "enroll.add_title"
	}
	if p.enrollable(pol, "email") && !has("email") {
		d.EmailTo = st.EmailTo
	}
	d.SMSEnroll = p.enrollable(pol, "sms") && !has("sms")
	if p.enrollable(pol, auth.MethodWebAuthn) {
		// As at the 2FA step, a passkey that cannot be offered leaves the
		// other ways the policy allows; when there are none it is a 503,
		// not the app the fallback below would offer against the policy.
		switch opts, err := p.mfa.BeginPasskeyRegistration(r.Context(), c.ID, c.Identity); {
		case err == nil:
			d.PasskeyOptions = string(opts)
		case errors.Is(err, auth.ErrTooManyPasskeys):
		case !pol.MFAMethodAllowed(auth.MethodTOTP) && d.EmailTo == "" && !d.SMSEnroll:
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		default:
			p.gw.Logger().WarnContext(r.Context(), "passkey not offered for enrolment", "user_id", c.Identity.UserID, "error", err)
		}
	}
	if !has(auth.MethodTOTP) && (pol.MFAMethodAllowed(auth.MethodTOTP) || !add && d.EmailTo == "" && !d.SMSEnroll && d.PasskeyOptions == "") {
		// An app it is when email codes cannot be had: a user the
		// policy makes enrol is never left without a way.
		e, err := p.mfa.StartEnrollment(r.Context(), c.ID, c.Identity)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		d.Secret, d.OTPAuth = e.Base32, template.URL(e.URI)
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.PNG))
	}
	if c.Pending == proxy.PendingEnroll {
		d.Notice = "enroll.required"
	}
	p.render.Page(w, r, status, "enroll.html", d)
}

func (p *Pages) enrollSubmit(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.stepForm(w, r, mayEnrol)
	if !ok {
		return
	}
	add := wantsAdd(r)
	if add && !p.mayAdd(w, r, c) {
		return
	}
	ip := c.IP.String()
	codes, err := p.mfa.ConfirmEnrollment(r.Context(), c.ID, c.Identity, r.PostForm.Get("code"), add)
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrLockedOut):
		msg := msgBadCode
		if errors.Is(err, auth.ErrLockedOut) {
			msg = msgCodeLocked
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFAFailure, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: ip,
			Detail: map[string]string{"step": "enrol"}})
		p.renderEnroll(w, r, rd, msg, http.StatusUnauthorized)
		return
	case errors.Is(err, auth.ErrAlreadyEnrolled):
		// Enrolled elsewhere since this page was opened: the factor the
		// user has stays, and this enrolment is dropped.
		http.Redirect(w, r, nextFor(c, "/.gatehouse/account"), http.StatusSeeOther)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.enrolled(w, r, c, rd, auth.MethodTOTP, codes)
}

// AddFactorWithin is how recently a user must have signed in (passing
// their second factor) to add another: a session left open is not
// enough to give an account a factor its owner does not hold.
const AddFactorWithin = 5 * time.Minute

// wantsAdd reports whether the request is the account page's "add a
// factor" (add=1 in the query or the form).
func wantsAdd(r *http.Request) bool {
	return r.FormValue("add") == "1"
}

// mayAdd reports whether c may add a factor now: a complete session of a
// user who has one, signed in within AddFactorWithin. It answers the
// request itself when not.
func (p *Pages) mayAdd(w http.ResponseWriter, r *http.Request, c *proxy.Caller) bool {
	if c.Pending != "" {
		p.render.Error(w, r, web.ErrForbidden)
		return false
	}
	if p.now().Sub(c.Created) > AddFactorWithin {
		p.render.Page(w, r, http.StatusForbidden, "message.html", web.PageData{Title: "enroll.add_title", Message: "enroll.add_fresh", LoginLink: true})
		return false
	}
	return true
}

// enrolled finishes an enrolment that stored a factor: audited, the login
// completed when it was owed, the new recovery codes shown (none for a
// factor added beside others: back to the account page).
func (p *Pages) enrolled(w http.ResponseWriter, r *http.Request, c *proxy.Caller, rd, method string, codes []string) {
	detail := map[string]string{"method": method}
	if codes == nil {
		detail["added"] = "true"
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFAEnrolled, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
		Detail: detail})
	if codes == nil {
		http.Redirect(w, r, "/.gatehouse/account", http.StatusSeeOther)
		return
	}
	next := "/.gatehouse/account"
	if c.Pending == proxy.PendingEnroll {
		// Enrolment proved the factor: this login is now complete.
		id := c.Identity
		id.Methods = append(slices.Clone(id.Methods), method)
		if !p.completeLogin(w, r, id) {
			return
		}
		next = rd
	}
	p.render.Page(w, r, http.StatusOK, "codes.html", web.PageData{Title: "codes.title", Codes: codes, Redirect: next})
}

// rememberPeriod is the remember-device period as a counted message id
// ("twofa.days" with n) the page words in its language; a period that is
// not whole hours is shown as Go writes it.
func rememberPeriod(d time.Duration) (string, int) {
	switch {
	case d%(24*time.Hour) == 0:
		return "twofa.days", int(d / (24 * time.Hour))
	case d%time.Hour == 0:
		return "twofa.hours", int(d / time.Hour)
	}
	return d.String(), 0
}
