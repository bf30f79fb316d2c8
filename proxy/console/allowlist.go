package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
)

// A user's own network allowlist, read and written by the API as
// [{cidr, description}] and by the user page's form as the policy
// editor's lists are: an entry a line, a CIDR and then its description.

// allowEntryJSON is one entry of a user's allowlist in the API.
type allowEntryJSON struct {
	CIDR        string `json:"cidr"`
	Description string `json:"description"`
}

func allowlistJSON(l directory.AllowList) []allowEntryJSON {
	out := make([]allowEntryJSON, len(l))
	for i, e := range l {
		out[i] = allowEntryJSON(e)
	}
	return out
}

// setAllowlist replaces the user's allowlist: {"allowlist": [{cidr,
// description}, …]}, or {"cidrs": [...]} as before descriptions (each
// entry then without one).
func (a *API) setAllowlist(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		Allowlist *[]allowEntryJSON `json:"allowlist"`
		CIDRs     *[]string         `json:"cidrs"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	var list directory.AllowList
	switch {
	case in.Allowlist != nil && in.CIDRs != nil:
		apiError(w, http.StatusBadRequest, "bad_request", "Send allowlist or cidrs, not both.")
		return
	case in.Allowlist != nil:
		for _, e := range *in.Allowlist {
			list = append(list, directory.AllowEntry(e))
		}
	case in.CIDRs != nil:
		for _, c := range *in.CIDRs {
			list = append(list, directory.AllowEntry{CIDR: c})
		}
	default:
		// Absent is not "clear": an empty list says that.
		apiError(w, http.StatusBadRequest, "bad_request",
			`Send {"allowlist": [{"cidr": "10.1.0.0/16", "description": "Bangalore office"}, …]}; an empty list removes the user's allowlist.`)
		return
	}
	u, _, err := a.o.Admin.SetAllowedIPs(r.Context(), actor, r.PathValue("username"), list)
	if err != nil {
		if in.CIDRs != nil {
			err = cidrsFields(err)
		}
		fail(w, err)
		return
	}
	a.answerUser(w, r, http.StatusOK, u.Username)
}

// cidrsFields names the problems of a {"cidrs": [...]} request by that
// body's keys: cidrs[1] rather than allowlist[1].cidr.
func cidrsFields(err error) error {
	var inv *admin.InvalidError
	if !errors.As(err, &inv) {
		return err
	}
	out := &admin.InvalidError{}
	for _, p := range inv.Problems {
		var i int
		if _, scanErr := fmt.Sscanf(p.Field, "allowlist[%d].cidr", &i); scanErr == nil {
			p.Field = fmt.Sprintf("cidrs[%d]", i)
		}
		out.Problems = append(out.Problems, p)
	}
	return out
}

// setUserAllowlist is the user page's allowlist form: an entry a line.
func (p *Pages) setUserAllowlist(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	list := directory.AllowList{}
	for _, e := range allowEntries(r.PostForm.Get("allowlist")) {
		list = append(list, directory.AllowEntry(e))
	}
	done := "allowlist_set"
	if len(list) == 0 {
		done = "allowlist_cleared"
	}
	p.userOp(done, func(r *http.Request, actor, name string) error {
		_, _, err := p.o.Admin.SetAllowedIPs(r.Context(), actor, name, list)
		return err
	})(w, r, c, d)
}

// allowlistText is the user page's allowlist field: the list as stored,
// or, when the page answers a refused allowlist form, what was typed.
func allowlistText(r *http.Request, l directory.AllowList) string {
	if typed, ok := r.PostForm["allowlist"]; ok && r.Method == http.MethodPost {
		return strings.Join(typed, "\n")
	}
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = strings.TrimSpace(e.CIDR + " " + e.Description)
	}
	return strings.Join(lines, "\n")
}
