package console

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// NetworkExplainer is the running gateway's network guard, with the lists
// it enforces right now (the CLI's check-ip builds its own from the
// configuration; an admin asking the console wants this replica's view).
// cmd/gatehouse adapts auth/network's guard to it.
type NetworkExplainer interface {
	Explain(addr netip.Addr, role, userID string, now time.Time) NetworkReport
}

// Verdict is one network decision and, when it refuses, the rule.
type Verdict struct {
	Allow  bool   `json:"allow"`
	Rule   string `json:"rule,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// NetworkReport is the "can U log in from A, and if not, why" answer: the
// two decisions, then each fact the guard weighed.
type NetworkReport struct {
	Address          string   `json:"address"`
	User             string   `json:"user,omitempty"`
	Role             string   `json:"role,omitempty"`
	Login            Verdict  `json:"login"`
	Request          Verdict  `json:"request"`
	PolicyVersion    int64    `json:"policy_version"`
	BlockTor         string   `json:"block_tor"`
	BlockedAnonymous []string `json:"block_anonymous"`
	DenyListed       bool     `json:"deny_listed"`
	TorList          string   `json:"tor_list"`
	TorExit          bool     `json:"tor_exit"`
	AnonymousDB      string   `json:"anonymous_db"`
	Anonymous        []string `json:"anonymous"`
	OrgAllowlist     string   `json:"org_allowlist"`
	RoleAllowlist    string   `json:"role_allowlist"`
	UserAllowlist    string   `json:"user_allowlist"`
}

// explainNetwork answers GET …/explain/network?address=A[&user=U].
func (a *API) explainNetwork(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	if a.o.Network == nil {
		apiError(w, http.StatusNotFound, "not_found", "This gateway has no network guard.")
		return
	}
	q := r.URL.Query()
	addr, err := netip.ParseAddr(strings.TrimSpace(q.Get("address")))
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "address must be an IP address, e.g. ?address=203.0.113.7.")
		return
	}
	var role, userID, username string
	if name := q.Get("user"); name != "" {
		u, err := a.o.Admin.User(r.Context(), name)
		if err != nil {
			fail(w, err)
			return
		}
		role, userID, username = u.Role, u.ID, u.Username
	}
	out := a.o.Network.Explain(addr, role, userID, a.o.Now())
	out.User, out.Role = username, role
	web.JSON(w, http.StatusOK, out)
}

// accessOut is "can U reach METHOD PATH": the template in force and why,
// the route rule that matched and what it needs.
type accessOut struct {
	User           string `json:"user"`
	Role           string `json:"role"`
	Method         string `json:"method"`
	Path           string `json:"path"`
	Template       string `json:"template"`
	TemplateSource string `json:"template_source"`
	TemplateExists bool   `json:"template_exists"`
	CanonicalPath  bool   `json:"canonical_path"`
	Rule           *int   `json:"rule,omitempty"`
	Route          string `json:"route,omitempty"`
	Feature        string `json:"feature,omitempty"`
	Default        string `json:"default"`
	Allowed        bool   `json:"allowed"`
}

// explainAccess answers GET …/explain/access?user=U&method=M&path=P.
func (a *API) explainAccess(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	q := r.URL.Query()
	user, method, path := q.Get("user"), strings.ToUpper(q.Get("method")), q.Get("path")
	if method == "" {
		method = http.MethodGet
	}
	if user == "" || !strings.HasPrefix(path, "/") {
		apiError(w, http.StatusBadRequest, "bad_request", "Send ?user=U&method=GET&path=/some/path.")
		return
	}
	x, err := a.o.Admin.Explain(r.Context(), user, method, path)
	if err != nil {
		fail(w, err)
		return
	}
	out := accessOut{User: x.User.Username, Role: x.User.Role, Method: method, Path: path, Template: x.Template,
		TemplateSource: x.TemplateSource, TemplateExists: x.TemplateExists, CanonicalPath: x.CleanPath,
		Route: x.Route, Feature: x.Feature, Default: x.Default, Allowed: x.Allowed}
	if x.Rule >= 0 {
		out.Rule = &x.Rule
	}
	web.JSON(w, http.StatusOK, out)
}
