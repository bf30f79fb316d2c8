package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/brand"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// The console pages are server-rendered forms under /.gatehouse/admin/
// that call auth/admin's operations in Go, as the JSON API does: no
// script, no build step, one stylesheet beside the gateway's own. They
// admit browser sessions only, under the API's rule (see the package
// comment); a change needs a login or re-authentication within
// FreshFor, remembered under the API's counter key, so confirming on a
// page counts for the API and the other way round.

//go:embed templates/*.html templates/console.css
var pageFiles embed.FS

var pageTemplates = template.Must(template.New("console").Funcs(template.FuncMap{
	"pathseg":    url.PathEscape,
	"diffline":   diffClass,
	"when":       formatTime,
	"list":       func(s ...string) []string { return s },
	"style":      web.StyleSrc,
	"consoleCSS": func() string { return consoleCSSURL },
}).ParseFS(pageFiles, "templates/*.html"))

// consoleCSS is the console's stylesheet; its URL carries a hash of it,
// so a new build's pages never pair with a cached old stylesheet (it is
// cached for an hour), as the login pages' gatehouse.css does.
var consoleCSS, consoleCSSURL = func() ([]byte, string) {
	css, err := pageFiles.ReadFile("templates/console.css")
	if err != nil {
		panic(err) // embedded at build time
	}
	sum := sha256.Sum256(css)
	return css, pagesPath + "/console.css?v=" + hex.EncodeToString(sum[:6])
}()

const (
	pagesPath = "/.gatehouse/admin"
	// maxPageForm bounds a console form: a policy document is a few KB,
	// and the re-authentication page carries one through.
	maxPageForm = 256 << 10
)

// SessionLister lists a user's live sessions (the session manager); the
// user page shows the browser ones with a button to end each.
type SessionLister interface {
	List(ctx context.Context, userID string) ([]session.Record, error)
}

// PageOptions configure the console pages: the API's options, and what
// only the pages use.
type PageOptions struct {
	Options
	// Providers are the configured identity providers' ids, offered as
	// login methods on the policy form beside the password.
	Providers []string
}

// Pages is the admin console's route set.
type Pages struct {
	o   PageOptions
	g   *proxy.Gateway
	log *slog.Logger
}

// NewPages returns the console pages of g.
func NewPages(g *proxy.Gateway, o PageOptions) *Pages {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pages{o: o, g: g, log: g.Logger().With("component", "console")}
}

// Mount implements proxy.Routes.
func (p *Pages) Mount(m *proxy.Mux) {
	m.Handle("GET "+pagesPath+"/console.css", proxy.Public, stylesheet)
	m.Handle("GET "+pagesPath, proxy.FullSession, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pagesPath+"/", http.StatusSeeOther)
	})
	m.Handle("GET "+pagesPath+"/{$}", proxy.FullSession, p.view(p.dashboard))
	m.Handle("GET "+pagesPath+"/reauth", proxy.FullSession, p.view(p.reauthPage))
	m.Handle("POST "+pagesPath+"/reauth", proxy.FullSession, p.view(p.reauth))
	p.mountUsers(m)
	p.mountUserForms(m)
	p.mountPolicy(m)
	m.Handle("GET "+pagesPath+"/logout-all", proxy.FullSession, p.view(p.logoutAllPage))
	m.Handle("POST "+pagesPath+"/logout-all", proxy.FullSession, p.change(p.logoutAll))
	m.Handle("GET "+pagesPath+"/audit", proxy.FullSession, p.view(p.auditPage))
}

func stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(consoleCSS)
}

// pageData is what every console template reads; each page sets its own
// part.
type pageData struct {
	Title   string
	Section string // the navigation entry to mark as current
	Admin   string
	// Here is this page's path and query: where a re-authentication
	// started from it returns.
	Here string
	// Fresh: changes are allowed without confirming it is the admin.
	Fresh    bool
	Notice   string
	Error    string
	Problems []string
	Message  string
	Links    []link

	Dashboard *dashboardData
	Users     *usersData
	User      *userData
	NewUser   *newUserData
	Policy    *policyData
	History   *historyData
	Rollback  *rollbackData
	LogoutAll *logoutAllData
	Audit     *auditData
	Reauth    *reauthData

	// Brand is the gateway's branding (name, logo, colour); render sets it.
	Brand *brand.Brand
}

type link struct{ Href, Label string }

// pageHandler is a console route behind the gate; actor is the admin's
// username, the audit actor of every change.
type pageHandler func(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData)

func (p *Pages) view(h pageHandler) http.HandlerFunc   { return p.gate(h, false) }
func (p *Pages) change(h pageHandler) http.HandlerFunc { return p.gate(h, true) }

// gate admits admins under the API's rule (the package comment), for
// browser sessions: the admin feature, a second factor in this login and,
// for a change, a login or re-authentication within FreshFor. A refused
// change shows the re-authentication form carrying the change, so
// nothing the admin typed is lost.
func (p *Pages) gate(h pageHandler, change bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := proxy.CallerOf(r)
		if !c.Complete() || c.Kind != auth.KindSession {
			// FullSession routes see complete browser sessions only.
			p.g.Render().Error(w, r, web.ErrUnauthenticated)
			return
		}
		d := &pageData{Admin: c.Identity.Username, Here: r.URL.RequestURI()}
		if r.Method != http.MethodGet {
			d.Here = backFor(r) // a form's target is no page to return to
		}
		if gr := p.g.GrantsOf(c); gr == nil || !slices.Contains(gr.Features, admin.AdminFeature) {
			p.refused(r, c, "not_admin")
			d.Title, d.Admin = "Not allowed", ""
			d.Message = "The admin console is for administrators: your account does not have the admin feature."
			d.Links = []link{{"/.gatehouse/account", "Your account"}, {"/", "Back to the application"}}
			p.render(w, r, http.StatusForbidden, "message.html", d)
			return
		}
		if !proxy.SecondFactorDone(&c.Policy.Policy, &c.Identity) {
			p.refused(r, c, "no_second_factor")
			d.Title, d.Admin = "Second factor needed", ""
			d.Message = "Administration needs a second factor in this login, whatever the policy says. " +
				"Set up two-factor authentication on your account page, then log out and log in again with it."
			d.Links = []link{{"/.gatehouse/account", "Set up two-factor authentication on your account page"}}
			p.render(w, r, http.StatusForbidden, "message.html", d)
			return
		}
		d.Fresh = p.fresh(r.Context(), c)
		if change {
			if err := parseForm(w, r); err != nil {
				p.g.Render().Error(w, r, err)
				return
			}
			if !d.Fresh {
				p.refused(r, c, "reauth_required")
				p.reauthForm(w, r, d, http.StatusForbidden, backFor(r), carried(r),
					"Confirm it is you: changes need your password or a current code when you logged in more than 5 minutes ago.")
				return
			}
		}
		h(w, r, c, d)
	}
}

func (p *Pages) refused(r *http.Request, c *proxy.Caller, reason string) {
	p.o.Admin.Record(r.Context(), audit.Event{Event: audit.AdminAPI, Actor: c.Identity.Username, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
		Detail: map[string]string{"method": r.Method, "route": r.Pattern, "refused": reason}})
}

// fresh reports a login or re-authentication within FreshFor: the API's
// rule, on the API's counter.
func (p *Pages) fresh(ctx context.Context, c *proxy.Caller) bool {
	if p.o.Now().Sub(c.Created) <= FreshFor {
		return true
	}
	n, err := p.o.Counter.Count(ctx, reauthKey(c.ID))
	return err == nil && n > 0
}

func parseForm(w http.ResponseWriter, r *http.Request) *web.Error {
	r.Body = http.MaxBytesReader(w, r.Body, maxPageForm)
	if err := r.ParseForm(); err != nil {
		return web.ErrBadRequest.With(err)
	}
	return nil
}

// backFor is the page a change was made from, where the admin returns
// after confirming it is them: the user's page, the policy page, and so on.
func backFor(r *http.Request) string {
	if u := r.PathValue("username"); u != "" {
		return pagesPath + "/users/" + url.PathEscape(u)
	}
	rest := strings.TrimPrefix(r.URL.Path, pagesPath+"/")
	first, _, _ := strings.Cut(rest, "/")
	switch first {
	case "policy", "logout-all", "users":
		return pagesPath + "/" + first
	}
	return pagesPath + "/"
}

// adminPath reports whether target is a plain path (and query) of the
// console: the only places re-authentication sends a browser back to.
func adminPath(target string) bool {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" ||
		strings.ContainsAny(target, "\\\"'<>` \t\r\n") || strings.Contains(target, "//") {
		return false
	}
	if u.Path != pagesPath+"/" && !strings.HasPrefix(u.Path, pagesPath+"/") {
		return false
	}
	// Only clean paths: no dot segments, which a hop might resolve.
	clean := path.Clean(u.Path)
	return clean == u.Path || clean+"/" == u.Path
}

// render executes a console template into a buffer first, so a template
// failure is a clean 503 rather than half a page, and sends it with the
// gateway pages' headers: no cache, no frames, no script.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	var buf bytes.Buffer
	d.Brand = p.g.Render().Brand()
	if err := pageTemplates.ExecuteTemplate(&buf, name, d); err != nil {
		p.log.ErrorContext(r.Context(), "render console page", "page", name, "error", err)
		p.g.Render().Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.g.Render().SetPageHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// failure is what a page tells the admin about an operation's error, and
// with which status; ok false means an outage (answered as one).
func failure(err error) (status int, msg string, problems []string, ok bool) {
	var inv *admin.InvalidError
	switch {
	case errors.As(err, &inv):
		for _, pr := range inv.Problems {
			problems = append(problems, pr.Message)
		}
		return http.StatusUnprocessableEntity, "That was not accepted; nothing was changed.", problems, true
	case errors.Is(err, admin.ErrPolicyChanged):
		return http.StatusConflict, "The policy changed since you started this edit (another admin saved a version). Reload it and make your change again.", nil, true
	case errors.Is(err, admin.ErrLastAdmin):
		return http.StatusConflict, "No other enabled user has the admin feature: give someone else an admin role first.", nil, true
	case errors.Is(err, admin.ErrNoUser):
		return http.StatusNotFound, "There is no such user.", nil, true
	case errors.Is(err, admin.ErrExists):
		return http.StatusConflict, "A user with that username or email already exists; nothing was changed.", nil, true
	case errors.Is(err, admin.ErrNoAPIKey):
		return http.StatusNotFound, "The user has no such API key.", nil, true
	case errors.Is(err, admin.ErrNoDevice):
		return http.StatusNotFound, "The user has no such device.", nil, true
	case errors.Is(err, errNoSession):
		return http.StatusNotFound, "The user has no such live browser session (it may have ended already).", nil, true
	case errors.Is(err, admin.ErrNoPolicy):
		return http.StatusNotFound, "There is no such policy version.", nil, true
	}
	return 0, "", nil, false
}

// refusal puts an operation's refusal on the page about to be shown
// again (d.Error, d.Problems) and returns its status; for an error that
// is no refusal (an outage) it answers the request itself and reports
// false.
func (p *Pages) refusal(w http.ResponseWriter, r *http.Request, d *pageData, err error) (int, bool) {
	status, msg, problems, ok := failure(err)
	if !ok {
		p.fail(w, r, d, err)
		return 0, false
	}
	d.Error, d.Problems = msg, problems
	return status, true
}

// fail answers an operation's error on a page of its own.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, d *pageData, err error) {
	status, msg, problems, ok := failure(err)
	if !ok {
		p.g.Render().Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	if d.Title == "" {
		d.Title = http.StatusText(status)
	}
	d.Message, d.Problems = msg, problems
	d.Links = []link{{backFor(r), "Back"}}
	p.render(w, r, status, "message.html", d)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// diffClass styles a diff line by its sign; the sign stays in the text,
// so the change does not rest on colour alone.
func diffClass(line string) string {
	switch {
	case strings.HasPrefix(line, "+"):
		return "add"
	case strings.HasPrefix(line, "-"):
		return "del"
	}
	return ""
}
