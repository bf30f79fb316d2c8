package login

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// PasswordEncryption issues the login form's one-time challenges and
// opens the passwords browsers encrypted for them (auth/pwcrypt.Ring).
type PasswordEncryption interface {
	Challenge(ctx context.Context) (pwcrypt.Challenge, error)
	// Open returns the password, spending the challenge; a *pwcrypt.Refused
	// for a submission the gateway will not take, any other error for an
	// outage.
	Open(ctx context.Context, challenge, ciphertext string) (string, error)
}

var errNoEncryption = errors.New("login: the policy encrypts passwords, but no password encryption is configured")

// Messages for a refused encrypted login: each says what to do next. The
// page carries a fresh challenge, so typing the password again works.
const (
	msgPlaintext  = "login.plaintext"
	msgExpired    = "login.expired"
	msgReplayed   = "login.replayed"
	msgUnreadable = "login.unreadable"
)

// withChallenge gives the login form a fresh challenge when the policy
// encrypts passwords. It reports false after answering with 503 when no
// challenge can be made: the form is never offered unencrypted.
func (p *Pages) withChallenge(w http.ResponseWriter, r *http.Request, pol *policy.Policy, d *web.PageData) bool {
	if !d.PasswordEnabled || !pol.EncryptPasswords() {
		return true
	}
	if p.crypt == nil {
		p.render.Error(w, r, web.ErrUnavailable.With(errNoEncryption))
		return false
	}
	ch, err := p.crypt.Challenge(r.Context())
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return false
	}
	d.Encryption = &web.PasswordEncryption{Challenge: ch.Token, PublicKey: ch.PublicKey}
	return true
}

// formPassword is the password the login form sent: as typed, or, when
// the policy encrypts passwords, decrypted from password_enc for the
// challenge it names, which is spent. Then a password sent in clear is
// refused unchecked (400), as is a ciphertext replayed, expired, altered
// or made for a key no longer in use; none of them reaches the lockout
// counters, since no password was checked. A store or directory outage
// is a 503. It reports false after answering the request; on true, d
// carries a fresh challenge for a page shown after a failed check.
func (p *Pages) formPassword(w http.ResponseWriter, r *http.Request, d *web.PageData) (string, bool) {
	pol := &proxy.CallerOf(r).Policy.Policy
	if !pol.EncryptPasswords() {
		return r.PostForm.Get("password"), true
	}
	if r.PostForm.Has("password") {
		p.refuseEncrypted(w, r, pol, "plaintext_password", msgPlaintext, *d)
		return "", false
	}
	if p.crypt == nil {
		p.render.Error(w, r, web.ErrUnavailable.With(errNoEncryption))
		return "", false
	}
	pw, err := p.crypt.Open(r.Context(), r.PostForm.Get("challenge"), r.PostForm.Get("password_enc"))
	var refused *pwcrypt.Refused
	switch {
	case errors.As(err, &refused):
		p.refuseEncrypted(w, r, pol, refused.Reason, refusalMessage(err), *d)
		return "", false
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return "", false
	}
	return pw, p.withChallenge(w, r, pol, d)
}

func refusalMessage(err error) string {
	switch {
	case errors.Is(err, pwcrypt.ErrExpired):
		return msgExpired
	case errors.Is(err, pwcrypt.ErrReplayed):
		return msgReplayed
	}
	return msgUnreadable
}

// refuseEncrypted answers an encrypted login refused before any password
// check: audited with the reason, and the form again (400) with a fresh
// challenge and the username kept.
func (p *Pages) refuseEncrypted(w http.ResponseWriter, r *http.Request, pol *policy.Policy, reason, msg string, d web.PageData) {
	p.audit.Record(r.Context(), audit.Event{Event: audit.LoginFailure, ClientIP: proxy.CallerOf(r).IP.String(),
		Detail: map[string]string{"method": auth.MethodPassword, "reason": reason}})
	if !p.withChallenge(w, r, pol, &d) {
		return
	}
	d.Error = msg
	p.render.Page(w, r, http.StatusBadRequest, "login.html", d)
}
