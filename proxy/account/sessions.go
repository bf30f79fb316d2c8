package account

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// OwnSessions is what the account page needs to list and end the user's
// browser sessions (session.Manager: its Revoke reaches every replica).
type OwnSessions interface {
	List(ctx context.Context, userID string) ([]session.Record, error)
	Revoke(ctx context.Context, id string) error
}

// ReasonUserRevoked is the audit reason (and the CRM webhook's) of a
// session its own user ended from the account page.
const ReasonUserRevoked = "user_revoked"

// browserSessions are the user's live browser sessions, newest first;
// a mobile device's session is listed (and signed out) as a device.
func browserSessions(recs []session.Record) []session.Record {
	out := slices.DeleteFunc(slices.Clone(recs), func(r session.Record) bool { return r.Meta.Client != "" })
	slices.SortFunc(out, func(a, b session.Record) int { return b.Created.Compare(a.Created) })
	return out
}

func sessionRows(recs []session.Record, current string) []web.SessionRow {
	rows := make([]web.SessionRow, 0, len(recs))
	for _, r := range recs {
		browser := Browser(r.Meta.UserAgent)
		if browser == "" {
			browser = "account.unknown_browser"
		}
		rows = append(rows, web.SessionRow{ID: r.ID, Browser: browser, Address: r.Meta.ClientIP,
			SignedIn: r.Created.Format(time.DateTime), LastSeen: r.LastSeen.Format(time.DateTime), Current: r.ID == current})
	}
	return rows
}

// Browser names the browser and system of a User-Agent the way a person
// recognises them ("Firefox on Windows"); the raw string helps nobody
// tell two sessions apart, and a made-up one is shown as it came; ""
// when there is none.
func Browser(ua string) string {
	if ua == "" {
		return ""
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chromium/", "Chromium"},
		{"HeadlessChrome/", "Chrome (headless)"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	if len(ua) > 60 {
		ua = ua[:60] + "…"
	}
	return ua
}

// endSession ends one of the user's own browser sessions. Like signing
// out a device it needs no fresh sign-in: it only takes access away. A
// session of anyone else, or a device's, is not found, as an unknown one
// is, so the route cannot be pointed at it.
func (p *Pages) endSession(w http.ResponseWriter, r *http.Request) {
	c, recs, ok := p.ownSessions(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if id == c.ID || !slices.ContainsFunc(recs, func(s session.Record) bool { return s.ID == id }) {
		// This session ends through "Log out", which also clears the
		// cookie.
		p.renderAccount(w, r, "", "account.no_session", http.StatusNotFound)
		return
	}
	if err := p.endOwn(r, c, id); err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.renderAccount(w, r, "account.session_ended", "", http.StatusOK)
}

// endOtherSessions ends every browser session of the user but this one,
// each audited with its id so the CRM's webhook ends each.
func (p *Pages) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	c, recs, ok := p.ownSessions(w, r)
	if !ok {
		return
	}
	for _, s := range recs {
		if s.ID == c.ID {
			continue
		}
		if err := p.endOwn(r, c, s.ID); err != nil {
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
	}
	p.renderAccount(w, r, "account.others_ended", "", http.StatusOK)
}

// ownSessions reads the posted form and the caller's browser sessions,
// answering the request itself when either fails.
func (p *Pages) ownSessions(w http.ResponseWriter, r *http.Request) (*proxy.Caller, []session.Record, bool) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return nil, nil, false
	}
	recs, err := p.sessions.List(r.Context(), c.Identity.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return nil, nil, false
	}
	return c, browserSessions(recs), true
}

func (p *Pages) endOwn(r *http.Request, c *proxy.Caller, id string) error {
	if err := p.sessions.Revoke(r.Context(), id); err != nil {
		return err
	}
	p.audit.Record(r.Context(), audit.Event{Event: audit.SessionRevoked, Actor: c.Identity.Username, UserID: c.Identity.UserID,
		ClientIP: c.IP.String(), Detail: map[string]string{"reason": ReasonUserRevoked, "session": id}})
	return nil
}
