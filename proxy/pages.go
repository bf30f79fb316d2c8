package proxy

import (
	"embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
)

//go:embed web
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/*.html"))

// Error is what a client may be told about a refused request: a status, a
// stable machine code and a message safe to show. Err is for the log
// only; its text never reaches a response.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Errors the gateway answers with; messages are fixed strings.
var (
	errUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "The sign-in service is temporarily unavailable. Please try again in a moment."}
	errBadGateway = &Error{Status: http.StatusBadGateway, Code: "bad_gateway",
		Message: "The application is not responding. Please try again in a moment."}
	errUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "Authentication required."}
	errForbiddenOrigin = &Error{Status: http.StatusForbidden, Code: "cross_origin",
		Message: "This request came from another site and was refused."}
	errNotFound = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "Not found."}
)

// with returns a copy of e carrying the internal cause for the log.
func (e *Error) with(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// wantsHTML reports whether the client is a browser navigating (Accept
// includes text/html), which gets pages and redirects instead of JSON.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// renderError answers with e as a page or JSON, logging the cause.
func (g *Gateway) renderError(w http.ResponseWriter, r *http.Request, e *Error) {
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	g.log.Log(r.Context(), level, "request refused", "status", e.Status, "code", e.Code,
		"path", r.URL.Path, "client_ip", g.clientIP.Resolve(r).String(), "error", errText(e.Err))
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if wantsHTML(r) {
		g.page(w, e.Status, "message.html", pageData{Title: http.StatusText(e.Status), Message: e.Message,
			LoginLink: e.Status == http.StatusUnauthorized || e.Code == errForbiddenOrigin.Code})
		return
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type pageData struct {
	Title           string
	Message         string
	Notice          string
	Error           string
	Redirect        string
	Username        string
	PasswordEnabled bool
	Providers       []providerButton
	LoginLink       bool
	// 2FA pages
	Remember  string       // remember-device period offered, "" when off
	QR        template.URL // data: URI of the enrolment QR code
	OTPAuth   template.URL // the otpauth:// URI the QR code encodes
	Secret    string
	Codes     []string
	Enrolled  bool
	Removable bool
	CanEnroll bool
	CodesLeft int
}

// page renders a gateway page with headers that keep it out of caches and
// frames and allow no script at all.
func (g *Gateway) page(w http.ResponseWriter, status int, name string, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		g.log.Error("render page", "page", name, "error", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
