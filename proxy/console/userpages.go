package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// usersPageSize is how many users one list page shows.
const usersPageSize = 50

func (p *Pages) mountUsers(m *proxy.Mux) {
	u := "POST " + pagesPath + "/users/{username}"
	m.Handle("GET "+pagesPath+"/users", proxy.FullSession, p.view(p.users))
	m.Handle("GET "+pagesPath+"/users/{username}", proxy.FullSession, p.view(p.user))
	m.Handle(u+"/logout", proxy.FullSession, p.change(p.userOp("logged_out", func(r *http.Request, actor, name string) error {
		_, err := p.o.Admin.Logout(r.Context(), actor, name)
		return err
	})))
	m.Handle(u+"/disable", proxy.FullSession, p.change(p.userOp("disabled", func(r *http.Request, actor, name string) error {
		_, err := p.o.Admin.SetDisabled(r.Context(), actor, name, true)
		return err
	})))
	m.Handle(u+"/enable", proxy.FullSession, p.change(p.userOp("enabled", func(r *http.Request, actor, name string) error {
		_, err := p.o.Admin.SetDisabled(r.Context(), actor, name, false)
		return err
	})))
	m.Handle(u+"/2fa/reset", proxy.FullSession, p.change(p.userOp("2fa_reset", func(r *http.Request, actor, name string) error {
		_, err := p.o.Admin.Reset2FA(r.Context(), actor, name)
		return err
	})))
	m.Handle(u+"/2fa/required", proxy.FullSession, p.change(p.require2FA))
	m.Handle(u+"/allowlist", proxy.FullSession, p.change(p.setUserAllowlist))
	m.Handle(u+"/api-keys/{id}/revoke", proxy.FullSession, p.change(p.userOp("key_revoked", p.revokeKey)))
	m.Handle(u+"/devices/{id}/revoke", proxy.FullSession, p.change(p.userOp("device_signed_out", p.revokeDevices)))
	m.Handle(u+"/devices/revoke", proxy.FullSession, p.change(p.userOp("devices_signed_out", p.revokeDevices)))
	if p.o.Sessions != nil {
		m.Handle(u+"/sessions/{id}/revoke", proxy.FullSession, p.change(p.userOp("session_ended", p.revokeSession)))
	}
}

// userNotices are the fixed texts a user page shows after a change
// (?done=); the page never echoes text from the URL.
var userNotices = map[string]string{
	"logged_out":         "Every session and device of the user ends on every gateway within a second.",
	"disabled":           "The user is disabled; their sessions end on every gateway within a second.",
	"enabled":            "The user is enabled again.",
	"2fa_reset":          "Their second factor is removed and their sessions ended; they enrol again at their next login if the policy asks for it.",
	"2fa_required":       "A second factor is now required for this user; their sessions ended, so the next login asks for it.",
	"2fa_not_required":   "The user's own second-factor mandate is off (the policy may still require one).",
	"key_revoked":        "The API key is revoked; every gateway refuses it within a second.",
	"device_signed_out":  "The device is signed out; it must sign in again.",
	"devices_signed_out": "Every device of the user is signed out.",
	"session_ended":      "The browser session is ended.",
	"allowlist_set":      "The user's allowlist is saved; every gateway applies it within a few seconds, to their existing sessions too.",
	"allowlist_cleared":  "The user's own allowlist is removed: the policy's network rules alone apply to them.",
	"created":            "The user is created.",
	"edited":             "The profile is saved; the user's sessions end, since a session carries the profile it began with.",
	"password_set":       "The password is set; the user's sessions end and remembered devices are forgotten.",
	"password_set_must_change": "The password is set for one login: the user must choose a new one at the next login. " +
		"Their sessions end and remembered devices are forgotten.",
	"deleted": "The user is deleted, with their factors, keys and devices; their sessions end on every gateway within a second.",
	"erased":  "The user is erased: deleted with their factors, keys and devices, and the audit events about them now name a pseudonym.",
}

type usersData struct {
	Query      string
	Rows       []directory.User
	Total      int
	From, To   int
	Prev, Next string
}

func (p *Pages) users(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	q := r.URL.Query()
	search := strings.TrimSpace(q.Get("q"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	offset = max(offset, 0)
	all, err := p.o.Admin.Users(r.Context())
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	needle := strings.ToLower(search)
	var match []directory.User
	for _, u := range all {
		if needle == "" || strings.Contains(strings.ToLower(u.Username+" "+u.Email+" "+u.DisplayName), needle) {
			match = append(match, u)
		}
	}
	d.Notice = userNotices[q.Get("done")]
	ud := &usersData{Query: search, Total: len(match)}
	if offset < len(match) {
		ud.Rows = match[offset:min(len(match), offset+usersPageSize)]
		ud.From, ud.To = offset+1, offset+len(ud.Rows)
	}
	pageURL := func(off int) string {
		v := url.Values{}
		if search != "" {
			v.Set("q", search)
		}
		if off > 0 {
			v.Set("offset", strconv.Itoa(off))
		}
		if len(v) == 0 {
			return pagesPath + "/users"
		}
		return pagesPath + "/users?" + v.Encode()
	}
	if offset > 0 {
		ud.Prev = pageURL(max(0, offset-usersPageSize))
	}
	if offset+usersPageSize < len(match) {
		ud.Next = pageURL(offset + usersPageSize)
	}
	d.Title, d.Section, d.Users = "Users", "users", ud
	p.render(w, r, http.StatusOK, "users.html", d)
}

// userData is one user's page: never a secret.
type userData struct {
	admin.UserDetails
	Keys          []keyView
	Devices       []deviceView
	LiveDevices   int
	Sessions      []sessionView
	SessionsShown bool // the session list is wired (PageOptions.Sessions)
	// Allowlist is the allowlist form's text: an entry a line.
	Allowlist string
}

type keyView struct {
	directory.APIKey
	State  string
	Active bool
}

type deviceView struct {
	directory.Device
	Live bool
}

type sessionView struct {
	session.Record
	Current bool // the admin's own session
}

func (p *Pages) user(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	d.Notice = userNotices[r.URL.Query().Get("done")]
	p.userPage(w, r, c, d, http.StatusOK)
}

// userPage renders the user named in the path as they are now.
func (p *Pages) userPage(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData, status int) {
	ctx := r.Context()
	det, err := p.o.Admin.ShowUser(ctx, r.PathValue("username"))
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	ud := &userData{UserDetails: det, SessionsShown: p.o.Sessions != nil, Allowlist: allowlistText(r, det.User.AllowList)}
	keys, err := p.o.Admin.UserAPIKeys(ctx, det.User.ID)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	now := p.o.Now()
	for _, k := range keys {
		kv := keyView{APIKey: k, State: "active", Active: true}
		switch {
		case !k.RevokedAt.IsZero():
			kv.State, kv.Active = "revoked "+formatTime(k.RevokedAt), false
		case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
			kv.State, kv.Active = "expired", false
		}
		ud.Keys = append(ud.Keys, kv)
	}
	_, devs, err := p.o.Admin.Devices(ctx, det.User.Username)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	for _, dv := range devs {
		live := dv.RevokedAt.IsZero()
		if live {
			ud.LiveDevices++
		}
		ud.Devices = append(ud.Devices, deviceView{Device: dv, Live: live})
	}
	if p.o.Sessions != nil {
		recs, err := p.o.Sessions.List(ctx, det.User.ID)
		if err != nil {
			p.g.Render().Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		for _, rec := range browserSessions(recs) {
			ud.Sessions = append(ud.Sessions, sessionView{Record: rec, Current: rec.ID == c.ID})
		}
	}
	d.Title, d.Section, d.User = "User "+det.User.Username, "users", ud
	p.render(w, r, status, "user.html", d)
}

// browserSessions keeps the browser sessions, newest first: a device's
// session is listed (and ended) as the device.
func browserSessions(recs []session.Record) []session.Record {
	out := slices.DeleteFunc(slices.Clone(recs), func(r session.Record) bool { return r.Meta.Client != "" })
	slices.SortFunc(out, func(a, b session.Record) int { return b.Created.Compare(a.Created) })
	return out
}

// userOp runs one change to the user named in the path and returns to
// their page with a fixed notice (post/redirect/get), or shows the
// operation's refusal on the page.
func (p *Pages) userOp(done string, op func(r *http.Request, actor, username string) error) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
		name := r.PathValue("username")
		if err := op(r, c.Identity.Username, name); err != nil {
			status, msg, problems, ok := failure(err)
			if !ok || status == http.StatusNotFound && r.PathValue("id") == "" {
				p.fail(w, r, d, err)
				return
			}
			d.Error, d.Problems = msg, problems
			p.userPage(w, r, c, d, status)
			return
		}
		http.Redirect(w, r, pagesPath+"/users/"+url.PathEscape(name)+"?done="+done, http.StatusSeeOther)
	}
}

func (p *Pages) require2FA(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	on := r.PostForm.Get("required") == "true"
	done := "2fa_not_required"
	if on {
		done = "2fa_required"
	}
	p.userOp(done, func(r *http.Request, actor, name string) error {
		_, err := p.o.Admin.Require2FA(r.Context(), actor, name, on)
		return err
	})(w, r, c, d)
}

// revokeKey revokes one of the user's keys: a key of anyone else is not
// found, as an unknown one is, so a page cannot be pointed at it.
func (p *Pages) revokeKey(r *http.Request, actor, username string) error {
	ctx, id := r.Context(), r.PathValue("id")
	keys, err := p.o.Admin.APIKeys(ctx, username)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(keys, func(k directory.APIKey) bool { return k.ID == id }) {
		return admin.ErrNoAPIKey
	}
	_, err = p.o.revokeKey(ctx, actor, id)
	return err
}

// revokeDevices signs out one device of the user ({id}) or every one.
func (p *Pages) revokeDevices(r *http.Request, actor, username string) error {
	var ids []string
	if id := r.PathValue("id"); id != "" {
		ids = []string{id}
	}
	_, _, err := p.o.Admin.RevokeDevices(r.Context(), actor, username, ids)
	return err
}

// revokeSession ends one browser session of the user.
func (p *Pages) revokeSession(r *http.Request, actor, username string) error {
	return endBrowserSession(r.Context(), p.o.Options, p.g, actor, username, r.PathValue("id"))
}

// errNoSession is a session id that is not one of the user's live
// browser sessions (ended meanwhile, or someone else's).
var errNoSession = errors.New("console: no such live browser session of the user")
