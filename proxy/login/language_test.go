package login_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// TestLoginPageLanguages: Accept-Language picks the page's language and
// <html lang>; without it the page is English.
func TestLoginPageLanguages(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	tests := []struct {
		accept, lang string
		want         []string
	}{
		{"", "en", []string{">Username</label>", ">Log in</button>"}},
		{"es-ES,es;q=0.9", "es", []string{">Nombre de usuario</label>", ">Contraseña</label>", "<title>Iniciar sesión"}},
		{"hi-IN,hi;q=0.9,en;q=0.5", "hi", []string{">उपयोगकर्ता नाम</label>", ">पासवर्ड</label>", "<title>लॉग इन करें"}},
		{"fr-FR,de;q=0.8", "en", []string{">Username</label>"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.accept, func(t *testing.T) {
			b := gatewaytest.NewBrowser(g.URL)
			resp, body := b.Get(t, "/.gatehouse/login?reason=logged_out", "Accept-Language", tt.accept)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(body, `<html lang="`+tt.lang+`">`) {
				t.Errorf("want <html lang=%q>", tt.lang)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
		})
	}
}

// TestLanguageSwitcher: the switcher's POST sets the cookie and returns to
// the page; the cookie then beats Accept-Language, on the login page's
// notice (a Go-side message) too.
func TestLanguageSwitcher(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	b := gatewaytest.NewBrowser(g.URL)
	_, body := b.Get(t, "/.gatehouse/login?reason=logged_out", "Accept-Language", "es")
	if !strings.Contains(body, `action="/.gatehouse/lang"`) || !strings.Contains(body, `name="back" value="/.gatehouse/login?reason=logged_out"`) {
		t.Fatalf("no switcher returning to this page:\n%s", body)
	}
	resp, _ := b.Do(t, http.MethodPost, "/.gatehouse/lang", url.Values{"lang": {"hi"}, "back": {"/.gatehouse/login?reason=logged_out"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.gatehouse/login?reason=logged_out" {
		t.Fatalf("switch: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var set *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "-lang") {
			set = c
		}
	}
	if set == nil || set.Value != "hi" || set.Path != "/" || set.SameSite != http.SameSiteLaxMode {
		t.Fatalf("language cookie %+v, want hi, Path=/, SameSite=Lax", set)
	}
	_, body = b.Get(t, "/.gatehouse/login?reason=logged_out", "Accept-Language", "es")
	if !strings.Contains(body, `<html lang="hi">`) || !strings.Contains(body, "आप लॉग आउट हो गए हैं।") {
		t.Errorf("cookie hi with Accept-Language es: want the Hindi page and notice\n%s", body)
	}
}

// TestLanguageCookieForged: a cookie naming no supported language (or
// carrying markup) is ignored, never echoed, and Accept-Language decides.
func TestLanguageCookieForged(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	for _, v := range []string{"fr", "es-MX", "xx", "%22%3E%3Cscript%3E"} {
		b := gatewaytest.NewBrowser(g.URL)
		b.SetCookie("gatehouse-lang", v)
		b.SetCookie("__Host-gatehouse-lang", v)
		_, body := b.Get(t, "/.gatehouse/login", "Accept-Language", "es")
		if !strings.Contains(body, `<html lang="es">`) || strings.Contains(body, v) {
			t.Errorf("cookie %q: want the Spanish page, the value not echoed", v)
		}
	}
}

// TestLanguageSwitcherOpenRedirect: the switcher only ever returns to a
// path on the gateway's origin.
func TestLanguageSwitcherOpenRedirect(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	b := gatewaytest.NewBrowser(g.URL)
	for _, back := range []string{"//evil.example/", "https://evil.example/", `/\evil.example`, "/%2F%2Fevil.example", "javascript:alert(1)", "", "evil.example"} {
		resp, _ := b.Do(t, http.MethodPost, "/.gatehouse/lang", url.Values{"lang": {"es"}, "back": {back}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("back %q: %d %q, want 303 to /", back, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestLanguageSwitcherCrossSite: the switcher is a gateway POST, so a
// form on another site cannot change the reader's language; an unknown
// language is refused without a cookie.
func TestLanguageSwitcherCrossSite(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	b := gatewaytest.NewBrowser(g.URL)
	resp, _ := b.Do(t, http.MethodPost, "/.gatehouse/lang", url.Values{"lang": {"es"}, "back": {"/"}},
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site switch: %d, cookies %v; want 403 and none", resp.StatusCode, resp.Cookies())
	}
	resp, _ = b.Do(t, http.MethodPost, "/.gatehouse/lang", url.Values{"lang": {"fr"}, "back": {"/"}})
	if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 {
		t.Errorf("unsupported language: %d, cookies %v; want 400 and none", resp.StatusCode, resp.Cookies())
	}
}
