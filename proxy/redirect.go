package proxy

import (
	"net/url"
	"strings"
)

// maxRedirectLen bounds rd; a login URL is not a place for megabytes.
const maxRedirectLen = 2048

// CleanRedirect returns rd when it is a safe post-login target — a path on
// the gateway's own origin — and "/" otherwise. It is deliberately narrow:
// browsers treat "\" as "/", drop tabs and newlines inside URLs, and some
// hops decode percent-escapes again, so a target is refused when any of
// its decodings (up to three) could leave the origin or hides characters a
// browser would strip. Paths under the gateway's own /.gatehouse/ routes
// are also replaced, so a login never lands on logout.
func CleanRedirect(rd string) string {
	if !safeRedirect(rd) {
		return "/"
	}
	return rd
}

func safeRedirect(rd string) bool {
	if len(rd) == 0 || len(rd) > maxRedirectLen || rd[0] != '/' {
		return false
	}
	if strings.Contains(rd, " ") {
		return false // a raw space is not a URL; an escaped one (%20) is fine
	}
	s := rd
	for range 3 {
		if !safeForm(s) {
			return false
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if d == s {
			break
		}
		s = d
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	return !strings.HasPrefix(u.Path, "/.gatehouse/")
}

// safeForm checks one decoding of the target.
func safeForm(s string) bool {
	// "//" anywhere: a leading one is protocol-relative, an inner one
	// ("/x//..", "?next=//x") is how chained redirects are smuggled. Quotes
	// and angle brackets have no place in a path and would be markup.
	if strings.Contains(s, "//") || strings.ContainsAny(s, "\\<>\"'`{}|^") {
		return false
	}
	for seg := range strings.SplitSeq(strings.SplitN(s, "?", 2)[0], "/") {
		if seg == "." || seg == ".." {
			return false // only clean paths; the target is what gets authorized
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	// A scheme anywhere ("/http://x", "/javascript:") is never a path a
	// CRM needs, and some frameworks re-parse a path that contains one.
	lower := strings.ToLower(s)
	return !strings.Contains(lower, "://") && !strings.Contains(lower, "javascript:") && !strings.Contains(lower, "data:") && !strings.Contains(lower, "vbscript:")
}
