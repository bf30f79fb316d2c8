package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// cookieJar builds the session cookie in one place, because net/http does
// not enforce cookie prefixes: on https the name is __Host-gatehouse with
// Secure, Path=/ and no Domain (RFC 6265bis); in plain-http development
// mode it is "gatehouse" without Secure, and the server warns at start.
type cookieJar struct {
	name   string
	secure bool
}

func newCookieJar(public *url.URL) cookieJar {
	if public.Scheme == "https" {
		return cookieJar{name: "__Host-gatehouse", secure: true}
	}
	return cookieJar{name: "gatehouse", secure: false}
}

// CookieName returns the session cookie name for a public URL.
func CookieName(public *url.URL) string { return newCookieJar(public).name }

func (c cookieJar) set(w http.ResponseWriter, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: value, Path: "/",
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func (c cookieJar) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// value returns the session cookie's value, "" when absent. When a client
// sends the name twice (a cookie planted by a sibling subdomain on the
// non-__Host- dev name), the request is treated as carrying none.
//
// It scans the Cookie lines itself instead of parsing every cookie
// (r.CookiesNamed allocates each one): this runs on every request.
func (c cookieJar) value(r *http.Request) string {
	var v string
	n := 0
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if len(part) > len(c.name) && part[len(c.name)] == '=' && part[:len(c.name)] == c.name {
				v = part[len(c.name)+1:]
				n++
			}
		}
	}
	if n != 1 || !validCookieValue(v) {
		return ""
	}
	return v
}

// validCookieValue is RFC 6265's cookie-octet set, which net/http also
// enforces; anything else is treated as no cookie.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
