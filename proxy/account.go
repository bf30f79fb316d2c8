package proxy

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session"
)

// fullSession is currentSession for pages only a fully authenticated
// session may see; a half-authenticated one is sent to its 2FA step.
func (g *Gateway) fullSession(w http.ResponseWriter, r *http.Request) (*session.Session, *policy.Versioned) {
	s, cur := g.currentSession(w, r)
	if s != nil && !s.Authenticated() {
		http.Redirect(w, r, pendingPath(s, "/"), http.StatusSeeOther)
		return nil, nil
	}
	return s, cur
}

// accountPage is the self-service page: 2FA status, enrolment, recovery
// codes, removal when policy allows.
func (g *Gateway) accountPage(w http.ResponseWriter, r *http.Request) {
	s, cur := g.fullSession(w, r)
	if s == nil {
		return
	}
	g.renderAccount(w, r, s, cur, "", "", http.StatusOK)
}

func (g *Gateway) renderAccount(w http.ResponseWriter, r *http.Request, s *session.Session, cur *policy.Versioned, notice, errMsg string, status int) {
	d := pageData{Title: "Your account", Username: s.Identity.Username, Notice: notice, Error: errMsg}
	if g.MFA != nil {
		st, err := g.MFA.Status(r.Context(), s.Identity.UserID)
		if err != nil {
			g.renderError(w, r, errUnavailable.with(err))
			return
		}
		d.Enrolled, d.CodesLeft = st.Enrolled, st.RecoveryCodes
		d.CanEnroll = cur.Policy.MFA.Mode != "off"
		d.Removable = cur.Policy.MFARemovable(policy.MFAInput{Role: s.Identity.Role, UserRequires: st.Required})
	}
	g.page(w, status, "account.html", d)
}

// accountRecovery replaces the recovery codes after a current code.
func (g *Gateway) accountRecovery(w http.ResponseWriter, r *http.Request) {
	s, _, ok := g.accountCodeCheck(w, r)
	if !ok {
		return
	}
	codes, err := g.MFA.RegenerateRecoveryCodes(r.Context(), s.Identity.UserID)
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFARecoveryReset, Actor: s.Identity.Username, UserID: s.Identity.UserID,
		ClientIP: g.clientIP.Resolve(r).String()})
	g.page(w, http.StatusOK, "codes.html", pageData{Title: "New recovery codes", Codes: codes, Redirect: "/.gatehouse/account"})
}

// accountRemove turns 2FA off after a current code, when policy allows.
func (g *Gateway) accountRemove(w http.ResponseWriter, r *http.Request) {
	s, cur, ok := g.accountCodeCheck(w, r)
	if !ok {
		return
	}
	st, err := g.MFA.Status(r.Context(), s.Identity.UserID)
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	if !cur.Policy.MFARemovable(policy.MFAInput{Role: s.Identity.Role, UserRequires: st.Required}) {
		g.renderAccount(w, r, s, cur, "", "Your organisation requires two-factor authentication for your account.", http.StatusForbidden)
		return
	}
	if err := g.MFA.Remove(r.Context(), s.Identity.UserID); err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.MFARemoved, Actor: s.Identity.Username, UserID: s.Identity.UserID,
		ClientIP: g.clientIP.Resolve(r).String()})
	g.renderAccount(w, r, s, cur, "Two-factor authentication is off.", "", http.StatusOK)
}

// accountCodeCheck loads a full session and checks the posted current
// code, answering the request itself when either fails.
func (g *Gateway) accountCodeCheck(w http.ResponseWriter, r *http.Request) (*session.Session, *policy.Versioned, bool) {
	s, cur := g.fullSession(w, r)
	if s == nil {
		return nil, nil, false
	}
	if g.MFA == nil {
		g.renderError(w, r, errNotFound)
		return nil, nil, false
	}
	if err := parseForm(w, r); err != nil {
		g.renderError(w, r, err)
		return nil, nil, false
	}
	if _, err := g.MFA.Verify(r.Context(), s.Identity.UserID, r.PostForm.Get("code")); err != nil {
		g.codeFailed(w, r, s, g.clientIP.Resolve(r).String(), err, "account.html", pageData{Title: "Your account", Username: s.Identity.Username, Enrolled: true})
		return nil, nil, false
	}
	return s, cur, true
}
