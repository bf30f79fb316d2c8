package account_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/account"
)

// TestBrowser: real User-Agent strings name the browser a person would
// (the Chromium family's tokens are checked in order, since Edge and
// Opera also say Chrome and Safari); an odd one is shown cut short, never
// as an empty cell.
func TestBrowser(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36":                         "Chrome on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0":           "Edge on Windows",
		"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0":                                                                  "Firefox on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1": "Safari on iPhone",
		"Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36":                            "Chrome on Android",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36":           "Chrome (headless) on macOS",
		"Go-http-client/1.1": "Go-http-client/1.1",
		"":                   "",
	} {
		if got := account.Browser(ua); got != want {
			t.Errorf("Browser(%q) = %q, want %q", ua, got, want)
		}
	}
	long := "x" + string(make([]byte, 100))
	if got := account.Browser(long); len([]rune(got)) != 61 {
		t.Errorf("a long unknown agent: %d runes, want 60 and an ellipsis", len([]rune(got)))
	}
}
