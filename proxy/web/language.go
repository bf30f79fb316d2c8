package web

import (
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/proxy/i18n"
)

// LangName is the cookie holding the reader's chosen language. It is a
// gateway cookie (the session cookie's name and "-lang"), so it is
// stripped before a request reaches the upstream and cannot collide with
// an application's own "lang" cookie.
func (c Cookies) LangName() string { return c.name + "-lang" }

// langCookies are the names Language reads, in both the https and the
// development spelling; the value is checked against the supported
// languages whichever one it came from, so at worst a planted cookie
// picks one of them.
var langCookies = []string{"__Host-gatehouse-lang", "gatehouse-lang"}

// Language is the language a page for r is shown in: the reader's choice
// from the switcher when it names a supported language, else the best
// match for Accept-Language, else English.
func Language(r *http.Request) i18n.Language {
	return i18n.Request(r, langCookies...)
}

// langMaxAge keeps the choice for a year; it carries no personal data.
const langMaxAge = 365 * 24 * 60 * 60

// SwitchLanguage answers the switcher's POST (form fields lang and back):
// it sets the language cookie and sends the browser back to the page it
// was on. The mux's cross-origin check runs before it, as for every
// gateway POST; an unsupported language is refused, and a back that is
// not a path on this origin becomes "/" (see PageRedirect).
func (rd *Renderer) SwitchLanguage(c Cookies) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := ParseForm(w, r); e != nil {
			rd.Error(w, r, e)
			return
		}
		l, ok := i18n.Supported(r.PostForm.Get("lang"))
		if !ok {
			rd.Error(w, r, ErrBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: c.LangName(), Value: l.Code, Path: "/", MaxAge: langMaxAge,
			Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, PageRedirect(r.PostForm.Get("back")), http.StatusSeeOther)
	}
}

// switchBack is where the switcher on a page of r returns: the page
// itself for a GET; for the answer to a form, the page showing that
// form. Every account form (keys, devices, factors) is on the account
// page, and its answer must not carry the key or device id of the path:
// a page for someone else's id and one for no such id stay the same.
func switchBack(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	if strings.HasPrefix(r.URL.Path, accountPage+"/") {
		return accountPage
	}
	return r.URL.Path
}

const accountPage = "/.gatehouse/account"
