package console

import (
	"cmp"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
)

// dashboardScan bounds the events of one kind the dashboard reads from
// the last day; past it the count is shown as "at least".
const dashboardScan = 10_000

type dashboardData struct {
	InForce       directory.PolicyVersion
	Users         int
	Disabled      int
	Logins        []countRow // by method: successes and failures
	Blocks        []countRow // by rule
	Since         time.Time
	LoginsCapped  bool
	BlocksCapped  bool
	FailureCapped bool
}

type countRow struct {
	Name            string
	Count, Failures int
}

// dashboard shows the version in force, the users, and the last day's
// logins and network blocks, counted from the audit log (the metrics
// count the same events, but per replica and since its start).
func (p *Pages) dashboard(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	ctx := r.Context()
	dd := &dashboardData{Since: p.o.Now().Add(-24 * time.Hour)}
	pv, err := p.o.Admin.Policy(ctx)
	if err != nil && !errors.Is(err, admin.ErrNoPolicy) {
		p.fail(w, r, d, err)
		return
	}
	dd.InForce = pv
	users, err := p.o.Admin.Users(ctx)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	dd.Users = len(users)
	for _, u := range users {
		if u.Disabled {
			dd.Disabled++
		}
	}
	read := func(event string) ([]audit.Event, bool, error) {
		evs, err := p.o.Admin.AuditAll(ctx, admin.AuditFilter{Event: event, Since: dd.Since}, dashboardScan)
		return evs, len(evs) == dashboardScan, err
	}
	ok, okCapped, err := read(audit.LoginSuccess)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	bad, badCapped, err := read(audit.LoginFailure)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	blocks, blocksCapped, err := read(audit.NetworkBlocked)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	dd.LoginsCapped, dd.FailureCapped, dd.BlocksCapped = okCapped, badCapped, blocksCapped
	logins := map[string]*countRow{}
	row := func(m map[string]*countRow, name string) *countRow {
		if m[name] == nil {
			m[name] = &countRow{Name: name}
		}
		return m[name]
	}
	for _, e := range ok {
		row(logins, loginMethod(e)).Count++
	}
	for _, e := range bad {
		row(logins, loginMethod(e)).Failures++
	}
	byRule := map[string]*countRow{}
	for _, e := range blocks {
		row(byRule, cmp.Or(e.Detail["rule"], "unknown")).Count++
	}
	dd.Logins, dd.Blocks = sortedRows(logins), sortedRows(byRule)
	d.Title, d.Section, d.Dashboard = "Admin console", "dashboard", dd
	p.render(w, r, http.StatusOK, "dashboard.html", d)
}

// loginMethod names a login's first factor as the metrics do: a provider's
// id for a federated login, else the first method of "password+totp".
func loginMethod(e audit.Event) string {
	if pr := e.Detail["provider"]; pr != "" {
		return pr
	}
	first, _, _ := strings.Cut(e.Detail["method"], "+")
	return cmp.Or(first, "password")
}

func sortedRows(m map[string]*countRow) []countRow {
	var out []countRow
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, *m[k])
	}
	return out
}

type auditData struct {
	User, Event   string
	Since, Until  string // as the form shows them
	Events        []admin.AuditRecord
	Names         []string // the event filter's choices
	Older, Newest string
	CSV, NDJSON   string
}

// auditPage is the audit log, newest first, a page at a time (the
// `before` cursor), with exports through the JSON API under the same
// filters.
func (p *Pages) auditPage(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	q := r.URL.Query()
	ad := &auditData{User: strings.TrimSpace(q.Get("user")), Event: strings.TrimSpace(q.Get("event")), Names: admin.EventNames()}
	f := admin.AuditFilter{Username: ad.User, Event: ad.Event}
	var problems []string
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := strings.TrimSpace(q.Get(t.name))
		if v == "" {
			continue
		}
		when, err := parseWhen(v)
		if err != nil {
			problems = append(problems, t.name+": write a time as 2026-12-01T09:30 (UTC) or 2026-12-01")
			continue
		}
		*t.dst = when
	}
	ad.Since, ad.Until = formWhen(f.Since), formWhen(f.Until)
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			problems = append(problems, "before: follow the Older events link")
		}
		f.Before = n
	}
	d.Title, d.Section, d.Audit = "Audit log", "audit", ad
	if len(problems) > 0 {
		d.Error, d.Problems = "The filter was not accepted.", problems
		p.render(w, r, http.StatusBadRequest, "audit.html", d)
		return
	}
	events, err := p.o.Admin.Audit(r.Context(), f)
	if err != nil {
		if status, ok := p.refusal(w, r, d, err); ok {
			p.render(w, r, status, "audit.html", d)
		}
		return
	}
	for _, e := range events {
		ad.Events = append(ad.Events, admin.NewAuditRecord(e))
	}
	filter := url.Values{}
	for k, v := range map[string]string{"user": ad.User, "event": ad.Event, "since": rfc3339(f.Since), "until": rfc3339(f.Until)} {
		if v != "" {
			filter.Set(k, v)
		}
	}
	if n := len(events); n == directory.AuditPageDefault {
		older := maps.Clone(filter)
		older.Set("before", strconv.FormatInt(events[n-1].ID, 10))
		ad.Older = pagesPath + "/audit?" + older.Encode()
	}
	if f.Before > 0 {
		ad.Newest = pagesPath + "/audit?" + filter.Encode()
	}
	for format, dst := range map[string]*string{"csv": &ad.CSV, "ndjson": &ad.NDJSON} {
		v := maps.Clone(filter)
		v.Set("format", format)
		*dst = "/.gatehouse/api/v1/admin/audit?" + v.Encode()
	}
	p.render(w, r, http.StatusOK, "audit.html", d)
}

// parseWhen reads a filter time: what a datetime-local field sends
// (taken as UTC), a date, or RFC 3339.
func parseWhen(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Parse(time.RFC3339, v)
}

func formWhen(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04")
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// confirmPhrase is what "log out everyone" must be confirmed with, typed
// (the API asks for the same words).
const confirmPhrase = "log out everyone"

type logoutAllData struct {
	Phrase string
	Done   *admin.LogoutAllResult
}

func (p *Pages) logoutAllPage(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	d.Title, d.Section, d.LogoutAll = "Log out everyone", "logout-all", &logoutAllData{Phrase: confirmPhrase}
	p.render(w, r, http.StatusOK, "logoutall.html", d)
}

// logoutAll ends every session and device, the admin's own included, and
// with the box ticked revokes every API key.
func (p *Pages) logoutAll(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	d.Title, d.Section, d.LogoutAll = "Log out everyone", "logout-all", &logoutAllData{Phrase: confirmPhrase}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != confirmPhrase {
		d.Error = `Nothing was done: type "` + confirmPhrase + `" in the box to confirm.`
		p.render(w, r, http.StatusBadRequest, "logoutall.html", d)
		return
	}
	res, err := p.o.Admin.LogoutAll(r.Context(), c.Identity.Username, r.PostForm.Get("include_api_keys") == "on")
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	d.LogoutAll.Done = &res
	p.render(w, r, http.StatusOK, "logoutall.html", d)
}
