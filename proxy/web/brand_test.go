package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/brand"
)

func testBrand(t *testing.T, c brand.Config) *brand.Brand {
	t.Helper()
	c.SetDefaults()
	if err := c.Validate("branding"); err != nil {
		t.Fatal(err)
	}
	return c.Brand()
}

func testRenderer(b *brand.Brand) *Renderer {
	return NewRenderer(slog.New(slog.DiscardHandler), func(*http.Request) netip.Addr { return netip.Addr{} }, b)
}

func render(rd *Renderer, name string, d PageData) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	rd.Page(w, httptest.NewRequest(http.MethodGet, "/.gatehouse/login", nil), http.StatusOK, name, d)
	return w
}

// everyPage is each gateway page template with data enough to render
// (TestEveryTemplateListed keeps it complete).
var everyPage = map[string]PageData{
	"login.html": {Title: "Log in", PasswordEnabled: true, Providers: []ProviderButton{{ID: "corp", Label: "Corp", Href: "/x"}}},
	"twofa.html": {Title: "Two-factor authentication", Error: "Wrong code.", EmailTo: "a•••@corp.example", PhoneTo: "+••••••••78",
		PasskeyOptions: `{"publicKey":{"challenge":"AA"}}`},
	"enroll.html": {Title: "Set up two-factor authentication", QR: "data:image/png;base64,AA==", EmailTo: "a•••@corp.example", SMSEnroll: true,
		PasskeyOptions: `{"publicKey":{"challenge":"AA"}}`},
	"enroll_code.html": {Title: "Enter the code we sent", Notice: "Sent.", EmailTo: "resend"},
	"codes.html":       {Title: "Recovery codes", Codes: []string{"a-b"}},
	"password.html":    {Title: "Choose a new password"},
	"account.html": {Title: "Your account", Username: "alice", KeysEnabled: true, Keys: []KeyRow{{ID: "k1", Active: true}},
		Enrolled: true, Factors: []FactorRow{{Kind: "webauthn", Name: "account.factor_webauthn"}}, Passkeys: []PasskeyRow{{ID: "p1", Name: "laptop", Created: "2026-12-04"}}},
	"apikey.html":  {Title: "Your new API key", NewKey: "gk_x"},
	"logout.html":  {Title: "Log out"},
	"message.html": {Title: "Forbidden", Message: "No."},
	"forgot.html":  {Title: "Forgot your password?"},
	"reset.html": {Title: "Choose a new password", ResetToken: "t", CodeOwed: true, CodeLabel: "reset.code_sms", PhoneTo: "+••••••••78",
		PasskeyOptions: `{"publicKey":{"challenge":"AA"}}`},
	"consent.html": {Title: "Sign in to the app", Message: "The app asks.", Username: "alice", Resume: "r"},
	"passkey.html": {Title: "Sign in with a passkey", PasskeyOptions: `{"publicKey":{"challenge":"AA"}}`},
}

// TestPagesShowTheBrand: every gateway page carries the product name in
// its title and header, the logo, the generated stylesheet, the favicon
// and the footer links — and nothing of the default brand.
func TestPagesShowTheBrand(t *testing.T) {
	b := testBrand(t, brand.Config{ProductName: "Acme <CRM>", PrimaryColor: "#0b6e4f",
		Links: brand.Links{Privacy: brand.Link{URL: "https://acme.example/privacy"}, Help: brand.Link{Label: "Help centre", URL: "https://help.acme.example/"}}})
	rd := testRenderer(b)
	for name, d := range everyPage {
		t.Run(name, func(t *testing.T) {
			w := render(rd, name, d)
			page := w.Body.String()
			for _, want := range []string{
				"<title>" + d.Title + " · Acme &lt;CRM&gt;</title>",
				`<span class="product" id="product-name">Acme &lt;CRM&gt;</span>`,
				`<img class="logo" id="brand-logo" src="` + b.LogoURL + `" alt=""`,
				`<link rel="stylesheet" href="` + b.StyleURL + `">`,
				`<link rel="icon" href="` + b.FaviconURL + `" type="image/svg&#43;xml">`,
				`<a id="link-privacy" href="https://acme.example/privacy">Privacy</a>`,
				`<a id="link-help" href="https://help.acme.example/">Help centre</a>`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("lacks %s", want)
				}
			}
			if strings.Contains(page, "Gatehouse") {
				t.Errorf("still says Gatehouse:\n%s", page)
			}
		})
	}
}

// TestDefaultBrandHasNoFooter: without links there is no empty footer.
func TestDefaultBrandHasNoFooter(t *testing.T) {
	page := render(testRenderer(nil), "message.html", everyPage["message.html"]).Body.String()
	if !strings.Contains(page, "<title>Forbidden · Gatehouse</title>") || strings.Contains(page, "<footer") {
		t.Errorf("default brand page:\n%s", page)
	}
}

// TestPageCSP: a logo served from elsewhere is allowed by its origin, and
// nothing else changes; only the login page runs a script, and its CSP
// names exactly the scripts its tags load, by hash.
func TestPageCSP(t *testing.T) {
	rd := testRenderer(testBrand(t, brand.Config{Logo: "https://cdn.acme.example/logo.svg"}))
	for name, d := range everyPage {
		w := render(rd, name, d)
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") || !strings.Contains(csp, "style-src 'self';") ||
			strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", name, csp)
		}
		tags := regexp.MustCompile(`<script src="([^"]+)" integrity="([^"]+)"></script>`).FindAllStringSubmatch(w.Body.String(), -1)
		var hashes []string
		for _, tag := range tags {
			hashes = append(hashes, "'"+tag[2]+"'")
		}
		switch {
		case name == "login.html":
			if want := "; script-src '" + LoginScriptHash() + "'"; len(tags) != 1 || !strings.HasSuffix(csp, want) {
				t.Errorf("login page: scripts %v, CSP %q", tags, csp)
			}
		case name == "codes.html":
			if want := "; script-src '" + codesScript.Integrity() + "'"; len(tags) != 1 || !strings.HasSuffix(csp, want) || tags[0][1] != codesScript.Src() {
				t.Errorf("codes page: scripts %v, CSP %q", tags, csp)
			}
		case d.PasskeyOptions != "":
			if want := "; script-src '" + passkeyScript.Integrity() + "'"; len(tags) != 1 || !strings.HasSuffix(csp, want) || tags[0][1] != passkeyScript.Src() {
				t.Errorf("%s with passkey options: scripts %v, CSP %q", name, tags, csp)
			}
		case len(tags) != 0 || strings.Contains(csp, "script-src") || strings.Contains(w.Body.String(), "<script"):
			t.Errorf("%s runs a script: %v, CSP %q", name, hashes, csp)
		}
	}
	w := render(rd, "login.html", PageData{Title: "Log in", PasswordEnabled: true, Encryption: &PasswordEncryption{Challenge: "c", PublicKey: "k"}})
	if csp := w.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; script-src '"+ScriptHash()+"' '"+LoginScriptHash()+"'") {
		t.Errorf("encrypted login CSP %q", csp)
	}
	// Federated logins only: no password form, no script.
	w = render(rd, "login.html", PageData{Title: "Log in", Providers: []ProviderButton{{ID: "corp", Label: "Corp", Href: "/x"}}})
	if strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src") || strings.Contains(w.Body.String(), "<script") {
		t.Errorf("provider-only login page runs a script")
	}
}

// TestStaticServesOnlyItsFiles: the stylesheet, the two scripts (whose
// served bytes hash to what the pages allow) and the brand's files; no
// template, no source, no traversal.
func TestStaticServesOnlyItsFiles(t *testing.T) {
	b := brand.Default()
	srv := httptest.NewServer(http.StripPrefix("/.gatehouse/static/", Static(b)))
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, sb.String()
	}
	for _, s := range []Script{loginScript, pwcryptScript} {
		resp, body := get(s.Src())
		sum := sha256.Sum256([]byte(body))
		if resp.StatusCode != 200 || "sha256-"+base64.StdEncoding.EncodeToString(sum[:]) != s.Integrity() {
			t.Errorf("%s: %d, hash differs from the page's", s.Src(), resp.StatusCode)
		}
	}
	for _, p := range []string{"/.gatehouse/static/gatehouse.css", b.StyleURL, b.LogoURL} {
		if resp, _ := get(p); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/.gatehouse/static/layout.html", "/.gatehouse/static/login.html", "/.gatehouse/static/web.go",
		"/.gatehouse/static/brand/", "/.gatehouse/static/brand/..%2fgatehouse.css", "/.gatehouse/static/brand/brand.css"} {
		if resp, _ := get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestThemeMatchesBrandPalette: proxy/brand derives link colours against
// the theme's backgrounds; this keeps the stylesheet and it in step.
func TestThemeMatchesBrandPalette(t *testing.T) {
	css, err := files.ReadFile("gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	s := string(css)
	light, dark, ok := strings.Cut(s, "@media (prefers-color-scheme: dark)")
	if !ok {
		t.Fatal("gatehouse.css has no dark scheme")
	}
	if !strings.Contains(light, "--notice-bg: "+brand.LightBackground+";") || !strings.Contains(dark, "--notice-bg: "+brand.DarkSurface+";") ||
		!strings.Contains(light, "var(--gh-primary, "+brand.DefaultColour+")") {
		t.Errorf("gatehouse.css and proxy/brand disagree on the palette (%s, %s, %s)", brand.LightBackground, brand.DarkSurface, brand.DefaultColour)
	}
}

// TestEveryTemplateListed: a new page template is in everyPage, so the
// brand, CSP and script checks cover it.
func TestEveryTemplateListed(t *testing.T) {
	names, err := fs.Glob(files, "*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := everyPage[n]; !ok && n != "layout.html" {
			t.Errorf("%s is not in everyPage", n)
		}
	}
}

// TestStylesheetVersioned: pages link gatehouse.css under a URL naming
// its content, so a browser's cached copy from before an upgrade is
// never applied to the new pages.
func TestStylesheetVersioned(t *testing.T) {
	sum := sha256.Sum256(must(files.ReadFile("gatehouse.css")))
	want := "/.gatehouse/static/gatehouse.css?v=" + hex.EncodeToString(sum[:6])
	if StyleSrc() != want {
		t.Fatalf("StyleSrc() = %q, want %q", StyleSrc(), want)
	}
	rd := testRenderer(testBrand(t, brand.Config{}))
	if body := render(rd, "login.html", everyPage["login.html"]).Body.String(); !strings.Contains(body, `<link rel="stylesheet" href="`+want+`">`) {
		t.Errorf("the login page does not link %s", want)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
