package web

import (
	"bufio"
	"net/url"
	"os"
	"testing"
)

func TestLocalRedirect(t *testing.T) {
	const host = "crm.example.com"
	tests := []struct{ rd, want string }{
		{"/leads/7?tab=notes", "/leads/7?tab=notes"},
		{"https://crm.example.com/leads/7?tab=notes", "/leads/7?tab=notes"},
		{"HTTP://CRM.example.com/leads", "/leads"},
		{"https://crm.example.com", "/"},
		{"https://crm.example.com?x=1", "/"},
		{"https://evil.example/leads", "/"},
		{"https://crm.example.com.evil.example/leads", "/"},
		{"https://crm.example.com:8443/leads", "/"},
		{"https://evil.example@crm.example.com/leads", "/"},
		{"https://crm.example.com@evil.example/leads", "/"},
		{"https://crm.example.com\\@evil.example/leads", "/"},
		{"https://crm.example.com//evil.example", "/"},
		{"https://crm.example.com/\\evil.example", "/"},
		{"https://crm.example.com/%2f%2fevil.example", "/"},
		{"https://crm.example.com/.gatehouse/logout", "/"},
		{"javascript://crm.example.com/%0aalert(1)", "/"},
		{"//crm.example.com/leads", "/"},
		{"ftp://crm.example.com/leads", "/"},
		{" https://crm.example.com/leads", "/"},
	}
	for _, tt := range tests {
		if got := LocalRedirect(tt.rd, host); got != tt.want {
			t.Errorf("LocalRedirect(%q) = %q, want %q", tt.rd, got, tt.want)
		}
	}
	if got := LocalRedirect("https://crm.example.com/leads", ""); got != "/" {
		t.Errorf("no Host: got %q, want /", got)
	}
}

// TestLocalRedirectPayloads: the open-redirect corpus, with the host the
// corpus treats as allowed as the request's own: every answer is "/" or
// a path CleanRedirect accepts, so a browser stays on this origin.
func TestLocalRedirectPayloads(t *testing.T) {
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
		got := LocalRedirect(payload, "www.whitelisteddomain.tld")
		if got != "/" && (CleanRedirect(got) != got || got[0] != '/') {
			t.Errorf("payload %q: got %q, want / or a safe path", payload, got)
		}
		if got != "/" {
			t.Logf("payload %q → %q", payload, got)
		}
	}
	if n < 500 {
		t.Fatalf("read %d payloads, want the full corpus (559)", n)
	}
}

// FuzzLocalRedirect: whatever comes in, what comes out is "/" or a path
// CleanRedirect accepts, which stays on the request's origin.
func FuzzLocalRedirect(f *testing.F) {
	for _, s := range []string{"/a", "https://gw.example/a?b", "https://gw.example@evil/a", "http://gw.example//evil", "https://GW.example/%2e%2e/x"} {
		f.Add(s, "gw.example")
	}
	f.Fuzz(func(t *testing.T, rd, host string) {
		got := LocalRedirect(rd, host)
		if got != "/" && (got == "" || got[0] != '/' || CleanRedirect(got) != got) {
			t.Fatalf("LocalRedirect(%q, %q) = %q: want / or a safe path", rd, host, got)
		}
	})
}
