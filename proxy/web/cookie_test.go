package web

import (
	"net/http"
	"testing"
)

func TestCookieValue(t *testing.T) {
	jar := Cookies{name: "gatehouse"}
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"gatehouse=v1.abc"}, "v1.abc"},
		{[]string{"a=1; gatehouse=v1.abc; b=2"}, "v1.abc"},
		{[]string{"a=1", "gatehouse=v1.abc"}, "v1.abc"},
		{[]string{"gatehouse-device=x; gatehouse=v1.abc"}, "v1.abc"},
		{[]string{"gatehouse=one; gatehouse=two"}, ""}, // planted duplicate: none
		{[]string{"xgatehouse=v1.abc"}, ""},
		{[]string{"gatehouse=\"quoted\""}, ""},
		{nil, ""},
	} {
		r := &http.Request{Header: http.Header{"Cookie": tc.lines}}
		if got := jar.Session(r); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// TestCookieValueDoesNotAllocate: it runs on every proxied request.
func TestCookieValueDoesNotAllocate(t *testing.T) {
	jar := Cookies{name: "gatehouse"}
	r := &http.Request{Header: http.Header{"Cookie": {"a=1; gatehouse=v1.abc; b=2"}}}
	if n := testing.AllocsPerRun(100, func() { jar.Session(r) }); n != 0 {
		t.Errorf("Session allocates %v times", n)
	}
}

func TestStripCookieKeepsOthers(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; gatehouse=secret; b=2"}}
	StripGatewayCookies(h)
	if got := h.Get("Cookie"); got != "a=1; b=2" {
		t.Fatalf("got %q, want %q", got, "a=1; b=2")
	}
	h = http.Header{"Cookie": {"gatehouse=secret"}}
	StripGatewayCookies(h)
	if got := h.Values("Cookie"); len(got) != 0 {
		t.Fatalf("got %q, want no Cookie header", got)
	}
}

// TestGatewayCookiesNeverReachUpstream: the remember-device cookie (a
// 30-day 2FA-skip token) and the login-binding cookie were forwarded to
// the CRM (review finding F11); every gateway cookie, in either spelling,
// is removed and the CRM's own cookies are kept.
func TestGatewayCookiesNeverReachUpstream(t *testing.T) {
	h := http.Header{"Cookie": {
		"crm=1; __Host-gatehouse=s; __Host-gatehouse-device=d; __Host-gatehouse-login=b",
		"gatehouse-device=x; gatehouse=y; gatehouse-login=z; GATEHOUSE-device=w; gatehousex=keep; other-gatehouse=keep",
	}}
	StripGatewayCookies(h)
	if got, want := h.Get("Cookie"), "crm=1; gatehousex=keep; other-gatehouse=keep"; got != want {
		t.Fatalf("Cookie = %q, want %q", got, want)
	}
}

// TestStripWithoutGatewayCookieDoesNotAllocate: most proxied requests
// carry only the session cookie's absence or the CRM's cookies.
func TestStripWithoutGatewayCookieDoesNotAllocate(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; b=2; crm_session=xyz"}}
	if n := testing.AllocsPerRun(100, func() { StripGatewayCookies(h) }); n != 0 {
		t.Errorf("StripGatewayCookies allocates %v times", n)
	}
}
