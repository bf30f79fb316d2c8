package console

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// reauthData is the re-authentication form: where it returns, and the
// change it carries when a change was refused for want of it.
type reauthData struct {
	RD    string
	Carry *carry
}

// carry is a refused change's form, carried through re-authentication
// as hidden fields and offered again once the admin confirmed: without
// script the browser cannot repeat the POST, and a policy draft must not
// be lost to a password prompt.
type carry struct {
	Action string
	Fields []field
}

type field struct{ Name, Value string }

// carryPrefix names the carried fields in the re-authentication form, so
// they cannot clash with its own.
const carryPrefix = "carry:"

// carried is the refused change r as a carry.
func carried(r *http.Request) *carry {
	c := &carry{Action: r.URL.Path}
	for _, name := range slices.Sorted(maps.Keys(r.PostForm)) {
		if secretField(name) {
			// A password typed into a change is not written back into
			// a page, not even a hidden field: it is typed again.
			continue
		}
		for _, v := range r.PostForm[name] {
			c.Fields = append(c.Fields, field{name, v})
		}
	}
	return c
}

// secretField names the form fields never carried through the
// re-authentication page.
func secretField(name string) bool {
	return name == "password" || name == "confirm_password" || name == "new_password"
}

// carriedFrom reads a carry back from the re-authentication form; nil
// when there is none or it does not name a console path.
func carriedFrom(r *http.Request) *carry {
	action := r.PostForm.Get("carry_action")
	if action == "" || !adminPath(action) || strings.Contains(action, "?") {
		return nil
	}
	c := &carry{Action: action}
	for _, name := range slices.Sorted(maps.Keys(r.PostForm)) {
		if n, ok := strings.CutPrefix(name, carryPrefix); ok {
			for _, v := range r.PostForm[name] {
				c.Fields = append(c.Fields, field{n, v})
			}
		}
	}
	return c
}

func (p *Pages) reauthForm(w http.ResponseWriter, r *http.Request, d *pageData, status int, rd string, c *carry, errMsg string) {
	d.Title, d.Section, d.Error = "Confirm it is you", "", errMsg
	d.Reauth = &reauthData{RD: rd, Carry: c}
	p.render(w, r, status, "reauth.html", d)
}

// reauthPage asks for the password or a current code (rd: the console
// page to return to).
func (p *Pages) reauthPage(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	rd := r.URL.Query().Get("rd")
	if !adminPath(rd) {
		rd = pagesPath + "/"
	}
	p.reauthForm(w, r, d, http.StatusOK, rd, nil, "")
}

// reauth checks the admin's own password or code, counted against the
// login lockout, and marks the session re-authenticated for FreshFor in
// the shared store (the API's key, so it holds for both and on every
// replica). Then it returns to rd, or offers the carried change again.
func (p *Pages) reauth(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	if err := parseForm(w, r); err != nil {
		p.g.Render().Error(w, r, err)
		return
	}
	rd := r.PostForm.Get("rd")
	if !adminPath(rd) {
		rd = pagesPath + "/"
	}
	back := carriedFrom(r)
	ctx := r.Context()
	pw, code := r.PostForm.Get("password"), strings.TrimSpace(r.PostForm.Get("code"))
	var err error
	switch {
	case code != "" && p.o.MFA != nil:
		_, err = p.o.MFA.Verify(ctx, c.Identity.UserID, code)
	case pw != "":
		_, err = p.o.Reauth.Authenticate(ctx, c.Identity.Username, pw, c.IP.String())
	default:
		p.reauthForm(w, r, d, http.StatusBadRequest, rd, back, "Enter your password or a current code.")
		return
	}
	switch {
	case errors.Is(err, auth.ErrLockedOut):
		p.reauthForm(w, r, d, http.StatusTooManyRequests, rd, back, "Too many attempts. Try again later.")
		return
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrDisabled):
		p.reauthForm(w, r, d, http.StatusForbidden, rd, back, "That password or code is not right.")
		return
	case err != nil:
		p.g.Render().Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	if _, err := p.o.Counter.IncrBy(ctx, reauthKey(c.ID), 1, FreshFor); err != nil {
		p.g.Render().Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	if back == nil {
		http.Redirect(w, r, rd, http.StatusSeeOther)
		return
	}
	d.Title, d.Fresh = "Confirmed", true
	d.Reauth = &reauthData{RD: rd, Carry: back}
	p.render(w, r, http.StatusOK, "continue.html", d)
}
