package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Access is what the pipeline must establish before a gateway route runs.
type Access int

const (
	// Public routes get no Caller and no network rule: health checks,
	// the JWKS, static files, SAML metadata.
	Public Access = iota
	// Exit routes get the Caller when the request carries a credential
	// and no network rule, so a user can always end their own session.
	Exit
	// Anyone routes get the Caller when there is one, under the same
	// network verdict as the upstream: org-wide login rules without a
	// credential, the user's full rules with one (login pages,
	// federated callbacks).
	Anyone
	// AnySession routes need a session, even one with a step still owed
	// (the 2FA pages); without one the browser goes to the login page.
	AnySession
	// FullSession routes need a complete session (self-service pages); a
	// session owing a step is sent to that step first.
	FullSession
	// AnyCredential routes are APIs that answer for themselves: they get
	// the Caller with any credential, an API key included (the admin API
	// takes admin-scoped keys), under that credential's network rules,
	// and decide in JSON what it may do.
	AnyCredential
)

// Routes is a set of the gateway's own routes. cmd/gatehouse mounts each
// set on the gateway (as Dex's server mounts its handlers), so this
// package never imports the sets.
type Routes interface {
	Mount(m *Mux)
}

// Mux is where route sets mount their routes under /.gatehouse/.
type Mux struct{ g *Gateway }

// Mount adds route sets to the gateway.
func (g *Gateway) Mount(sets ...Routes) {
	for _, s := range sets {
		s.Mount(&Mux{g: g})
	}
}

// Handle mounts h on pattern (a net/http pattern under /.gatehouse/) after
// the pipeline steps a requires.
func (m *Mux) Handle(pattern string, a Access, h http.HandlerFunc) {
	g := m.g
	if a == Public {
		g.own.Handle(pattern, h)
		return
	}
	g.own.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Bounded in time and in number (review finding F6): a body
		// trickled a byte at a time fails at the read deadline, and
		// past MaxPages in flight the answer is an immediate 503 — the
		// health and key routes (Public) stay out of the count.
		select {
		case g.pages <- struct{}{}:
			defer func() { <-g.pages }()
		default:
			g.metrics.inc(outcomeUnavailable)
			g.render.Error(w, r, web.ErrUnavailable.With(errBusy))
			return
		}
		rc := http.NewResponseController(w)
		now := time.Now()
		rc.SetReadDeadline(now.Add(g.pageTimeout))
		rc.SetWriteDeadline(now.Add(3 * g.pageTimeout))
		cur := g.currentPolicy()
		if cur == nil {
			g.metrics.inc(outcomeUnavailable)
			g.render.Error(w, r, web.ErrUnavailable)
			return
		}
		c := &Caller{IP: g.clientIP.Resolve(r), Policy: cur}
		r = WithCaller(r, c)
		noteCaller(w, c)
		if err := g.identify(r, c); err != nil {
			g.metrics.inc(outcomeUnavailable)
			g.render.Error(w, r, web.ErrUnavailable.With(err))
			return
		}
		if c.Ended != "" {
			g.cookies.ClearSession(w)
		}
		// The gateway's own pages take sessions only: an API key acts
		// on the upstream for its user and can never manage keys,
		// passwords or factors.
		if c.Kind != auth.KindSession && !(a == AnyCredential && c.Kind == auth.KindAPIKey) {
			c.Credential, c.Refused = auth.Credential{}, nil
		}
		if a != Exit {
			var id *auth.Identity
			if c.SignedIn() {
				id = &c.Identity
			}
			if !g.checkNetwork(w, r, !c.SignedIn(), id, c.Kind == auth.KindAPIKey) {
				return
			}
			if len(c.Networks) > 0 && !inPrefixes(c.IP, c.Networks) {
				g.render.Error(w, r, web.ErrNetworkBlocked)
				return
			}
		}
		switch {
		case (a == AnySession || a == FullSession) && !c.SignedIn():
			// Back to this page after the login when it is one a login
			// may return to (a GET of a return path); "/" otherwise.
			back := "/"
			if r.Method == http.MethodGet {
				back = web.CleanRedirect(r.URL.RequestURI())
			}
			to := "/.gatehouse/login"
			if back != "/" || c.Ended != "" && c.Ended != endedInvalid {
				to = LoginURL(back, c.Ended)
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		case a == FullSession && !c.Complete():
			back := "/"
			if r.Method == http.MethodGet {
				back = web.CleanRedirect(r.URL.RequestURI())
			}
			http.Redirect(w, r, PendingPath(c.Pending, back), http.StatusSeeOther)
			return
		}
		h(w, r)
	}))
}

// HandleWellKnown mounts a public document under /.well-known/ (RFC
// 8615), the one place outside /.gatehouse/ the gateway answers itself:
// standard clients look for metadata there (RFC 8414).
func (m *Mux) HandleWellKnown(path string, h http.HandlerFunc) {
	if !strings.HasPrefix(path, "/.well-known/") {
		panic("proxy: HandleWellKnown: " + path + " is not under /.well-known/")
	}
	m.g.root.Handle("GET "+path, m.g.securityHeaders(h))
}

var errBusy = errors.New("too many gateway page requests in flight")

// mountBuiltin mounts the routes the pipeline itself answers.
func (m *Mux) mountBuiltin() {
	g := m.g
	m.Handle("GET /.gatehouse/jwks.json", Public, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(g.assertions.JWKS())
	})
	m.Handle("GET /.gatehouse/healthz", Public, func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.Handle("GET /.gatehouse/readyz", Public, g.readyz)
	g.own.Handle("GET /.gatehouse/static/", http.StripPrefix("/.gatehouse/static/", web.Static(g.render.Brand())))
	// The language switcher on every page; a POST, so behind the same
	// cross-origin check as every other gateway form.
	m.Handle("POST /.gatehouse/lang", Public, g.render.SwitchLanguage(g.cookies))
	// The recovery codes page's "I saved them": the box must be ticked
	// (the browser insists, as the field is required; this is for one
	// that does not), then on to where the page was going, on this
	// origin only.
	m.Handle("POST /.gatehouse/codes/saved", Public, func(w http.ResponseWriter, r *http.Request) {
		if err := web.ParseForm(w, r); err != nil {
			g.render.Error(w, r, err)
			return
		}
		if r.PostForm.Get("saved") != "on" {
			g.render.Page(w, r, http.StatusBadRequest, "message.html", web.PageData{Title: "codes.title", Message: "codes.not_saved",
				Redirect: web.PageRedirect(r.PostForm.Get("rd"))})
			return
		}
		http.Redirect(w, r, web.PageRedirect(r.PostForm.Get("rd")), http.StatusSeeOther)
	})
	m.Handle("/.gatehouse/", Public, func(w http.ResponseWriter, r *http.Request) { g.render.Error(w, r, web.ErrNotFound) })
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failed := map[string]string{}
	for _, c := range g.ready {
		if err := c.Ping(ctx); err != nil {
			failed[c.Name] = "unreachable"
			g.log.WarnContext(ctx, "readiness check failed", "check", c.Name, "error", err)
		}
	}
	if !g.policy.Fresh(g.maxStale) {
		failed["policy"] = "stale"
	}
	if g.draining.Load() {
		failed["shutdown"] = "draining"
	}
	body := map[string]any{"status": "ready"}
	if len(g.status) > 0 {
		detail := map[string]string{}
		for _, s := range g.status {
			if s.Detail != nil {
				detail[s.Name] = s.Detail()
			}
		}
		body["detail"] = detail
	}
	if len(failed) > 0 {
		body["status"], body["failed"] = "unavailable", failed
		web.JSON(w, http.StatusServiceUnavailable, body)
		return
	}
	web.JSON(w, http.StatusOK, body)
}

// CheckNetwork runs the network guard for the request's client and, when
// it refuses, answers the request and records the block. login selects
// the login-time rules (block_tor: login); id is nil before the user is
// known. It reports whether the caller may go on.
func (g *Gateway) CheckNetwork(w http.ResponseWriter, r *http.Request, login bool, id *auth.Identity) bool {
	return g.checkNetwork(w, r, login, id, false)
}

// checkNetwork is CheckNetwork; api selects the API-key lists.
func (g *Gateway) checkNetwork(w http.ResponseWriter, r *http.Request, login bool, id *auth.Identity, api bool) bool {
	if g.network == nil {
		return true
	}
	ip := g.clientIP.Resolve(r)
	if c := CallerOf(r); c != nil {
		ip = c.IP
	}
	var role, userID, username string
	if id != nil {
		role, userID, username = id.Role, id.UserID, id.Username
	}
	var v policy.NetworkVerdict
	if api {
		v = g.network.CheckAPI(ip, role, userID)
	} else {
		v = g.network.Check(ip, login, role, userID)
	}
	if v.Allow {
		return true
	}
	detail := map[string]string{"rule": v.Rule, "login": boolString(login)}
	if v.Detail != "" {
		detail["detail"] = v.Detail
	}
	g.audit.Record(r.Context(), audit.Event{Event: audit.NetworkBlocked, Actor: username, UserID: userID, ClientIP: ip.String(), Detail: detail})
	if v.Rule == policy.RuleUnverifiable {
		g.render.Error(w, r, web.ErrUnavailable)
		return false
	}
	g.render.Error(w, r, web.ErrNetworkBlocked)
	return false
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Notices are the message ids (proxy/i18n) of the fixed texts the login
// page shows for ?reason=; the page never echoes text from the URL.
var Notices = map[string]string{
	string(session.ReasonIdle):     "notice.idle_timeout",
	string(session.ReasonAbsolute): "notice.absolute_lifetime",
	"logged_out":                   "notice.logged_out",
	EndedRevoked:                   "notice.revoked",
	EndedMFARequired:               "notice.mfa_required",
}

// LoginURL is where a browser without a valid session is sent.
func LoginURL(original, reason string) string {
	return loginURL(web.CleanRedirect(original), reason)
}

// loginURL is LoginURL for an rd already checked as a return address.
func loginURL(rd, reason string) string {
	q := url.Values{"rd": {rd}}
	if _, ok := Notices[reason]; ok {
		q.Set("reason", reason)
	}
	return "/.gatehouse/login?" + q.Encode()
}

// PendingPath is where a session owing a step must go.
func PendingPath(pending, rd string) string {
	path := "/.gatehouse/2fa?"
	switch pending {
	case PendingEnroll:
		path = "/.gatehouse/2fa/enroll?"
	case PendingPassword:
		path = "/.gatehouse/password?"
	}
	return path + url.Values{"rd": {web.CleanRedirect(rd)}}.Encode()
}
