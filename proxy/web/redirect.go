package web

import (
	"net/url"
	"strings"
)

// maxRedirectLen bounds rd; a login URL is not a place for megabytes.
const maxRedirectLen = 2048

// maxDecodings bounds how many rounds of percent-decoding a target is
// followed through. Each hop between the browser and the CRM (a proxy, a
// framework's router, a redirect helper) may decode once more; a target
// still changing after this many rounds is refused rather than guessed at.
const maxDecodings = 8

// ReturnPaths are the gateway's own pages a login may return to (each
// path exactly, with any query; an entry ending in "/" admits the pages
// below it). Everything else under /.gatehouse/ is a callback, an action
// or an API, where landing after a login is at best useless and at worst
// an action taken for the user (logout).
var ReturnPaths = []string{
	"/.gatehouse/account",
	// The mobile app's login returns here to get its code; the request
	// travels sealed in one base64url value (see auth/token.SealRequest).
	"/.gatehouse/oauth/authorize",
	// The admin console: its GETs only show pages (every change is a
	// POST behind the origin check), so returning to one does nothing.
	"/.gatehouse/admin/",
}

// CleanRedirect returns rd when it is a safe post-login target — a path on
// the gateway's own origin — and "/" otherwise. It is deliberately narrow:
// browsers treat "\" as "/", drop tabs and newlines inside URLs, and hops
// decode percent-escapes again, so the target is followed through every
// round of decoding until it stops changing, and refused when any form
// could leave the origin, hides characters a browser would strip, or
// names a gateway path that is not a return path.
func CleanRedirect(rd string) string {
	if !safeRedirect(rd, false) {
		return "/"
	}
	return rd
}

// PageRedirect is CleanRedirect for going back to the page a browser was
// on (the language switcher): any gateway page is allowed too, since the
// browser was just on it, but every other rule holds, so what comes out
// is a path on this origin or "/".
func PageRedirect(back string) string {
	if !safeRedirect(back, true) {
		return "/"
	}
	return back
}

// LocalRedirect is CleanRedirect for a target that may also be written
// as an absolute URL on the origin the browser is on (host, the request's
// Host): the forward-auth endpoint's login links carry the original URL
// so. Such a URL is reduced to its path and query, which CleanRedirect
// then judges; an absolute URL naming any other host, user info or a
// scheme other than http(s) gives "/". What comes out is always a path on
// this origin.
func LocalRedirect(rd, host string) string {
	if strings.HasPrefix(rd, "/") || host == "" {
		return CleanRedirect(rd)
	}
	scheme, rest, ok := strings.Cut(rd, "://")
	if !ok || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return "/"
	}
	// The authority must be exactly host: no user info, no other port,
	// nothing a parser could read differently.
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if !strings.EqualFold(authority, host) || path == "" {
		return "/"
	}
	return CleanRedirect(path)
}

// safeRedirect judges rd; anyGatewayPage admits every path under
// /.gatehouse/ instead of only ReturnPaths.
func safeRedirect(rd string, anyGatewayPage bool) bool {
	if len(rd) == 0 || len(rd) > maxRedirectLen || rd[0] != '/' {
		return false
	}
	if strings.Contains(rd, " ") {
		return false // a raw space is not a URL; an escaped one (%20) is fine
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	s := rd
	for i := 0; ; i++ {
		if !safeForm(s) || !anyGatewayPage && !allowedGatewayPath(s, rd) {
			return false
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if d == s {
			return true
		}
		if i == maxDecodings {
			return false
		}
		s = d
	}
}

// allowedGatewayPath refuses a form whose path is under /.gatehouse/ (in
// any letter case, since some servers match paths case-insensitively)
// unless it is a return path written plainly: an encoded spelling of a
// gateway path is only ever a trick.
func allowedGatewayPath(form, raw string) bool {
	path, _, _ := strings.Cut(form, "?")
	path, _, _ = strings.Cut(path, "#")
	lower := strings.ToLower(path)
	if !strings.HasPrefix(lower, "/.gatehouse/") && lower != "/.gatehouse" {
		return true
	}
	rawPath, _, _ := strings.Cut(raw, "?")
	rawPath, _, _ = strings.Cut(rawPath, "#")
	for _, p := range ReturnPaths {
		if path == rawPath && (path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
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
