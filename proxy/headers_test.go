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
