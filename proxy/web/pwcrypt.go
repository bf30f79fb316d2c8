package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
)

// pwcryptSum is the SHA-256 of pwcrypt.js, the login page's one script:
// the page's Content-Security-Policy allows that script and no other, by
// hash (CSP 3 hash sources match an external script carrying the same
// hash as its integrity attribute: Chrome 59, Firefox 116, Safari 15.6),
// and the script tag's integrity attribute makes the browser refuse any
// other content under its URL. No 'unsafe-inline', no 'self'.
var pwcryptSum = func() [sha256.Size]byte {
	b, err := files.ReadFile("pwcrypt.js")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sha256.Sum256(b)
}()

// PasswordEncryption is what the login form needs to encrypt the
// password in the browser (policy methods.password_encryption): the
// one-time challenge, posted back, and the gateway's public key
// (SubjectPublicKeyInfo DER, standard base64). A page rendered with it
// loads pwcrypt.js and allows that script in its CSP.
type PasswordEncryption struct {
	Challenge string
	PublicKey string
}

// ScriptSrc is the script's URL; the query changes with its content, so a
// cached older copy is never run against a newer page.
func (PasswordEncryption) ScriptSrc() string {
	return "/.gatehouse/static/pwcrypt.js?v=" + hex.EncodeToString(pwcryptSum[:6])
}

// Integrity is the script tag's integrity attribute.
func (PasswordEncryption) Integrity() string { return ScriptHash() }

// ScriptHash is pwcrypt.js's hash as CSP and SRI write it: sha256-<base64>.
func ScriptHash() string { return "sha256-" + base64.StdEncoding.EncodeToString(pwcryptSum[:]) }

// setScriptCSP replaces the page CSP with one that also allows pwcrypt.js.
func setScriptCSP(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP+"; script-src '"+ScriptHash()+"'")
}
