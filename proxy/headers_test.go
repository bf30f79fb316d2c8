package proxy

import (
	"net/http"
	"testing"
)

func TestIsGatehouseHeader(t *testing.T) {
	for k, want := range map[string]bool{
		"X-Gatehouse-User": true, "x-gatehouse-role": true, "X_Gatehouse_User": true, "X_gatehouse-Email": true,
		"X-GATEHOUSE-ASSERTION": true, "X-Gatehouse": false, "X-Gate-House-User": false, "Authorization": false,
	} {
		if got := isGatehouseHeader(k); got != want {
			t.Errorf("isGatehouseHeader(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestStripCookieKeepsOthers(t *testing.T) {
	r := &http.Request{Header: http.Header{"Cookie": {"a=1; gatehouse=secret; b=2"}}}
	stripCookie(r, "gatehouse")
	if got := r.Header.Get("Cookie"); got != "a=1; b=2" {
		t.Fatalf("got %q, want %q", got, "a=1; b=2")
	}
	r = &http.Request{Header: http.Header{"Cookie": {"gatehouse=secret"}}}
	stripCookie(r, "gatehouse")
	if got := r.Header.Values("Cookie"); len(got) != 0 {
		t.Fatalf("got %q, want no Cookie header", got)
	}
}

func TestHeaderSafe(t *testing.T) {
	if got := headerSafe("a\r\nX-Evil: 1"); got != "aX-Evil: 1" {
		t.Fatalf("got %q", got)
	}
}

func TestCookieValue(t *testing.T) {
	jar := cookieJar{name: "gatehouse"}
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
		if got := jar.value(r); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// TestCookieValueDoesNotAllocate: it runs on every proxied request.
func TestCookieValueDoesNotAllocate(t *testing.T) {
	jar := cookieJar{name: "gatehouse"}
	r := &http.Request{Header: http.Header{"Cookie": {"a=1; gatehouse=v1.abc; b=2"}}}
	if n := testing.AllocsPerRun(100, func() { jar.value(r) }); n != 0 {
		t.Errorf("value allocates %v times", n)
	}
}
