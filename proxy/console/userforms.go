package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/proxy"
)

// newUserPath is the create form's page. It is not under /users/, where
// a user named "new" would collide with it.
const newUserPath = pagesPath + "/new-user"

// mountUserForms adds the forms that create, edit, set a password for and
// delete a user: the same auth/admin operations as the API's.
func (p *Pages) mountUserForms(m *proxy.Mux) {
	m.Handle("GET "+newUserPath, proxy.FullSession, p.view(p.newUserPage))
	m.Handle("POST "+newUserPath, proxy.FullSession, p.change(p.createUser))
	u := "POST " + pagesPath + "/users/{username}"
	m.Handle(u+"/edit", proxy.FullSession, p.change(p.editUser))
	m.Handle(u+"/password", proxy.FullSession, p.change(p.setPassword))
	m.Handle(u+"/delete", proxy.FullSession, p.change(p.deleteUser))
}

// newUserData is the create form as it was sent (never the password).
type newUserData struct {
	Username, Email, DisplayName, Role, Groups string
	MustChange                                 bool
	Roles                                      []string
}

func (p *Pages) newUserPage(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, d *pageData) {
	p.renderNewUser(w, r, d, &newUserData{MustChange: true}, http.StatusOK)
}

func (p *Pages) renderNewUser(w http.ResponseWriter, r *http.Request, d *pageData, nu *newUserData, status int) {
	roles, err := p.o.Admin.KnownRoles(r.Context())
	if err != nil {
		p.fail(w, r, d, err)
		return
	}
	nu.Roles = roles
	d.Title, d.Section, d.NewUser = "New user", "users", nu
	p.render(w, r, status, "newuser.html", d)
}

func (p *Pages) createUser(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	f := r.PostForm
	nu := &newUserData{Username: f.Get("username"), Email: f.Get("email"), DisplayName: f.Get("display_name"),
		Role: f.Get("role"), Groups: f.Get("groups"), MustChange: f.Get("must_change") == "true"}
	in := admin.NewUser{Username: nu.Username, Email: nu.Email, Role: nu.Role, DisplayName: nu.DisplayName,
		Groups: splitList(nu.Groups), MustChange: nu.MustChange}
	if pw := f.Get("password"); pw != "" {
		if pw != f.Get("confirm_password") {
			d.Error = "The two passwords are not the same; nothing was changed."
			p.renderNewUser(w, r, d, nu, http.StatusUnprocessableEntity)
			return
		}
		in.Password = &pw
	}
	u, err := p.o.Admin.AddUser(r.Context(), c.Identity.Username, in)
	if err != nil {
		if status, ok := p.refusal(w, r, d, err); ok {
			p.renderNewUser(w, r, d, nu, status)
		}
		return
	}
	http.Redirect(w, r, pagesPath+"/users/"+url.PathEscape(u.Username)+"?done=created", http.StatusSeeOther)
}

func (p *Pages) editUser(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	f := r.PostForm
	email, display, role := f.Get("email"), f.Get("display_name"), f.Get("role")
	groups := splitList(f.Get("groups"))
	p.userOp("edited", func(r *http.Request, actor, name string) error {
		_, _, err := p.o.Admin.EditUser(r.Context(), actor, name, admin.UserEdit{Email: &email, DisplayName: &display, Role: &role, Groups: &groups})
		return err
	})(w, r, c, d)
}

// errPasswordsDiffer and errNoPassword are form mistakes shown on the
// user's page as the operation's refusals are.
var (
	errPasswordsDiffer = &admin.InvalidError{Problems: []admin.FieldProblem{{Field: "password", Message: "the two passwords are not the same"}}}
	errNoPassword      = &admin.InvalidError{Problems: []admin.FieldProblem{{Field: "password", Message: "enter the new password (twice)"}}}
	errNotConfirmed    = &admin.InvalidError{Problems: []admin.FieldProblem{{Field: "confirm", Message: "type the username to confirm the deletion"}}}
)

func (p *Pages) setPassword(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	f := r.PostForm
	pw, must := f.Get("password"), f.Get("must_change") == "true"
	done := "password_set"
	if must {
		done = "password_set_must_change"
	}
	p.userOp(done, func(r *http.Request, actor, name string) error {
		switch {
		case pw == "":
			return errNoPassword
		case pw != f.Get("confirm_password"):
			return errPasswordsDiffer
		}
		_, err := p.o.Admin.SetPassword(r.Context(), actor, name, pw, must)
		return err
	})(w, r, c, d)
}

// deleteUser needs the username typed again: a deletion takes the user's
// factors, keys and devices with it and cannot be undone.
func (p *Pages) deleteUser(w http.ResponseWriter, r *http.Request, c *proxy.Caller, d *pageData) {
	name := r.PathValue("username")
	err := errNotConfirmed
	if strings.EqualFold(strings.TrimSpace(r.PostForm.Get("confirm")), name) {
		var err2 error
		done := "deleted"
		if r.PostForm.Get("erase") == "true" {
			done = "erased"
			_, err2 = p.o.Admin.EraseUser(r.Context(), c.Identity.Username, name)
		} else {
			_, err2 = p.o.Admin.DeleteUser(r.Context(), c.Identity.Username, name)
		}
		if err2 == nil {
			http.Redirect(w, r, pagesPath+"/users?done="+done, http.StatusSeeOther)
			return
		}
		var inv *admin.InvalidError
		if !errors.As(err2, &inv) {
			p.userOp("", func(*http.Request, string, string) error { return err2 })(w, r, c, d)
			return
		}
		err = inv
	}
	p.userOp("", func(*http.Request, string, string) error { return err })(w, r, c, d)
}

// splitList reads a comma-separated form field; blanks are dropped.
func splitList(s string) []string {
	out := []string{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
