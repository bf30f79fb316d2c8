// Package accessapi answers the CRM's record access questions over HTTP:
// POST /.gatehouse/api/v1/access/check (one check, or a batch of up to
// 1,000 answered in order) and POST /.gatehouse/api/v1/access/scope (which
// owners' records a user may act on, for list screens). The decisions are
// auth/records'; this package authenticates the asker, bounds the input,
// and counts the answers. Nothing here logs record contents.
package accessapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gatehouse-auth/gatehouse/auth/records"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// MaxBatch is the most checks one request may carry.
const MaxBatch = 1000

// maxBody bounds a request body: a full batch with generous facts.
const maxBody = 8 << 20

// Source is where the answers come from: the policy set in force and the
// replica's copy of the users and groups (auth/directory/watch).
type Source interface {
	Records() (*records.PolicySet, *records.People)
}

// API is the route set.
type API struct {
	src   Source
	token [32]byte // SHA-256 of the service token
	has   bool
	log   *slog.Logger

	allow, deny, refused atomic.Uint64
}

// New returns the API. serviceToken empty means only sessions may ask,
// each about its own user.
func New(src Source, serviceToken string, log *slog.Logger) *API {
	a := &API{src: src, log: log}
	if serviceToken != "" {
		a.token, a.has = sha256.Sum256([]byte(serviceToken)), true
	}
	return a
}

// Mount implements proxy.Routes. The routes take a session when there is
// one (Anyone), and the service token otherwise.
func (a *API) Mount(m *proxy.Mux) {
	m.Handle("POST /.gatehouse/api/v1/access/check", proxy.Anyone, a.check)
	m.Handle("POST /.gatehouse/api/v1/access/scope", proxy.Anyone, a.scope)
}

// WriteMetrics writes the decision counters.
func (a *API) WriteMetrics(w io.Writer) {
	fmt.Fprintln(w, "# HELP gatehouse_access_decisions_total Record access decisions answered by the access API, by result.")
	fmt.Fprintln(w, "# TYPE gatehouse_access_decisions_total counter")
	fmt.Fprintf(w, "gatehouse_access_decisions_total{result=\"allow\"} %d\n", a.allow.Load())
	fmt.Fprintf(w, "gatehouse_access_decisions_total{result=\"deny\"} %d\n", a.deny.Load())
	fmt.Fprintln(w, "# HELP gatehouse_access_requests_refused_total Access API requests refused before any decision (authentication, input).")
	fmt.Fprintln(w, "# TYPE gatehouse_access_requests_refused_total counter")
	fmt.Fprintf(w, "gatehouse_access_requests_refused_total %d\n", a.refused.Load())
}

// asker is who is asking: the service (any user) or one user.
type asker struct {
	service bool
	userID  string
}

func (a *API) fail(w http.ResponseWriter, status int, code, msg string) {
	a.refused.Add(1)
	web.JSON(w, status, map[string]string{"error": code, "message": msg})
}

// authenticate accepts the service token in Authorization, else a
// complete session. A wrong token is refused even when a session is also
// present: a credential that does not verify is never ignored.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (asker, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || !a.has || subtle.ConstantTimeCompare(sum[:], a.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			a.fail(w, http.StatusUnauthorized, "invalid_token", "the bearer token is not the access API's service token")
			return asker{}, false
		}
		return asker{service: true}, true
	}
	c := proxy.CallerOf(r)
	if !c.Complete() {
		a.fail(w, http.StatusUnauthorized, "unauthenticated", "sign in, or send the service token as Authorization: Bearer")
		return asker{}, false
	}
	return asker{userID: c.Identity.UserID}, true
}

// decode reads a JSON body strictly. Requiring application/json also
// keeps cross-site forms out: a browser sends that type cross-origin
// only after a CORS preflight, which the gateway does not grant.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		a.fail(w, http.StatusUnsupportedMediaType, "bad_request", "send the body as Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.fail(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("the body is larger than %d bytes", maxBody))
			return false
		}
		a.fail(w, http.StatusBadRequest, "bad_request", "the body is not the expected JSON: "+err.Error())
		return false
	}
	if dec.More() {
		a.fail(w, http.StatusBadRequest, "bad_request", "the body holds more than one JSON value")
		return false
	}
	return true
}

// snapshot returns the policy set and people, or answers 503.
func (a *API) snapshot(w http.ResponseWriter) (*records.PolicySet, *records.People, bool) {
	ps, people := a.src.Records()
	if ps == nil || people == nil {
		a.fail(w, http.StatusServiceUnavailable, "unavailable", "the access policies are not loaded yet")
		return nil, nil, false
	}
	return ps, people, true
}

// resolve finds the user a check is about and applies the asker's limit:
// a session asks only about its own user.
func resolve(people *records.People, who asker, user string) (*records.Person, string) {
	x := people.Resolve(user)
	switch {
	case user == "":
		return nil, "missing_user"
	case !who.service && (x == nil || x.ID != who.userID):
		return nil, "forbidden"
	case x == nil:
		return nil, "unknown_user"
	}
	return x, ""
}

type checkBody struct {
	records.Check
	Checks []records.Check `json:"checks"`
}

// Result is one answer of a batch; Error is set (and Allow false) when
// the check could not be decided for that one item.
type Result struct {
	records.Decision
	Error string `json:"error,omitempty"`
}

// begin authenticates the asker and decodes the body into v; it answers
// the request itself when either fails.
func (a *API) begin(w http.ResponseWriter, r *http.Request, v any) (asker, bool) {
	who, ok := a.authenticate(w, r)
	return who, ok && a.decode(w, r, v)
}

func (a *API) check(w http.ResponseWriter, r *http.Request) {
	var body checkBody
	who, ok := a.begin(w, r, &body)
	if !ok {
		return
	}
	batch := body.Checks != nil
	if batch && (body.User != "" || body.Action != "" || body.Resource.Type != "") {
		a.fail(w, http.StatusBadRequest, "bad_request", `send either one check or {"checks": [...]}, not both`)
		return
	}
	checks := body.Checks
	if !batch {
		checks = []records.Check{body.Check}
	}
	if len(checks) > MaxBatch {
		a.fail(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("%d checks; at most %d per request", len(checks), MaxBatch))
		return
	}
	for i := range checks {
		if err := checks[i].Validate(); err != nil {
			msg := err.Error()
			if batch {
				msg = fmt.Sprintf("checks[%d]: %s", i, msg)
			}
			a.fail(w, http.StatusBadRequest, "bad_request", msg)
			return
		}
	}
	ps, people, ok := a.snapshot(w)
	if !ok {
		return
	}
	results := make([]Result, len(checks))
	for i := range checks {
		c := &checks[i]
		x, problem := resolve(people, who, c.User)
		if problem != "" {
			if !batch {
				a.failProblem(w, problem)
				return
			}
			results[i] = Result{Decision: records.Decision{Reasons: []string{}}, Error: problem}
			a.deny.Add(1)
			continue
		}
		d, err := ps.Decide(people, x, c.Action, &c.Resource)
		if err != nil {
			// A policy that errors is an operator's problem; the asker
			// gets a refusal, never a guess.
			a.log.ErrorContext(r.Context(), "access decision failed", "error", err)
			a.fail(w, http.StatusInternalServerError, "policy_error", "the access policies failed to evaluate; the operator has been told")
			return
		}
		if d.Allow {
			a.allow.Add(1)
		} else {
			a.deny.Add(1)
		}
		results[i] = Result{Decision: d}
	}
	if !batch {
		web.JSON(w, http.StatusOK, results[0].Decision)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"results": results})
}

// failProblem answers a user the asker may not ask about or that does
// not exist.
func (a *API) failProblem(w http.ResponseWriter, problem string) {
	status := map[string]int{"forbidden": http.StatusForbidden, "unknown_user": http.StatusNotFound}[problem]
	if status == 0 {
		status = http.StatusBadRequest
	}
	a.fail(w, status, problem, problemMessage[problem])
}

var problemMessage = map[string]string{
	"missing_user": "name the user the check is about",
	"forbidden":    "a session may only ask about its own user; the CRM's backend uses the service token",
	"unknown_user": "no such user",
}

type scopeBody struct {
	User   string `json:"user"`
	Action string `json:"action"`
	Type   string `json:"type"`
}

func (a *API) scope(w http.ResponseWriter, r *http.Request) {
	var body scopeBody
	who, ok := a.begin(w, r, &body)
	if !ok {
		return
	}
	ps, people, ok := a.snapshot(w)
	if !ok {
		return
	}
	x, problem := resolve(people, who, body.User)
	if problem != "" {
		a.failProblem(w, problem)
		return
	}
	s, err := ps.Scope(people, x, body.Action, body.Type)
	if errors.Is(err, records.ErrBadCheck) {
		a.fail(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		a.log.ErrorContext(r.Context(), "access scope failed", "error", err)
		a.fail(w, http.StatusInternalServerError, "policy_error", "the access policies failed to evaluate; the operator has been told")
		return
	}
	web.JSON(w, http.StatusOK, s)
}
