// Package web is what every gateway page has in common: rendering pages
// and JSON, errors safe to show a client, the gateway's cookies, and the
// rule for where a browser may be sent after logging in. The route sets
// (proxy/login, proxy/account) and the pipeline (proxy) use it; it knows
// nothing of sessions or login methods.
package web

import (
	"embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/proxy/brand"
	"github.com/gatehouse-auth/gatehouse/proxy/i18n"
)

//go:embed *.html gatehouse.css pwcrypt.js login.js codes.js passkey.js
var files embed.FS

// pages holds the templates once per language, parsed once at start:
// each is a clone whose "t" and "tn" functions read that language's
// catalogue, so rendering a page never parses or clones anything.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("").Funcs(textFuncs(i18n.Default())).ParseFS(files, "*.html"))
	m := map[string]*template.Template{}
	for _, l := range i18n.Languages {
		m[l.Code] = template.Must(base.Clone()).Funcs(textFuncs(i18n.For(l)))
	}
	return m
}()

// textFuncs are the template functions of one language: {{t "id"}} and
// {{t "id" arg}} for text, {{tn "id" count}} for a counted message.
func textFuncs(tr i18n.Translator) template.FuncMap {
	return template.FuncMap{
		"t":  func(id string, args ...any) string { return tr.T(id, args...) },
		"tn": func(id string, n int) string { return tr.T(id, n) },
	}
}

// Error is what a client may be told about a refused request: a status, a
// stable machine code and a message safe to show. Err is for the log
// only; its text never reaches a response.
type Error struct {
	Status  int
	Code    string
	Message string
	// Arg fills the %s of the page's "error.<Code>" text (a provider's
	// label); Message has it filled already.
	Arg string
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// With returns a copy of e carrying the internal cause for the log.
func (e *Error) With(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Errors the gateway answers with; messages are fixed strings. A page
// shows the message of the catalogue id "error.<code>" in the reader's
// language; JSON keeps the English Message.
var (
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "The sign-in service is temporarily unavailable. Please try again in a moment."}
	ErrBadGateway = &Error{Status: http.StatusBadGateway, Code: "bad_gateway",
		Message: "The application is not responding. Please try again in a moment."}
	ErrUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "Authentication required."}
	ErrCrossOrigin = &Error{Status: http.StatusForbidden, Code: "cross_origin",
		Message: "This request came from another site and was refused."}
	ErrNotFound   = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "Not found."}
	ErrBadRequest = &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "The form could not be read."}
	// ErrNetworkBlocked deliberately does not say which list matched: that
	// would tell an attacker what to route around. The audit log has it.
	ErrNetworkBlocked = &Error{Status: http.StatusForbidden, Code: "network_blocked",
		Message: "Access from this network is not allowed. If you think this is wrong, contact your administrator."}
	ErrForbidden = &Error{Status: http.StatusForbidden, Code: "forbidden",
		Message: "You do not have access to this."}
)

// WantsHTML reports whether the client is a browser navigating (Accept
// includes text/html), which gets pages and redirects instead of JSON.
func WantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Renderer writes pages and errors and logs why a request was refused.
type Renderer struct {
	log      *slog.Logger
	clientIP func(*http.Request) netip.Addr
	brand    *brand.Brand
	csp      string // pageCSP, allowing the brand's logo origin
}

// NewRenderer returns a Renderer; clientIP names the client in log lines,
// b is the branding every page shows (nil: the default).
func NewRenderer(log *slog.Logger, clientIP func(*http.Request) netip.Addr, b *brand.Brand) *Renderer {
	if b == nil {
		b = brand.Default()
	}
	return &Renderer{log: log, clientIP: clientIP, brand: b, csp: brandCSP(b)}
}

// Brand is the branding the pages show; the admin console renders it too.
func (rd *Renderer) Brand() *brand.Brand { return rd.brand }

// Error answers with e as a page or JSON, logging the cause.
func (rd *Renderer) Error(w http.ResponseWriter, r *http.Request, e *Error) {
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	rd.log.Log(r.Context(), level, "request refused", "status", e.Status, "code", e.Code,
		"path", r.URL.Path, "client_ip", rd.clientIP(r).String(), "error", errText(e.Err))
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if WantsHTML(r) {
		d := PageData{Title: StatusTitle(e.Status), Message: e.PageMessage(),
			LoginLink: e.Status == http.StatusUnauthorized || e.Code == ErrCrossOrigin.Code}
		if d.Message != e.Message {
			d.MessageArg = e.Arg
		}
		rd.Page(w, r, e.Status, "message.html", d)
		return
	}
	JSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message})
}

// PageMessage is the message id a page shows for e ("error.<code>"), or
// e's own Message when the catalogue has no such id (a refusal worded
// elsewhere, such as a login method's).
func (e *Error) PageMessage() string {
	if id := "error." + e.Code; i18n.Has(id) {
		return id
	}
	return e.Message
}

// StatusTitle is the message id titling an error page of status, or the
// English status text when the catalogue has none.
func StatusTitle(status int) string {
	if id := "status." + strconv.Itoa(status); i18n.Has(id) {
		return id
	}
	return http.StatusText(status)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// PageData is what the page templates read. Title, Message, Notice and
// Error are message ids (see proxy/i18n), translated when the page is
// rendered; text that is not an id is shown as it is. NoticeArg fills
// the one %s of a Notice such as "account.key_revoked".
type PageData struct {
	Title     string
	Message   string
	Notice    string
	NoticeArg string
	// MessageArg fills the %s of Message's text (an error's Arg).
	MessageArg      string
	Error           string
	Redirect        string
	Username        string
	PasswordEnabled bool
	Providers       []ProviderButton
	LoginLink       bool
	// 2FA pages
	Remember  string // remember-device period offered (a counted message id, RememberN its count), "" when off
	RememberN int
	// EmailTo, on the code and enrolment pages, is the masked address
	// email codes go to, when the user may have them.
	EmailTo string
	// PhoneTo, on the code page, is the masked number of an SMS factor;
	// PasskeyOptions are WebAuthn options (JSON) for the page's passkey
	// button: registration on the enrolment page, an assertion on the
	// 2FA and passkey login pages. PasskeyLogin offers "Sign in with a
	// passkey" on the login page.
	PasskeyOptions string
	PasskeyLogin   bool
	// Passkeys, on the account page, are the user's registered ones.
	Passkeys []PasskeyRow
	// SMSEnroll, on the enrolment page, offers codes by text message.
	PhoneTo   string
	SMSEnroll bool
	// AddFactor, on the enrolment pages, marks the account page's "add
	// a factor" (forms carry add=1).
	AddFactor bool
	QR        template.URL // data: URI of the enrolment QR code
	OTPAuth   template.URL // the otpauth:// URI the QR code encodes
	Secret    string
	Codes     []string
	Enrolled  bool
	Removable bool
	CanEnroll bool
	CodesLeft int
	// Factors, on the account page, are the user's second factors;
	// CanAddFactor offers to add one the policy allows.
	Factors      []FactorRow
	CanAddFactor bool
	// Account page: the user's API keys, whether a change needs the
	// password (or a code) again, and a key just created (shown once).
	Keys         []KeyRow
	KeysEnabled  bool
	ReauthNeeded bool
	NewKey       string
	// Account page: the user's mobile devices (live ones first) and how
	// many older signed-out ones are left out.
	Devices       []DeviceRow
	DevicesHidden int
	// Account page: the user's live browser sessions, newest first,
	// when the section is on.
	SessionsEnabled bool
	Sessions        []SessionRow
	// PasswordChange shows the change-password form (a user with a
	// local password).
	PasswordChange bool
	// SignInsEnabled shows the recent sign-ins section; SignIns are its
	// rows, newest first.
	SignInsEnabled bool
	SignIns        []SignInRow
	// DataExport shows the personal-data download link.
	DataExport bool
	// Encryption, on the login page, makes the form encrypt the password
	// in the browser; the page then allows its one script (see
	// PasswordEncryption).
	Encryption *PasswordEncryption
	// ForgotLink, on the login page, offers "Forgot password?"
	// (policy methods.password_reset with email configured).
	ForgotLink bool
	// Reset page: the link's token (posted back, never put in a URL
	// again) and whether a second factor is owed first (PhoneTo and
	// PasskeyOptions offer an SMS code and a passkey for it).
	ResetToken string
	CodeOwed   bool
	// Resume, on the mobile app's consent page, is its sealed request.
	Resume string
	// CodeLabel names the reset page's code field by what the user can
	// enter there (a message id).
	CodeLabel string
}

// CodesDownload is the recovery codes as a text file, a data: URL the
// page's download link carries: the codes are shown once and never
// stored, so there is no URL on the gateway they could be fetched from
// again, and the link works without a script.
func (d PageData) CodesDownload() template.URL {
	var b strings.Builder
	for _, c := range d.Codes {
		b.WriteString(c)
		b.WriteString("\r\n")
	}
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(b.String()))
}

// FactorRow is one of the user's second factors: its kind (totp, email,
// sms) and its name's message id.
type FactorRow struct{ Kind, Name string }

// PasskeyRow is one registered passkey on the account page.
type PasskeyRow struct {
	ID, Name, Created, LastUsed string
	Synced                      bool
}

// KeyRow is one API key on the account page; never the secret.
type KeyRow struct {
	ID, Name, Scopes, Created, Expires, LastUsed, LastUsedIP, State string
	Active                                                          bool
}

// DeviceRow is one mobile device on the account page; Live ones can be
// signed out.
// signed out: EndedAt and EndedWhy (a message id, or a reason shown as
// stored) say when and why.
type DeviceRow struct {
	ID, Client, UserAgent, FirstSeen, LastSeen, LastIP, EndedAt, EndedWhy string
	Live                                                                  bool
}

// SessionRow is one of the user's browser sessions on the account
// page; Current is the one showing the page.
type SessionRow struct {
	ID, Browser, Address, SignedIn, LastSeen string
	Current                                  bool
}

// SignInRow is one login attempt on the account page; Result is a
// message id.
type SignInRow struct {
	Time, Method, Address, Result string
	OK                            bool
}

// ProviderButton is a login page button.
type ProviderButton struct {
	ID, Label, Href string
}

// pageCSP allows a gateway page its stylesheets and images and no script.
// Styles come only from files ('self', no inline style), which is why the
// brand colour arrives as a generated stylesheet (brand.StyleURL).
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// brandCSP is pageCSP allowing images from the logo's origin too, when
// the logo is a URL (brand checked the origin has no character that
// could end the directive).
func brandCSP(b *brand.Brand) string {
	if o := b.ImageOrigin(); o != "" {
		return strings.Replace(pageCSP, "img-src 'self' data:", "img-src 'self' data: "+o, 1)
	}
	return pageCSP
}

// SetPageHeaders sets what every gateway HTML page is sent with: no
// cache, no frames, no script at all (CSP), no sniffing, no referrer.
func (rd *Renderer) SetPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", rd.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// page is what a page template executes with: the handler's data (its
// texts translated), the brand, the scripts the page runs (the same list
// its CSP allows, so the two cannot disagree) and the language switcher.
type page struct {
	PageData
	Brand     *brand.Brand
	Scripts   []Script
	Style     string       // gatehouse.css, versioned
	Lang      string       // <html lang>
	Languages []LangChoice // the switcher's buttons
	Back      string       // where the switcher returns to
}

// LangChoice is one button of the language switcher.
type LangChoice struct {
	Code, Name string
	Current    bool
}

// Page renders a gateway page in the language of r (see Language) with
// headers that keep it out of caches and frames and allow no script but
// the login page's own (see pageScripts).
func (rd *Renderer) Page(w http.ResponseWriter, r *http.Request, status int, name string, d PageData) {
	tr := i18n.For(Language(r))
	scripts := pageScripts(name, &d)
	d.Title, d.Error = tr.T(d.Title), tr.T(d.Error)
	if d.MessageArg != "" {
		d.Message = tr.T(d.Message, d.MessageArg)
	} else {
		d.Message = tr.T(d.Message)
	}
	if d.NoticeArg != "" {
		d.Notice = tr.T(d.Notice, d.NoticeArg)
	} else {
		d.Notice = tr.T(d.Notice)
	}
	p := page{PageData: d, Brand: rd.brand, Scripts: scripts, Style: styleSheet.Src(), Lang: tr.Lang().Code, Back: switchBack(r)}
	for _, l := range i18n.Languages {
		p.Languages = append(p.Languages, LangChoice{Code: l.Code, Name: l.Name, Current: l.Code == p.Lang})
	}
	rd.SetPageHeaders(w.Header())
	setScriptCSP(w.Header(), rd.csp, p.Scripts)
	w.WriteHeader(status)
	if err := pages[p.Lang].ExecuteTemplate(w, name, p); err != nil {
		rd.log.Error("render page", "page", name, "error", err)
	}
}

// JSON answers with v as a JSON body that no cache keeps.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// MaxForm bounds every form the gateway reads.
const MaxForm = 16 << 10

// ParseForm reads a bounded form body.
func ParseForm(w http.ResponseWriter, r *http.Request) *Error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
	if err := r.ParseForm(); err != nil {
		return ErrBadRequest.With(err)
	}
	return nil
}
