// Package console is the administration front: the admin JSON API under
// /.gatehouse/api/v1/admin/ and the server-rendered admin console under
// /.gatehouse/admin/ (pages.go), which call the same operations. It reads
// requests, decides who may call it, and writes answers; every operation
// is auth/admin's, validated and audited there once for the CLI and here.
//
// Who may call it: a complete session whose permission template grants
// the admin feature and that passed a second factor in this login —
// whatever the policy's 2FA mandate says — or an API key of such a user
// carrying the admin scope explicitly. Changes to the policy or to
// sessions of others also need a fresh re-authentication for sessions:
// a login or a POST /.gatehouse/api/v1/reauth within the last 5 minutes.
// Every call is audited with the admin's identity. Cookie callers are
// protected from cross-site requests by the gateway's origin checks.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// FreshFor is how recent a login or re-authentication must be for a
// change (ASVS 7.5.2 / 6.3.x: sensitive operations re-authenticate).
const FreshFor = 5 * time.Minute

// Counter marks re-authentications in the shared session store, so a
// re-authentication on one replica counts on every replica.
type Counter interface {
	IncrBy(ctx context.Context, key string, by int64, window time.Duration) (int64, error)
	Count(ctx context.Context, key string) (int64, error)
}

// SecondFactor checks a current code of the caller's own factor.
type SecondFactor interface {
	Verify(ctx context.Context, userID, code string) (string, error)
}

// Options configure the API.
type Options struct {
	Admin   *admin.Service
	Reauth  auth.PasswordLogin // the caller's own password
	MFA     SecondFactor       // nil: password only
	Counter Counter
	Now     func() time.Time
	// Network answers the explain route (nil: 404).
	Network NetworkExplainer
	// Sessions, when set, lists each user's live browser sessions (on
	// their page and over the API); ending one goes through the
	// gateway's session manager.
	Sessions SessionLister
	// Keys, when set, forgets a revoked key on this replica at once; the
	// others learn it from the directory within a second.
	Keys KeyEvicter
}

// KeyEvicter is the API-key authenticator's local cache.
type KeyEvicter interface{ Evict(id string) }

// revokeKey revokes one API key and forgets it here at once.
func (o Options) revokeKey(ctx context.Context, actor, id string) (*directory.APIKey, error) {
	k, err := o.Admin.RevokeAPIKey(ctx, actor, id)
	if err == nil && o.Keys != nil {
		o.Keys.Evict(id)
	}
	return k, err
}

// API is the admin JSON API.
type API struct {
	o Options
	g *proxy.Gateway
}

// New returns the route set.
func New(g *proxy.Gateway, o Options) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &API{o: o, g: g}
}

const prefix = "/.gatehouse/api/v1/admin"

// Mount implements proxy.Routes.
func (a *API) Mount(m *proxy.Mux) {
	m.Handle("GET /.gatehouse/api/v1/openapi.json", proxy.Public, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(OpenAPI)
	})
	m.Handle("POST /.gatehouse/api/v1/reauth", proxy.AnyCredential, a.reauth)
	m.Handle("GET "+prefix+"/policy", proxy.AnyCredential, a.read(a.getPolicy))
	m.Handle("POST "+prefix+"/policy/dry-run", proxy.AnyCredential, a.read(a.dryRun))
	m.Handle("PUT "+prefix+"/policy", proxy.AnyCredential, a.write(a.putPolicy))
	m.Handle("GET "+prefix+"/policy/history", proxy.AnyCredential, a.read(a.history))
	m.Handle("POST "+prefix+"/policy/rollback", proxy.AnyCredential, a.write(a.rollback))
	m.Handle("GET "+prefix+"/users", proxy.AnyCredential, a.read(a.users))
	m.Handle("POST "+prefix+"/users/{username}/logout", proxy.AnyCredential, a.write(a.logoutUser))
	m.Handle("POST "+prefix+"/logout-all", proxy.AnyCredential, a.write(a.logoutAll))
	m.Handle("GET "+prefix+"/audit", proxy.AnyCredential, a.read(a.auditLog))
	m.Handle("GET "+prefix+"/explain/network", proxy.AnyCredential, a.read(a.explainNetwork))
	m.Handle("GET "+prefix+"/explain/access", proxy.AnyCredential, a.read(a.explainAccess))
	a.mountUsers(m)
}

// apiError is the JSON error every route answers.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	web.JSON(w, status, map[string]string{"error": code, "message": msg})
}

type handler func(w http.ResponseWriter, r *http.Request, c *proxy.Caller, actor string)

func (a *API) read(h handler) http.HandlerFunc  { return a.gate(h, false) }
func (a *API) write(h handler) http.HandlerFunc { return a.gate(h, true) }

// gate admits admins only, as the package comment says, and audits the
// call.
func (a *API) gate(h handler, change bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := proxy.CallerOf(r)
		if !c.SignedIn() {
			apiError(w, http.StatusUnauthorized, "unauthenticated", "Log in as an administrator, or send an admin-scoped API key.")
			return
		}
		if !c.Complete() {
			apiError(w, http.StatusUnauthorized, "mfa_required", "Finish the login's second factor first.")
			return
		}
		if gr := a.g.GrantsOf(c); gr == nil || !slices.Contains(gr.Features, "admin") {
			a.refused(r, c, "not_admin")
			apiError(w, http.StatusForbidden, "forbidden", "This needs the admin feature.")
			return
		}
		switch c.Kind {
		case auth.KindAPIKey:
			if !slices.Contains(c.Scopes, "admin") {
				// A key acts for its user only within what it was made
				// for: administration must be asked for by name.
				a.refused(r, c, "key_not_admin_scoped")
				apiError(w, http.StatusForbidden, "forbidden", "This API key is not admin-scoped; create one with --scopes admin.")
				return
			}
		case auth.KindSession:
			if !proxy.SecondFactorDone(&c.Policy.Policy, &c.Identity) {
				a.refused(r, c, "no_second_factor")
				apiError(w, http.StatusForbidden, "mfa_required", "Administration needs a second factor in this login, whatever the policy: enrol on the account page and log in again.")
				return
			}
			if change && !a.fresh(r.Context(), c) {
				a.refused(r, c, "reauth_required")
				apiError(w, http.StatusForbidden, "reauth_required", "Confirm it is you: POST /.gatehouse/api/v1/reauth with your password or a current code, then retry within 5 minutes.")
				return
			}
		default:
			apiError(w, http.StatusUnauthorized, "unauthenticated", "Log in as an administrator.")
			return
		}
		actor := c.Identity.Username
		d := map[string]string{"method": r.Method, "route": r.Pattern}
		if c.Kind == auth.KindAPIKey {
			d["key_id"] = c.ID
		}
		a.o.Admin.Record(r.Context(), audit.Event{Event: audit.AdminAPI, Actor: actor, UserID: c.Identity.UserID, ClientIP: c.IP.String(), Detail: d})
		h(w, r, c, actor)
	}
}

func (a *API) refused(r *http.Request, c *proxy.Caller, reason string) {
	a.o.Admin.Record(r.Context(), audit.Event{Event: audit.AdminAPI, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
		Detail: map[string]string{"method": r.Method, "route": r.Pattern, "refused": reason}})
}

func reauthKey(sessionID string) string { return "admin:reauth:" + sessionID }

// fresh reports a login or re-authentication within FreshFor.
func (a *API) fresh(ctx context.Context, c *proxy.Caller) bool {
	if a.o.Now().Sub(c.Created) <= FreshFor {
		return true
	}
	n, err := a.o.Counter.Count(ctx, reauthKey(c.ID))
	return err == nil && n > 0
}

// reauth takes the caller's password or a current code and marks the
// session re-authenticated for FreshFor.
func (a *API) reauth(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if !c.Complete() || c.Kind != auth.KindSession {
		apiError(w, http.StatusUnauthorized, "unauthenticated", "Re-authentication is for a signed-in browser session.")
		return
	}
	var in struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	var err error
	switch {
	case in.Code != "" && a.o.MFA != nil:
		_, err = a.o.MFA.Verify(ctx, c.Identity.UserID, in.Code)
	case in.Password != "":
		_, err = a.o.Reauth.Authenticate(ctx, c.Identity.Username, in.Password, c.IP.String())
	default:
		apiError(w, http.StatusBadRequest, "bad_request", "Send {\"password\": …} or {\"code\": …}.")
		return
	}
	switch {
	case errors.Is(err, auth.ErrLockedOut):
		apiError(w, http.StatusTooManyRequests, "locked_out", "Too many attempts. Try again later.")
		return
	case err != nil:
		apiError(w, http.StatusForbidden, "reauth_failed", "That password or code is not right.")
		return
	}
	if _, err := a.o.Counter.IncrBy(ctx, reauthKey(c.ID), 1, FreshFor); err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "The session store could not be reached; retry.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxBody bounds a request body (a policy is a few KB).
const maxBody = 256 << 10

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "The body is not the JSON this route takes: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		apiError(w, http.StatusBadRequest, "bad_request", "The body holds more than one JSON value.")
		return false
	}
	return true
}

// fail answers an operation's error.
func fail(w http.ResponseWriter, err error) {
	var inv *admin.InvalidError
	switch {
	case errors.As(err, &inv):
		problems := make([]map[string]string, len(inv.Problems))
		for i, p := range inv.Problems {
			problems[i] = map[string]string{"field": p.Field, "message": p.Message}
		}
		web.JSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "invalid", "message": inv.Problems[0].Message, "problems": problems})
	case errors.Is(err, admin.ErrPolicyChanged):
		apiError(w, http.StatusConflict, "conflict", err.Error()+"; reload it and apply your change again")
	case errors.Is(err, admin.ErrLastAdmin), errors.Is(err, admin.ErrExists):
		apiError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, admin.ErrNoUser), errors.Is(err, admin.ErrNoPolicy), errors.Is(err, directory.ErrNotFound),
		errors.Is(err, admin.ErrNoAPIKey), errors.Is(err, admin.ErrNoDevice), errors.Is(err, errNoSession):
		apiError(w, http.StatusNotFound, "not_found", err.Error())
	default:
		apiError(w, http.StatusServiceUnavailable, "unavailable", "The directory could not be reached; retry.")
	}
}

// policyVersion is a stored version as the API shows it.
type policyVersion struct {
	Version   int64     `json:"version"`
	Document  string    `json:"document"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"created_at"`
}

func showVersion(pv directory.PolicyVersion) policyVersion {
	return policyVersion{Version: pv.Version, Document: string(pv.Document), Actor: pv.Actor, CreatedAt: pv.CreatedAt}
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	pv, err := a.o.Admin.Policy(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, showVersion(pv))
}

// planOut is a dry run's answer.
type planOut struct {
	From     int64        `json:"from_version"`
	Merged   bool         `json:"merged"`
	Document string       `json:"document"`
	Diff     []string     `json:"diff"`
	Warnings []string     `json:"warnings"`
	Access   []string     `json:"access"`
	Impact   admin.Impact `json:"impact"`
}

func showPlan(p admin.PolicyPlan) planOut {
	return planOut{From: p.From.Version, Merged: p.Merged, Document: string(p.Document), Diff: nonNil(p.Diff), Warnings: nonNil(p.Warnings),
		Access: nonNil(p.Access), Impact: p.Impact}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type policyIn struct {
	Document string `json:"document"`
	// Version is the version the change was made against: saving over
	// a newer one is refused with 409.
	Version int64 `json:"version"`
}

func (a *API) dryRun(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	var in policyIn
	if !readJSON(w, r, &in) {
		return
	}
	plan, err := a.o.Admin.PlanPolicy(r.Context(), []byte(in.Document))
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, showPlan(plan))
}

func (a *API) putPolicy(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in policyIn
	if !readJSON(w, r, &in) {
		return
	}
	if in.Version <= 0 {
		apiError(w, http.StatusBadRequest, "bad_request", "version is required: the policy version your change was made against.")
		return
	}
	plan, err := a.o.Admin.PlanPolicy(r.Context(), []byte(in.Document))
	if err != nil {
		fail(w, err)
		return
	}
	if plan.From.Version != in.Version {
		fail(w, admin.ErrPolicyChanged)
		return
	}
	ch, err := a.o.Admin.ApplyPolicy(r.Context(), actor, plan, map[string]string{"via": "admin_api"})
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"version": ch.To.Version, "plan": showPlan(plan)})
}

func (a *API) history(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			apiError(w, http.StatusBadRequest, "bad_request", "limit must be 1-200.")
			return
		}
		limit = n
	}
	h, err := a.o.Admin.PolicyHistory(r.Context(), limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	type entry struct {
		policyVersion
		Diff []string `json:"diff"`
	}
	out := []entry{}
	for i, pv := range h {
		if i == limit {
			break
		}
		var prev []byte
		if i+1 < len(h) {
			prev = h[i+1].Document
		}
		out = append(out, entry{showVersion(pv), nonNil(admin.DiffLines(string(prev), string(pv.Document)))})
	}
	web.JSON(w, http.StatusOK, map[string]any{"versions": out})
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		To      int64 `json:"to"`
		Version int64 `json:"version"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.To <= 0 || in.Version <= 0 {
		apiError(w, http.StatusBadRequest, "bad_request", "to (the version to restore) and version (the one in force you saw) are required.")
		return
	}
	plan, err := a.o.Admin.PlanRollback(r.Context(), in.To)
	if err != nil {
		fail(w, err)
		return
	}
	if plan.From.Version != in.Version {
		fail(w, admin.ErrPolicyChanged)
		return
	}
	ch, err := a.o.Admin.ApplyPolicy(r.Context(), actor, plan, map[string]string{"via": "admin_api", "rollback_to": strconv.FormatInt(in.To, 10)})
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"version": ch.To.Version, "plan": showPlan(plan)})
}

// userOut is a user as the list shows it; never a secret.
type userOut struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name,omitempty"`
	Role        string   `json:"role"`
	Template    string   `json:"template,omitempty"`
	Groups      []string `json:"groups"`
	Disabled    bool     `json:"disabled"`
}

func (a *API) users(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	q := r.URL.Query()
	limit, offset := 50, 0
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || name == "limit" && (n < 1 || n > 500) {
				apiError(w, http.StatusBadRequest, "bad_request", name+" is out of range (limit 1-500, offset ≥ 0).")
				return
			}
			*dst = n
		}
	}
	all, err := a.o.Admin.Users(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	search := strings.ToLower(q.Get("q"))
	var match []userOut
	for _, u := range all {
		if search != "" && !strings.Contains(strings.ToLower(u.Username+" "+u.Email+" "+u.DisplayName), search) {
			continue
		}
		match = append(match, userOut{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role,
			Template: u.Template, Groups: nonNil(u.Groups), Disabled: u.Disabled})
	}
	page := []userOut{}
	if offset < len(match) {
		page = match[offset:min(len(match), offset+limit)]
	}
	web.JSON(w, http.StatusOK, map[string]any{"users": page, "total": len(match), "offset": offset, "limit": limit})
}

func (a *API) logoutUser(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	u, err := a.o.Admin.Logout(r.Context(), actor, r.PathValue("username"))
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]string{"user": u.Username, "message": "every session and device of the user ends on every gateway within a second"})
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		IncludeAPIKeys bool   `json:"include_api_keys"`
		Confirm        string `json:"confirm"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Confirm != "log out everyone" {
		apiError(w, http.StatusBadRequest, "confirmation_required", `Send "confirm": "log out everyone" to end every session.`)
		return
	}
	res, err := a.o.Admin.LogoutAll(r.Context(), actor, in.IncludeAPIKeys)
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]int{"users": res.Users, "api_keys_revoked": res.APIKeys})
}

// maxExport bounds one export.
const maxExport = 100_000

// auditLog is the audit log: a JSON page (cursor in next_before), or an
// NDJSON or CSV export of everything the filter matches.
func (a *API) auditLog(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	q := r.URL.Query()
	f := admin.AuditFilter{Username: q.Get("user"), Event: q.Get("event")}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				apiError(w, http.StatusBadRequest, "bad_request", name+" must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z.")
				return
			}
			*dst = t
		}
	}
	for name, dst := range map[string]*int64{"before": &f.Before, "limit": nil} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			apiError(w, http.StatusBadRequest, "bad_request", name+" must be a positive number.")
			return
		}
		if dst != nil {
			*dst = n
		} else {
			f.Limit = int(min(n, 1000))
		}
	}
	ctx := r.Context()
	switch format := q.Get("format"); format {
	case "", "json":
		events, err := a.o.Admin.Audit(ctx, f)
		if err != nil {
			fail(w, err)
			return
		}
		out := make([]admin.AuditRecord, len(events))
		for i, e := range events {
			out[i] = admin.NewAuditRecord(e)
		}
		body := map[string]any{"events": out}
		size := f.Limit
		if size == 0 {
			size = directory.AuditPageDefault
		}
		if n := len(events); n > 0 && n == size {
			// A full page: there may be more, from this cursor on.
			body["next_before"] = events[n-1].ID
		}
		web.JSON(w, http.StatusOK, body)
	case "ndjson", "csv":
		f.Limit = 0
		events, err := a.o.Admin.AuditAll(ctx, f, maxExport)
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-audit.csv"`)
			admin.WriteAuditCSV(w, events)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-audit.ndjson"`)
		admin.WriteAuditNDJSON(w, events)
	default:
		apiError(w, http.StatusBadRequest, "bad_request", "format must be json, ndjson or csv.")
	}
}
