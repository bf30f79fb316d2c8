package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookies builds the gateway's cookies in one place, because net/http
// does not enforce cookie prefixes: on https the session cookie is
// __Host-gatehouse with Secure, Path=/ and no Domain (RFC 6265bis); in
// plain-http development mode it is "gatehouse" without Secure, and the
// server warns at start. Every other gateway cookie is the session
// cookie's name plus a suffix ("-device", "-login"), so one rule finds
// them all when they must be kept from the upstream.
type Cookies struct {
	name   string
	secure bool
}

// NewCookies returns the cookie set for a public URL.
func NewCookies(public *url.URL) Cookies {
	if public.Scheme == "https" {
		return Cookies{name: "__Host-gatehouse", secure: true}
	}
	return Cookies{name: "gatehouse", secure: false}
}

// CookieName returns the session cookie name for a public URL.
func CookieName(public *url.URL) string { return NewCookies(public).name }

// Name is the session cookie's name.
func (c Cookies) Name() string { return c.name }

// Secure reports whether cookies carry the Secure attribute.
func (c Cookies) Secure() bool { return c.secure }

// SetSession sets the session cookie.
func (c Cookies) SetSession(w http.ResponseWriter, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: value, Path: "/",
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSession tells the browser to drop the session cookie.
func (c Cookies) ClearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// Session returns the session cookie's value, "" when absent. When a
// client sends the name twice (a cookie planted by a sibling subdomain on
// the non-__Host- dev name), the request is treated as carrying none.
//
// It scans the Cookie lines itself instead of parsing every cookie
// (r.CookiesNamed allocates each one): this runs on every request.
func (c Cookies) Session(r *http.Request) string {
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

// DeviceName is the remember-this-device cookie.
func (c Cookies) DeviceName() string { return c.name + "-device" }

// SetDevice sets the remember-this-device cookie for maxAge.
func (c Cookies) SetDevice(w http.ResponseWriter, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: c.DeviceName(), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// Device returns the remember-this-device cookie's value, "" when absent.
func (c Cookies) Device(r *http.Request) string { return cookieValue(r, c.DeviceName()) }

// BindingName is the cookie that binds a federated login to the browser
// that started it.
func (c Cookies) BindingName() string { return c.name + "-login" }

// Binding returns the login binding cookie's value, "" when absent.
func (c Cookies) Binding(r *http.Request) string { return cookieValue(r, c.BindingName()) }

// SetBinding sets (or, with ttl 0, clears) the login binding cookie. The
// SAML IdP returns with a cross-site POST, which carries only
// SameSite=None cookies; on https the cookie is therefore None (it is
// still __Host-, Secure and HttpOnly, and useless without the server-side
// state it names). In plain-http development browsers refuse None
// without Secure, so it stays Lax there.
func (c Cookies) SetBinding(w http.ResponseWriter, value string, ttl time.Duration) {
	ck := &http.Cookie{Name: c.BindingName(), Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if ttl == 0 {
		ck.MaxAge = -1
	}
	if c.secure {
		ck.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, ck)
}

func cookieValue(r *http.Request, name string) string {
	if ck, err := r.Cookie(name); err == nil {
		return ck.Value
	}
	return ""
}

// gatewayCookieBases are the names every gateway cookie starts with, in
// both the https and the development spelling: a gateway cookie is never
// the upstream's business, whichever mode sent it.
var gatewayCookieBases = [...]string{"__Host-gatehouse", "gatehouse"}

// IsGatewayCookie reports whether a cookie name is the gateway's: a base
// name alone or followed by "-" and a suffix.
func IsGatewayCookie(name string) bool {
	for _, b := range gatewayCookieBases {
		if len(name) >= len(b) && strings.EqualFold(name[:len(b)], b) && (len(name) == len(b) || name[len(b)] == '-') {
			return true
		}
	}
	return false
}

// StripGatewayCookies removes every gateway cookie (session, remembered
// device, login binding) from the outbound Cookie header: the upstream has
// no use for them and must not be able to leak or replay them. Other
// cookies pass unchanged, and a header with no gateway cookie is left as
// it is without allocating.
func StripGatewayCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 || !hasGatewayCookie(lines) {
		return
	}
	var b strings.Builder
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part == "" || IsGatewayCookie(strings.TrimSpace(name)) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	if b.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{b.String()}
}

func hasGatewayCookie(lines []string) bool {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if IsGatewayCookie(strings.TrimSpace(name)) {
				return true
			}
		}
	}
	return false
}
