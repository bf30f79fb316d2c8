package web

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/i18n"
)

// TestPageRedirectKeepsGatewayPages: the switcher may return to any page
// the browser was on, the gateway's own included (CleanRedirect would
// refuse the login page), query and all.
func TestPageRedirectKeepsGatewayPages(t *testing.T) {
	for _, p := range []string{"/", "/accounts/7?tab=notes", "/.gatehouse/login?rd=%2Faccounts%2F7&reason=logged_out", "/.gatehouse/2fa/enroll?rd=%2F", "/.gatehouse/account"} {
		if got := PageRedirect(p); got != p {
			t.Errorf("PageRedirect(%q) = %q, want it kept", p, got)
		}
	}
}

// TestLanguageSwitcherOpenRedirectPayloads runs the open-redirect corpus
// CleanRedirect is checked against through PageRedirect: every payload
// gives "/".
func TestLanguageSwitcherOpenRedirectPayloads(t *testing.T) {
	f, err := os.Open("testdata/oauth2-proxy_openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		payload, err := url.QueryUnescape(sc.Text())
		if err != nil {
			payload = sc.Text()
		}
		if got := PageRedirect(payload); got != "/" {
			t.Errorf("payload %q: got %q, want /", payload, got)
		}
	}
}

// FuzzPageRedirect: whatever comes out is "/" or the input, a path that
// stays on this origin under every decoding a hop might apply.
func FuzzPageRedirect(f *testing.F) {
	for _, s := range []string{"/", "/.gatehouse/login?rd=%2F", "//x", "/\\x", "/%2f%2fx", "https://x", "/%09/x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gw.example/")
	f.Fuzz(func(t *testing.T, back string) {
		got := PageRedirect(back)
		if got == "/" {
			return
		}
		if got != back {
			t.Fatalf("PageRedirect(%q) = %q: must return its input or /", back, got)
		}
		for s := got; ; {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("accepted %q that does not parse: %v", back, err)
			}
			if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
				t.Fatalf("accepted %q resolves off-origin to %s", back, r)
			}
			d, err := url.PathUnescape(s)
			if err != nil || d == s {
				break
			}
			s = d
		}
	})
}

// TestEveryPageTranslated renders every gateway page in Spanish and Hindi:
// <html lang> follows, and no page shows a bare message id.
func TestEveryPageTranslated(t *testing.T) {
	rd := testRenderer(nil)
	for _, lang := range []string{"es", "hi"} {
		for name, d := range everyPage {
			r := httptest.NewRequest(http.MethodGet, "/.gatehouse/login", nil)
			r.Header.Set("Accept-Language", lang)
			w := httptest.NewRecorder()
			rd.Page(w, r, http.StatusOK, name, d)
			body := w.Body.String()
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: no <html lang=%q>", lang, name, lang)
			}
			for _, prefix := range []string{">login.", ">account.", ">twofa.", ">common.", "\"login.", ">enroll."} {
				if strings.Contains(body, prefix) {
					t.Errorf("%s %s: shows a bare message id (%s…)", lang, name, prefix)
				}
			}
		}
	}
}

// TestErrorMessagesMatchCatalogue: JSON answers carry an Error's English
// Message and pages its catalogue text; the two must say the same.
func TestErrorMessagesMatchCatalogue(t *testing.T) {
	en := i18n.Default()
	for _, e := range []*Error{ErrUnavailable, ErrBadGateway, ErrUnauthenticated, ErrCrossOrigin, ErrNotFound, ErrBadRequest, ErrNetworkBlocked, ErrForbidden} {
		id := e.PageMessage()
		if id == e.Message {
			t.Errorf("%s: no catalogue id error.%s", e.Code, e.Code)
			continue
		}
		if got := en.T(id); got != e.Message {
			t.Errorf("%s: catalogue says %q, JSON says %q", e.Code, got, e.Message)
		}
	}
}
