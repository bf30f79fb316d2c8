// Package account is the self-service page of a logged-in user: their
// second-factor status, enrolment, new recovery codes, and turning 2FA
// off when the policy allows (each asks for a current code); their
// password, changed after the current one; their browser sessions, any
// of which (or all but this one) they can end; their API keys; their
// mobile devices, which they can sign out; and their recent sign-ins.
package account

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/login"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// SecondFactor is what the account page needs of the second factor
// (auth/mfa).
type SecondFactor interface {
	Status(ctx context.Context, userID string) (auth.MFAStatus, error)
	Verify(ctx context.Context, userID, code string) (method string, err error)
	// Remove and RegenerateRecoveryCodes end the user's other sessions,
	// keeping keepSessionID (the one that made the change).
	Remove(ctx context.Context, userID, keepSessionID string) error
	// RemoveFactor removes one factor (totp, email, sms), the recovery
	// codes with the last, ending the user's other sessions; with keepOne
	// the last is refused (an error) in the same transaction.
	RemoveFactor(ctx context.Context, userID, kind, keepSessionID string, keepOne bool) error
	// SendLoginCode sends a code by kind (email, sms) to where that
	// factor sends, returning the masked destination; a user whose
	// factors are all sent codes needs one for the forms here.
	SendLoginCode(ctx context.Context, userID, kind string) (string, error)
	RegenerateRecoveryCodes(ctx context.Context, userID, keepSessionID string) ([]string, error)
	// PasskeysAvailable, PasskeyList and RemovePasskey are the user's
	// passkeys; RemovePasskey follows RemoveFactor's rules.
	PasskeysAvailable() bool
	PasskeyList(ctx context.Context, userID string) ([]auth.PasskeyInfo, error)
	RemovePasskey(ctx context.Context, userID, id, keepSessionID string, keepOne bool) error
}

// Keys is what the account page needs to manage the user's own API keys
// (auth/admin, with the secrets key ring).
type Keys interface {
	List(ctx context.Context, userID string) ([]directory.APIKey, error)
	Create(ctx context.Context, actor, username, name string, expires time.Duration, scopes []string) (string, error)
	// Revoke ends the key only if it is the user's.
	Revoke(ctx context.Context, actor, userID, id string) error
}

// Pages is the account route set.
type Pages struct {
	render  *web.Renderer
	audit   proxy.Auditor
	mfa     SecondFactor
	keys    Keys
	devices DeviceService
	data    PersonalData
	signIns SignIns
	reauth  auth.PasswordLogin
	// sessions and passwords turn on their sections.
	sessions  OwnSessions
	passwords OwnPasswords
	now       func() time.Time
}

// Options are the account pages' optional parts.
type Options struct {
	// Keys, with Reauth, turns on API-key self-service.
	Keys Keys
	// Reauth checks the password a user re-enters before changing keys
	// on a session older than FreshFor (failures count like logins).
	Reauth auth.PasswordLogin
	// Devices turns on listing and signing out the user's mobile
	// devices.
	Devices DeviceService
	// Data turns on the personal-data download.
	Data PersonalData
	// SignIns turns on the list of the user's recent sign-ins.
	SignIns SignIns
	// Sessions turns on the list of the user's browser sessions and
	// ending them.
	Sessions OwnSessions
	// Passwords, with Reauth, turns on changing the password.
	Passwords OwnPasswords
	Now       func() time.Time
}

// PersonalData exports what the gateway holds about a user, ready to be
// written as JSON and holding no secret (auth/admin.PersonalData).
type PersonalData interface {
	Export(ctx context.Context, userID string) (any, error)
}

// FreshFor is how long after signing in a user may change credentials
// without entering the password or a code again.
const FreshFor = 5 * time.Minute

// New returns the account pages of gw; mfa nil means no second factor.
func New(gw *proxy.Gateway, mfa SecondFactor, o ...Options) *Pages {
	p := &Pages{render: gw.Render(), audit: gw.Audit(), mfa: mfa, now: time.Now}
	if len(o) > 0 {
		p.keys, p.reauth, p.devices, p.data = o[0].Keys, o[0].Reauth, o[0].Devices, o[0].Data
		p.signIns, p.sessions, p.passwords = o[0].SignIns, o[0].Sessions, o[0].Passwords
		if o[0].Now != nil {
			p.now = o[0].Now
		}
	}
	return p
}

// Mount implements proxy.Routes.
func (p *Pages) Mount(m *proxy.Mux) {
	m.Handle("GET /.gatehouse/account", proxy.FullSession, p.page)
	if p.mfa != nil {
		m.Handle("POST /.gatehouse/account/2fa/recovery", proxy.FullSession, p.recovery)
		m.Handle("POST /.gatehouse/account/2fa/remove", proxy.FullSession, p.remove)
		m.Handle("POST /.gatehouse/account/2fa/factors/{kind}/remove", proxy.FullSession, p.removeFactor)
		m.Handle("POST /.gatehouse/account/2fa/factors/{kind}/send", proxy.FullSession, p.sendCode)
		m.Handle("POST /.gatehouse/account/2fa/passkeys/{id}/remove", proxy.FullSession, p.removePasskey)
	}
	if p.keys != nil && p.reauth != nil {
		m.Handle("POST /.gatehouse/account/apikeys", proxy.FullSession, p.createKey)
		m.Handle("POST /.gatehouse/account/apikeys/{id}/revoke", proxy.FullSession, p.revokeKey)
	}
	if p.devices != nil {
		m.Handle("POST /.gatehouse/account/devices/{id}/revoke", proxy.FullSession, p.signOutDevice)
	}
	if p.data != nil {
		m.Handle("GET /.gatehouse/account/data", proxy.FullSession, p.exportData)
	}
	if p.sessions != nil {
		m.Handle("POST /.gatehouse/account/sessions/{id}/end", proxy.FullSession, p.endSession)
		m.Handle("POST /.gatehouse/account/sessions/end-others", proxy.FullSession, p.endOtherSessions)
	}
	if p.passwords != nil && p.reauth != nil {
		m.Handle("POST /.gatehouse/account/password", proxy.FullSession, p.changePassword)
	}
}

// exportData answers the user's own data as a JSON download, audited.
func (p *Pages) exportData(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	d, err := p.data.Export(r.Context(), c.Identity.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.PersonalDataExported, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String()})
	w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-my-data.json"`)
	web.JSON(w, http.StatusOK, d)
}

func (p *Pages) page(w http.ResponseWriter, r *http.Request) {
	p.renderAccount(w, r, "", "", http.StatusOK)
}

// renderAccount shows the account page with a notice or an error, each a
// message id (proxy/i18n) or "".
func (p *Pages) renderAccount(w http.ResponseWriter, r *http.Request, notice, errMsg string, status int) {
	p.renderAccountWith(w, r, web.PageData{Notice: notice, Error: errMsg}, status)
}

// renderAccountWith is renderAccount for a notice with an argument
// (d.NoticeArg: the key or device it is about).
func (p *Pages) renderAccountWith(w http.ResponseWriter, r *http.Request, d web.PageData, status int) {
	c := proxy.CallerOf(r)
	d.Title, d.Username = "account.title", c.Identity.Username
	if p.mfa != nil {
		st, err := p.mfa.Status(r.Context(), c.Identity.UserID)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		pol := &c.Policy.Policy
		d.Enrolled, d.CodesLeft = st.Enrolled, st.RecoveryCodes
		for _, m := range st.Methods {
			if id, ok := factorNames[m]; ok {
				d.Factors = append(d.Factors, web.FactorRow{Kind: m, Name: id})
			}
		}
		for _, k := range policy.MFAMethods {
			// Passkeys: one more may always be added, up to the most.
			if pol.MFAMethodAllowed(k) && (!slices.Contains(st.Methods, k) || k == auth.MethodWebAuthn && p.mfa.PasskeysAvailable()) {
				d.CanAddFactor = st.Enrolled && pol.MFA.Mode != "off"
			}
		}
		if slices.Contains(st.Methods, auth.MethodWebAuthn) {
			ps, err := p.mfa.PasskeyList(r.Context(), c.Identity.UserID)
			if err != nil {
				p.render.Error(w, r, web.ErrUnavailable.With(err))
				return
			}
			for _, k := range ps {
				row := web.PasskeyRow{ID: k.ID, Name: k.Name, Created: k.CreatedAt.UTC().Format(time.DateOnly), Synced: k.Synced}
				if !k.LastUsed.IsZero() {
					row.LastUsed = k.LastUsed.UTC().Format(time.DateTime)
				}
				d.Passkeys = append(d.Passkeys, row)
			}
		}
		if slices.Contains(st.Methods, "email") {
			d.EmailTo = st.EmailTo
		}
		d.PhoneTo = st.PhoneTo
		d.CanEnroll = pol.MFA.Mode != "off"
		d.Removable = pol.MFARemovable(policy.MFAInput{Role: c.Identity.Role, UserRequires: st.Required})
	}
	if p.keys != nil && p.reauth != nil {
		kp := c.Policy.Policy.APIKeys
		d.KeysEnabled = kp.KeysEnabled() && kp.RoleAllowed(c.Identity.Role)
		d.ReauthNeeded = p.now().Sub(c.Created) > FreshFor
		keys, err := p.keys.List(r.Context(), c.Identity.UserID)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		for _, k := range keys {
			d.Keys = append(d.Keys, keyRow(k, p.now()))
		}
	}
	d.DataExport = p.data != nil
	if p.passwords != nil && p.reauth != nil {
		has, err := p.passwords.HasPassword(r.Context(), c.Identity.UserID)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		d.PasswordChange = has
	}
	if p.sessions != nil {
		recs, err := p.sessions.List(r.Context(), c.Identity.UserID)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		d.SessionsEnabled, d.Sessions = true, sessionRows(browserSessions(recs), c.ID)
	}
	if p.devices != nil {
		devs, err := p.devices.UserDevices(r.Context(), c.Identity.UserID)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		d.Devices, d.DevicesHidden = deviceRows(devs)
	}
	if p.signIns != nil {
		evs, err := p.signIns.RecentSignIns(r.Context(), c.Identity.UserID, signInsShown)
		if err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		d.SignInsEnabled, d.SignIns = true, signInRows(evs)
	}
	p.render.Page(w, r, status, "account.html", d)
}

// removeFactor takes one factor off after a current code. The last one
// is turning 2FA off, under the policy's say, as remove is.
func (p *Pages) removeFactor(w http.ResponseWriter, r *http.Request) {
	c, st, ok := p.codeAndStatus(w, r)
	if !ok {
		return
	}
	kind := r.PathValue("kind")
	if !slices.Contains(st.Methods, kind) {
		p.renderAccount(w, r, "", "account.no_factor", http.StatusNotFound)
		return
	}
	last := len(st.Methods) == 1
	removable := c.Policy.Policy.MFARemovable(policy.MFAInput{Role: c.Identity.Role, UserRequires: st.Required})
	if last && !removable {
		p.renderAccount(w, r, "", "account.mfa_required", http.StatusForbidden)
		return
	}
	// Where 2FA is required the store refuses the last one too, so two
	// removals racing cannot both see another left.
	switch err := p.mfa.RemoveFactor(r.Context(), c.Identity.UserID, kind, c.ID, !removable); {
	case errors.Is(err, auth.ErrLastFactor):
		p.renderAccount(w, r, "", "account.mfa_required", http.StatusForbidden)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFARemoved, Actor: c.Identity.Username, UserID: c.Identity.UserID,
		ClientIP: c.IP.String(), Detail: map[string]string{"method": kind}})
	notice := "account.factor_removed"
	if last {
		notice = "account.mfa_turned_off"
	}
	p.renderAccount(w, r, notice, "", http.StatusOK)
}

// sendCode sends the user a code by one of their factors, for the forms
// here that ask for a current code.
func (p *Pages) sendCode(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	kind := r.PathValue("kind")
	st, err := p.mfa.Status(r.Context(), c.Identity.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	if kind == "totp" || !slices.Contains(st.Methods, kind) {
		p.renderAccount(w, r, "", "account.no_factor", http.StatusNotFound)
		return
	}
	to, err := p.mfa.SendLoginCode(r.Context(), c.Identity.UserID, kind)
	switch {
	case errors.Is(err, auth.ErrCodeSentRecently):
		p.renderAccount(w, r, "", "twofa.email_wait", http.StatusTooManyRequests)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFACodeSent, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
		Detail: map[string]string{"method": kind, "step": "account"}})
	p.renderAccountWith(w, r, web.PageData{Notice: "twofa.code_sent", NoticeArg: to}, http.StatusOK)
}

// factorNames word the user's second factors (auth.MFAStatus.Methods).
var factorNames = map[string]string{"totp": "account.factor_totp", "email": "account.factor_email", "sms": "account.factor_sms",
	auth.MethodWebAuthn: "account.factor_webauthn"}

// removePasskey takes one passkey off. It asks no code (a user with
// passkeys alone has none but recovery codes) but a fresh sign-in, as
// adding a factor does; the last factor only where the policy lets the
// user turn 2FA off.
func (p *Pages) removePasskey(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	if p.now().Sub(c.Created) > login.AddFactorWithin {
		p.renderAccount(w, r, "", "account.passkey_fresh", http.StatusForbidden)
		return
	}
	st, err := p.mfa.Status(r.Context(), c.Identity.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	removable := c.Policy.Policy.MFARemovable(policy.MFAInput{Role: c.Identity.Role, UserRequires: st.Required})
	id := r.PathValue("id")
	switch err := p.mfa.RemovePasskey(r.Context(), c.Identity.UserID, id, c.ID, !removable); {
	case errors.Is(err, auth.ErrLastFactor):
		p.renderAccount(w, r, "", "account.mfa_required", http.StatusForbidden)
		return
	case errors.Is(err, auth.ErrNotEnrolled):
		p.renderAccount(w, r, "", "account.no_factor", http.StatusNotFound)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFARemoved, Actor: c.Identity.Username, UserID: c.Identity.UserID,
		ClientIP: c.IP.String(), Detail: map[string]string{"method": auth.MethodWebAuthn, "passkey": id}})
	p.renderAccount(w, r, "account.passkey_removed", "", http.StatusOK)
}

// recovery replaces the recovery codes after a current code.
func (p *Pages) recovery(w http.ResponseWriter, r *http.Request) {
	c, ok := p.codeCheck(w, r)
	if !ok {
		return
	}
	codes, err := p.mfa.RegenerateRecoveryCodes(r.Context(), c.Identity.UserID, c.ID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFARecoveryReset, Actor: c.Identity.Username, UserID: c.Identity.UserID,
		ClientIP: c.IP.String()})
	p.render.Page(w, r, http.StatusOK, "codes.html", web.PageData{Title: "codes.title_new", Codes: codes, Redirect: "/.gatehouse/account"})
}

// remove turns 2FA off after a current code, when policy allows.
func (p *Pages) remove(w http.ResponseWriter, r *http.Request) {
	c, st, ok := p.codeAndStatus(w, r)
	if !ok {
		return
	}
	if !c.Policy.Policy.MFARemovable(policy.MFAInput{Role: c.Identity.Role, UserRequires: st.Required}) {
		p.renderAccount(w, r, "", "account.mfa_required", http.StatusForbidden)
		return
	}
	if err := p.mfa.Remove(r.Context(), c.Identity.UserID, c.ID); err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFARemoved, Actor: c.Identity.Username, UserID: c.Identity.UserID,
		ClientIP: c.IP.String()})
	p.renderAccount(w, r, "account.mfa_turned_off", "", http.StatusOK)
}

// codeAndStatus is codeCheck followed by the user's second-factor state.
func (p *Pages) codeAndStatus(w http.ResponseWriter, r *http.Request) (*proxy.Caller, auth.MFAStatus, bool) {
	c, ok := p.codeCheck(w, r)
	if !ok {
		return nil, auth.MFAStatus{}, false
	}
	st, err := p.mfa.Status(r.Context(), c.Identity.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return nil, auth.MFAStatus{}, false
	}
	return c, st, true
}

// codeCheck checks the posted current code, answering the request itself
// when it fails.
func (p *Pages) codeCheck(w http.ResponseWriter, r *http.Request) (*proxy.Caller, bool) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return nil, false
	}
	_, err := p.mfa.Verify(r.Context(), c.Identity.UserID, r.PostForm.Get("code"))
	if err == nil {
		return c, true
	}
	status, msg, event, ok := login.CodeRefusal(err)
	if !ok {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return nil, false
	}
	detail := map[string]string{}
	var f *auth.Failure
	if errors.As(err, &f) {
		detail["reason"] = f.Reason
	}
	p.audit.Record(r.Context(), audit.Event{Event: event, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(), Detail: detail})
	p.render.Page(w, r, status, "account.html", web.PageData{Title: "account.title", Username: c.Identity.Username, Enrolled: true, Error: msg})
	return nil, false
}
