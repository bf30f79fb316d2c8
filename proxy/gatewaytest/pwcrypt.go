package gatewaytest

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
)

var (
	challengeRe = regexp.MustCompile(`<input type="hidden" name="challenge" value="([^"]+)">`)
	publicKeyRe = regexp.MustCompile(`id="login-form" data-key="([^"]+)"`)
)

// PageChallenge reads the password encryption challenge and public key
// off a login page (policy methods.password_encryption); ok is false
// when the page has none.
func PageChallenge(page string) (c pwcrypt.Challenge, ok bool) {
	ch, key := challengeRe.FindStringSubmatch(page), publicKeyRe.FindStringSubmatch(page)
	if ch == nil || key == nil {
		return pwcrypt.Challenge{}, false
	}
	return pwcrypt.Challenge{Token: html.UnescapeString(ch[1]), PublicKey: html.UnescapeString(key[1])}, true
}

// EncryptedForm fills a login page's form as its script does: the
// challenge, and the password encrypted for it as password_enc.
func EncryptedForm(t testing.TB, page, username, pw string) url.Values {
	t.Helper()
	c, ok := PageChallenge(page)
	if !ok {
		t.Fatalf("login page without a password encryption challenge:\n%s", page)
	}
	ct, err := pwcrypt.Encrypt(c, pw)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"username": {username}, "rd": {"/"}, "challenge": {c.Token}, "password_enc": {ct}}
}

// LoginEncrypted loads the login page and posts its form with the
// password encrypted; it returns the answer, its body and the form sent.
func (b *Browser) LoginEncrypted(t testing.TB, username, pw string) (*http.Response, string, url.Values) {
	t.Helper()
	resp, page := b.Get(t, "/.gatehouse/login")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	form := EncryptedForm(t, page, username, pw)
	resp, body := b.Do(t, http.MethodPost, "/.gatehouse/login", form)
	return resp, body, form
}
