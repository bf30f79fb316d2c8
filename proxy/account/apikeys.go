package account

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

func keyRow(k directory.APIKey, now time.Time) web.KeyRow {
	// Scopes, Expires, LastUsed and State are message ids or values the
	// page shows as they are (proxy/i18n returns a non-id unchanged).
	row := web.KeyRow{ID: k.ID, Name: k.Name, Scopes: "account.all_scopes", Created: k.CreatedAt.Format(time.DateOnly),
		Expires: "account.never", LastUsed: "account.never", State: "account.state_active", Active: true}
	if len(k.Scopes) > 0 {
		row.Scopes = strings.Join(k.Scopes, ", ")
	}
	if !k.ExpiresAt.IsZero() {
		row.Expires = k.ExpiresAt.Format(time.DateOnly)
	}
	if !k.LastUsedAt.IsZero() {
		row.LastUsed, row.LastUsedIP = k.LastUsedAt.Format(time.DateTime), k.LastUsedIP
	}
	switch {
	case !k.RevokedAt.IsZero():
		row.State, row.Active = "account.state_revoked", false
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		row.State, row.Active = "account.state_expired", false
	}
	return row
}

// fresh answers whether the caller may change keys now: within FreshFor
// of signing in, or after re-entering the password or a current code in
// the form's "reauth" field. It answers the request itself when not.
func (p *Pages) fresh(w http.ResponseWriter, r *http.Request, c *proxy.Caller) bool {
	if p.now().Sub(c.Created) <= FreshFor {
		return true
	}
	return p.proved(w, r, c, r.PostForm.Get("reauth"), "account.reauth")
}

// proved checks secret, the user's password or a current code (failures
// count against the same limits as a login's); when it is missing or
// wrong it answers the request itself, with refused (a message id; a
// wrong code has its own).
func (p *Pages) proved(w http.ResponseWriter, r *http.Request, c *proxy.Caller, secret, refused string) bool {
	if secret != "" && p.mfa != nil {
		if st, err := p.mfa.Status(r.Context(), c.Identity.UserID); err == nil && st.Enrolled && isCode(secret) {
			if _, err := p.mfa.Verify(r.Context(), c.Identity.UserID, secret); err == nil {
				return true
			}
			p.renderAccount(w, r, "", "account.code_invalid", http.StatusForbidden)
			return false
		}
	}
	if secret != "" {
		_, err := p.reauth.Authenticate(r.Context(), c.Identity.Username, secret, c.IP.String())
		switch {
		case err == nil:
			return true
		case errors.Is(err, auth.ErrLockedOut):
			p.renderAccount(w, r, "", "account.too_many", http.StatusTooManyRequests)
			return false
		case !errors.Is(err, auth.ErrInvalidCredentials) && !errors.Is(err, auth.ErrDisabled):
			p.render.Error(w, r, web.ErrUnavailable.With(err))
			return false
		}
	}
	p.renderAccount(w, r, "", refused, http.StatusForbidden)
	return false
}

func isCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// keyChange reads a key form and checks the session may change keys now;
// it answers the request itself when not.
func (p *Pages) keyChange(w http.ResponseWriter, r *http.Request) (*proxy.Caller, bool) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return nil, false
	}
	return c, p.fresh(w, r, c)
}

// createKey makes a key for the signed-in user and shows it once.
func (p *Pages) createKey(w http.ResponseWriter, r *http.Request) {
	c, ok := p.keyChange(w, r)
	if !ok {
		return
	}
	days, err := strconv.Atoi(r.PostForm.Get("expires_days"))
	if err != nil || days < 1 {
		p.renderAccount(w, r, "", "account.days", http.StatusBadRequest)
		return
	}
	var scopes []string
	for _, s := range strings.Split(r.PostForm.Get("scopes"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	tok, err := p.keys.Create(r.Context(), c.Identity.Username, c.Identity.Username, r.PostForm.Get("name"), time.Duration(days)*24*time.Hour, scopes)
	if err != nil {
		var inv interface{ UserMessage() string }
		if errors.As(err, &inv) {
			p.renderAccount(w, r, "", inv.UserMessage(), http.StatusBadRequest)
			return
		}
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.render.Page(w, r, http.StatusOK, "apikey.html", web.PageData{Title: "apikey.title", NewKey: tok})
}

// revokeKey ends one of the signed-in user's keys.
func (p *Pages) revokeKey(w http.ResponseWriter, r *http.Request) {
	c, ok := p.keyChange(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := p.keys.Revoke(r.Context(), c.Identity.Username, c.Identity.UserID, id); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			p.renderAccount(w, r, "", "account.no_key", http.StatusNotFound)
			return
		}
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.renderAccountWith(w, r, web.PageData{Notice: "account.key_revoked", NoticeArg: id}, http.StatusOK)
}
