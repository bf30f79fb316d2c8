package console

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy"
)

// historyShown is how many versions the history page lists.
const historyShown = 20

func (p *Pages) mountPolicy(m *proxy.Mux) {
	m.Handle("GET "+pagesPath+"/policy", proxy.FullSession, p.view(p.policyPage))
	// Preview stores nothing, so it needs no re-authentication; it is a
	// POST because a document does not belong in a URL.
	m.Handle("POST "+pagesPath+"/policy/preview", proxy.FullSession, p.view(p.previewPolicy))
	m.Handle("POST "+pagesPath+"/policy", proxy.FullSession, p.change(p.savePolicy))
	m.Handle("GET "+pagesPath+"/policy/history", proxy.FullSession, p.view(p.historyPage))
	m.Handle("GET "+pagesPath+"/policy/rollback", proxy.FullSession, p.view(p.rollbackPage))
	m.Handle("POST "+pagesPath+"/policy/rollback", proxy.FullSession, p.change(p.rollback))
}

type policyData struct {
	InForce directory.PolicyVersion
	Form    policyForm
	// Plan is the preview of the form's change; Patch is the document
	// Save posts with Plan.From.Version, the version it was planned on.
	Plan  *admin.PolicyPlan
	Patch string
	// Unsaved is a change refused because the policy moved on, shown so
	// the admin can make it again.
	Unsaved string
}

// current is the version in force and its policy (the defaults before
// any version is stored).
func (p *Pages) current(r *http.Request) (directory.PolicyVersion, policy.Policy, error) {
	pv, err := p.o.Admin.Policy(r.Context())
	if errors.Is(err, admin.ErrNoPolicy) {
		return pv, policy.Default(), nil
	}
	if err != nil {
		return pv, policy.Policy{}, err
	}
	pol, err := policy.Parse(pv.Document)
	return pv, pol, err
}

func (p *Pages) policyPage(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	if v, err := strconv.ParseInt(r.URL.Query().Get("saved"), 10, 64); err == nil && v > 0 {
		d.Notice = "Saved: version " + strconv.FormatInt(v, 10) + " is in force; every gateway applies it within a second."
	}
	p.renderPolicy(w, r, d, http.StatusOK, nil)
}

// renderPolicy shows the form filled from the version in force, or f
// when given (a preview keeps what the admin typed).
func (p *Pages) renderPolicy(w http.ResponseWriter, r *http.Request, d *pageData, status int, pd *policyData) {
	pv, pol, err := p.current(r)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	if pd == nil {
		pd = &policyData{Form: formFromPolicy(pol, p.o.Providers)}
	}
	pd.InForce = pv
	d.Title, d.Section, d.Policy = "Login policy", "policy", pd
	p.render(w, r, status, "policy.html", d)
}

func (p *Pages) previewPolicy(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	if err := parseForm(w, r); err != nil {
		p.g.Render().Error(w, r, err)
		return
	}
	_, cur, err := p.current(r)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	pd := &policyData{Form: parsePolicyForm(r.PostForm, cur, p.o.Providers)}
	doc, err := pd.Form.patch(cur)
	if err != nil {
		d.Error, d.Problems = "That was not accepted; nothing was changed.", []string{err.Error()}
		p.renderPolicy(w, r, d, http.StatusUnprocessableEntity, pd)
		return
	}
	plan, err := p.o.Admin.PlanPolicy(r.Context(), doc)
	if err != nil {
		if status, ok := p.refusal(w, r, d, err); ok {
			p.renderPolicy(w, r, d, status, pd)
		}
		return
	}
	pd.Plan, pd.Patch = &plan, string(doc)
	if len(plan.Diff) == 0 {
		d.Notice = "Nothing would change: the policy in force already says this."
	}
	p.renderPolicy(w, r, d, http.StatusOK, pd)
}

// savePolicy stores the previewed document, only over the version it was
// planned against: another admin's save in between is a conflict, never
// overwritten.
func (p *Pages) savePolicy(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	doc := r.PostForm.Get("document")
	version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || doc == "" {
		d.Error = "Preview the change first: Save stores what a preview showed."
		p.renderPolicy(w, r, d, http.StatusBadRequest, nil)
		return
	}
	plan, err := p.o.Admin.CheckPolicy(r.Context(), []byte(doc))
	if err == nil && plan.From.Version != version {
		err = admin.ErrPolicyChanged
	}
	var ch admin.PolicyChange
	if err == nil {
		ch, err = p.o.Admin.ApplyPolicy(r.Context(), c.Identity.Username, plan, map[string]string{"via": "admin_console"})
	}
	p.policyStored(w, r, d, ch, doc, err)
}

// policyStored answers a save or rollback: back to the policy page when
// stored, the refusal (a conflict first of all) when not.
func (p *Pages) policyStored(w http.ResponseWriter, r *http.Request, d *pageData, ch admin.PolicyChange, doc string, err error) {
	if err == nil {
		http.Redirect(w, r, pagesPath+"/policy?saved="+strconv.FormatInt(ch.To.Version, 10), http.StatusSeeOther)
		return
	}
	if status, ok := p.refusal(w, r, d, err); ok {
		p.renderPolicy(w, r, d, status, &policyData{Form: p.formNow(r), Unsaved: doc})
	}
}

// formNow is the form of the version in force now (zero on an error,
// which renderPolicy reports itself).
func (p *Pages) formNow(r *http.Request) policyForm {
	_, pol, _ := p.current(r)
	return formFromPolicy(pol, p.o.Providers)
}

type historyData struct {
	Versions []historyEntry
}

type historyEntry struct {
	directory.PolicyVersion
	Diff    []string
	Current bool
}

func (p *Pages) historyPage(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	h, err := p.o.Admin.PolicyHistory(r.Context(), historyShown+1)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	hd := &historyData{}
	for i, pv := range h {
		if i == historyShown {
			break
		}
		var prev []byte
		if i+1 < len(h) {
			prev = h[i+1].Document
		}
		hd.Versions = append(hd.Versions, historyEntry{PolicyVersion: pv, Diff: admin.DiffLines(string(prev), string(pv.Document)), Current: i == 0})
	}
	d.Title, d.Section, d.History = "Policy history", "policy", hd
	p.render(w, r, http.StatusOK, "history.html", d)
}

type rollbackData struct {
	To   int64
	Plan admin.PolicyPlan
}

// rollbackPage shows what restoring a version would change, before the
// admin confirms.
func (p *Pages) rollbackPage(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	to, err := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
	if err != nil || to <= 0 {
		p.fail(w, r, d, admin.ErrNoPolicy)
		return
	}
	plan, err := p.o.Admin.PlanRollback(r.Context(), to)
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	d.Title, d.Section, d.Rollback = "Roll back to version "+strconv.FormatInt(to, 10), "policy", &rollbackData{To: to, Plan: plan}
	p.render(w, r, http.StatusOK, "rollback.html", d)
}

// rollback stores version to again as the next version, only over the
// version the admin previewed the rollback against.
func (p *Pages) rollback(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	to, err1 := strconv.ParseInt(r.PostForm.Get("to"), 10, 64)
	version, err2 := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err1 != nil || err2 != nil || to <= 0 {
		p.fail(w, r, d, admin.ErrNoPolicy)
		return
	}
	plan, err := p.o.Admin.CheckRollback(r.Context(), to)
	if err == nil && plan.From.Version != version {
		err = admin.ErrPolicyChanged
	}
	var ch admin.PolicyChange
	if err == nil {
		ch, err = p.o.Admin.ApplyPolicy(r.Context(), c.Identity.Username, plan,
			map[string]string{"via": "admin_console", "rollback_to": strconv.FormatInt(to, 10)})
	}
	p.policyStored(w, r, d, ch, "", err)
}
