package console

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// endBrowserSession ends one live browser session of the user. auth/admin
// has no operation for it (sessions live in the session store, not the
// directory), so it is audited here, as the operations audit theirs. A
// session of anyone else, or a device's, is not found, as an unknown one
// is, so a request cannot be pointed at it.
func endBrowserSession(ctx context.Context, o Options, g *proxy.Gateway, actor, username, id string) error {
	u, err := o.Admin.User(ctx, username)
	if err != nil {
		return err
	}
	recs, err := o.Sessions.List(ctx, u.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(browserSessions(recs), func(s session.Record) bool { return s.ID == id }) {
		return errNoSession
	}
	if err := g.Sessions().Revoke(ctx, id); err != nil {
		return err
	}
	o.Admin.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"reason": "admin_revoked", "session": id}})
	return nil
}

type sessionOut struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	ClientIP  string    `json:"client_ip"`
	UserAgent string    `json:"user_agent"`
	Methods   []string  `json:"methods"`
	// Current marks the caller's own session.
	Current bool `json:"current"`
}

// userSessions lists the user's live browser sessions, newest first
// (devices are listed with the user).
func (a *API) userSessions(w http.ResponseWriter, r *http.Request, c *proxy.Caller, _ string) {
	ctx := r.Context()
	u, err := a.o.Admin.User(ctx, r.PathValue("username"))
	if err != nil {
		fail(w, err)
		return
	}
	recs, err := a.o.Sessions.List(ctx, u.ID)
	if err != nil {
		fail(w, err)
		return
	}
	out := []sessionOut{}
	for _, s := range browserSessions(recs) {
		out = append(out, sessionOut{ID: s.ID, Created: s.Created, LastSeen: s.LastSeen, ClientIP: s.Meta.ClientIP,
			UserAgent: s.Meta.UserAgent, Methods: nonNil(s.Meta.Methods), Current: s.ID == c.ID})
	}
	web.JSON(w, http.StatusOK, map[string]any{"user": u.Username, "sessions": out})
}

// endUserSession ends one of them.
func (a *API) endUserSession(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	if err := endBrowserSession(r.Context(), a.o, a.g, actor, r.PathValue("username"), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]string{"user": r.PathValue("username"), "session": r.PathValue("id"), "status": "ended"})
}
