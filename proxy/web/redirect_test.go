package web

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestCleanRedirectKeepsOwnPaths(t *testing.T) {
	for _, rd := range []string{"/", "/accounts", "/accounts/42?tab=notes", "/search?q=a%20b", "/a/b.c/d-e_f", "/x#frag", "/caf%C3%A9"} {
		if got := CleanRedirect(rd); got != rd {
			t.Errorf("CleanRedirect(%q) = %q, want it kept", rd, got)
		}
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	for _, rd := range []string{
		"", "//evil.example", "/\\evil.example", "\\/evil.example", "https:evil.example", "https://evil.example",
		"http:/evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "/%5Cevil.example", "/%09/evil.example",
		"/\t/evil.example", "/\r\n/evil.example", "/%0d%0aSet-Cookie:x=y", "/%252F%252Fevil.example", "evil.example",
		"/.gatehouse/logout", "/..//evil.example", "/a/../../evil", "/ /evil", "/\x00", "/\x7f",
		"/%2e%2e/%2e%2e/evil", "/<script>", "/\"onmouseover=", string(make([]byte, 3000)),
	} {
		if got := CleanRedirect(rd); got != "/" {
			t.Errorf("CleanRedirect(%q) = %q, want /", rd, got)
		}
	}
}

// TestOpenRedirectPayloads runs oauth2-proxy's published open-redirect
// corpus (testdata/oauth2-proxy_openredirects.txt, MIT): each line,
// query-unescaped once as oauth2-proxy's own test does, must be refused.
func TestOpenRedirectPayloads(t *testing.T) {
	f, err := os.Open("testdata/oauth2-proxy_openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		payload, err := url.QueryUnescape(sc.Text())
		if err != nil {
			payload = sc.Text()
		}
		n++
		if got := CleanRedirect(payload); got != "/" {
			t.Errorf("payload %q: got %q, want /", payload, got)
		}
	}
	if n < 500 {
		t.Fatalf("read %d payloads, want the full corpus (559)", n)
	}
}

// FuzzCleanRedirect checks the invariant a browser cares about: whatever
// comes out is "/" or a path that stays on this origin when resolved
// against it, under every decoding a hop might apply.
func FuzzCleanRedirect(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//x", "/\\x", "/%2f%2fx", "https://x", "/%09/x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gw.example/")
	f.Fuzz(func(t *testing.T, rd string) {
		got := CleanRedirect(rd)
		if got == "/" {
			return
		}
		if got != rd {
			t.Fatalf("CleanRedirect(%q) = %q: must return its input or /", rd, got)
		}
		for s := got; ; {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("accepted %q that does not parse: %v", rd, err)
			}
			if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
				t.Fatalf("accepted %q resolves off-origin to %s", rd, r)
			}
			d, err := url.PathUnescape(s)
			if err != nil || d == s {
				break
			}
			s = d
		}
	})
}

// TestRedirectDecodedThreeTimesRefused: a target that becomes "//evil.com"
// or a gateway action only after a third (or later) round of decoding is
// refused too (review finding F10: two rounds were checked, and the
// /.gatehouse/ exclusion after one only).
func TestRedirectDecodedThreeTimesRefused(t *testing.T) {
	for _, rd := range []string{
		"/%25252f%25252fevil.com", "/%2525252f%2525252fevil.com", "/%252egatehouse/logout", "/%2egatehouse/logout",
		"/%25252egatehouse/logout", "/.GATEHOUSE/logout", "/.gatehouse/Account", "/%2Egatehouse/account",
		"/.gatehouse/account/../logout", "/.gatehouse/oidc/corp/callback?code=x", "/.gatehouse/api/v1/users",
		"/.gatehouse/login", "/.gatehouse", strings.Repeat("%25", 12) + "2f",
		"/.gatehouse/admin/../logout", "/.gatehouse/admin%2F..%2Flogout", "/.gatehouse/ADMIN/users", "/.gatehouse/adminx",
		"/.gatehouse/%61dmin/users", "/.gatehouse/admin", "/.gatehouse/admin//evil.example",
	} {
		if got := CleanRedirect(rd); got != "/" {
			t.Errorf("CleanRedirect(%q) = %q, want /", rd, got)
		}
	}
}

// TestRedirectToReturnPathKept: after logging in, a browser may come back
// to the gateway's own pages that are meant to be returned to.
func TestRedirectToReturnPathKept(t *testing.T) {
	for _, rd := range []string{"/.gatehouse/account", "/.gatehouse/account?tab=2fa", "/.gatehouse/admin/", "/.gatehouse/admin/users?q=al",
		"/.gatehouse/admin/users/alice", "/.gatehouse/oauth/authorize?resume=abc"} {
		if got := CleanRedirect(rd); got != rd {
			t.Errorf("CleanRedirect(%q) = %q, want it kept", rd, got)
		}
	}
}
