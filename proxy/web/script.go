package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
)

// Script is one of the gateway's scripts a page may run. A page's CSP
// allows exactly its scripts, by hash (CSP 3 hash sources match an
// external script carrying the same hash as its integrity attribute:
// Chrome 59, Firefox 116, Safari 15.6), and each script tag's integrity
// attribute makes the browser refuse any other content under its URL.
// No 'unsafe-inline', no 'self'.
type Script struct {
	name     string
	sum      [sha256.Size]byte
	src, sri string // Src and Integrity, made once: every page render asks
}

func newScript(name string) Script {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	sc := Script{name: name, sum: sha256.Sum256(b)}
	sc.src = "/.gatehouse/static/" + name + "?v=" + hex.EncodeToString(sc.sum[:6])
	sc.sri = "sha256-" + base64.StdEncoding.EncodeToString(sc.sum[:])
	return sc
}

var (
	// pwcryptScript encrypts the password (policy methods.password_encryption).
	pwcryptScript = newScript("pwcrypt.js")
	// loginScript is the login form's conveniences: show password, the
	// caps-lock hint, remembering the username.
	loginScript = newScript("login.js")
	// codesScript is the recovery codes page's "Copy" button.
	codesScript = newScript("codes.js")
	// passkeyScript asks the browser for a passkey (WebAuthn).
	passkeyScript = newScript("passkey.js")
	// styleSheet is gatehouse.css, not a script, but versioned the same
	// way: after an upgrade a browser's cached copy (an hour) is never
	// applied to pages with classes it lacks.
	styleSheet = newScript("gatehouse.css")
)

// StyleSrc is gatehouse.css's URL, its query naming the content.
func StyleSrc() string { return styleSheet.Src() }

// Src is the script's URL; the query changes with its content, so a
// cached older copy is never run against a newer page.
func (s Script) Src() string { return s.src }

// Integrity is the script's hash as CSP and SRI write it: sha256-<base64>.
func (s Script) Integrity() string { return s.sri }

// LoginScriptHash is login.js's hash, as the login page's CSP allows it.
func LoginScriptHash() string { return loginScript.Integrity() }

// pageScripts are the scripts page name runs: the login page's form
// script, after the password encryption script when d asks for it; the
// recovery codes page's copy button; the passkey buttons of a page that
// carries passkey options.
func pageScripts(name string, d *PageData) []Script {
	if name == "codes.html" {
		return []Script{codesScript}
	}
	if d.PasskeyOptions != "" {
		return []Script{passkeyScript}
	}
	if name != "login.html" {
		return nil
	}
	var s []Script
	if d.Encryption != nil {
		s = append(s, pwcryptScript)
	}
	if d.PasswordEnabled {
		s = append(s, loginScript)
	}
	return s
}

// setScriptCSP sets csp, allowing scripts, and only them, by hash.
func setScriptCSP(h http.Header, csp string, scripts []Script) {
	if len(scripts) == 0 {
		h.Set("Content-Security-Policy", csp)
		return
	}
	src := make([]string, len(scripts))
	for i, s := range scripts {
		src[i] = "'" + s.Integrity() + "'"
	}
	h.Set("Content-Security-Policy", csp+"; script-src "+strings.Join(src, " "))
}
