package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// mountUsers mounts the user management routes. Every change is a write:
// a session needs a fresh re-authentication for it, whether it changes a
// sales user or another admin, a password or a second factor.
func (a *API) mountUsers(m *proxy.Mux) {
	u := prefix + "/users/{username}"
	m.Handle("POST "+prefix+"/users", proxy.AnyCredential, a.write(a.createUser))
	m.Handle("GET "+u, proxy.AnyCredential, a.read(a.showUser))
	m.Handle("PATCH "+u, proxy.AnyCredential, a.write(a.editUser))
	m.Handle("DELETE "+u, proxy.AnyCredential, a.write(a.deleteUser))
	m.Handle("POST "+u+"/disable", proxy.AnyCredential, a.write(a.setDisabled(true)))
	m.Handle("POST "+u+"/enable", proxy.AnyCredential, a.write(a.setDisabled(false)))
	m.Handle("PUT "+u+"/password", proxy.AnyCredential, a.write(a.setPassword))
	m.Handle("POST "+u+"/2fa/reset", proxy.AnyCredential, a.write(a.reset2FA))
	m.Handle("PUT "+u+"/2fa/required", proxy.AnyCredential, a.write(a.require2FA))
	m.Handle("PUT "+u+"/allowlist", proxy.AnyCredential, a.write(a.setAllowlist))
	m.Handle("DELETE "+u+"/api-keys/{id}", proxy.AnyCredential, a.write(a.revokeKey))
	m.Handle("DELETE "+u+"/api-keys", proxy.AnyCredential, a.write(a.revokeKeys))
	m.Handle("DELETE "+u+"/devices/{id}", proxy.AnyCredential, a.write(a.revokeDevices))
	m.Handle("DELETE "+u+"/devices", proxy.AnyCredential, a.write(a.revokeDevices))
	if a.o.Sessions != nil {
		m.Handle("GET "+u+"/sessions", proxy.AnyCredential, a.read(a.userSessions))
		m.Handle("DELETE "+u+"/sessions/{id}", proxy.AnyCredential, a.write(a.endUserSession))
	}
}

// userDetail is one user as an admin looks at them before a change;
// never a secret (no hash, no factor, no key secret).
type userDetail struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name,omitempty"`
	Role        string   `json:"role"`
	Groups      []string `json:"groups"`
	Disabled    bool     `json:"disabled"`
	// Template is the permission template in force ("" for none);
	// TemplateSource says where it comes from: user, role or none.
	Template        string    `json:"template"`
	TemplateSource  string    `json:"template_source"`
	Admin           bool      `json:"admin"`
	HasPassword     bool      `json:"has_password"`
	PasswordExpires time.Time `json:"password_expires,omitzero"`
	// MustChangePassword: the next login must choose a new password.
	MustChangePassword bool         `json:"must_change_password"`
	TwoFactor          twoFactorOut `json:"two_factor"`
	// Allowlist is the user's own network allowlist with descriptions;
	// AllowedCIDRs, its CIDRs alone (as before descriptions).
	Allowlist    []allowEntryJSON `json:"allowlist"`
	AllowedCIDRs []string         `json:"allowed_cidrs"`
	APIKeys      []apiKeyOut      `json:"api_keys"`
	Devices      []deviceOut      `json:"devices"`
	LastLogin    time.Time        `json:"last_login,omitzero"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

type twoFactorOut struct {
	Enrolled bool `json:"enrolled"`
	// Required: the policy or the user's own mandate asks for it.
	Required          bool `json:"required"`
	UserRequired      bool `json:"user_required"` // the user's own mandate
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

// apiKeyOut is a key's metadata; the secret exists only at creation.
type apiKeyOut struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Scopes       []string  `json:"scopes"` // empty: all of the owner's features
	AllowedCIDRs []string  `json:"allowed_cidrs"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	LastUsedAt   time.Time `json:"last_used_at,omitzero"`
	LastUsedIP   string    `json:"last_used_ip,omitempty"`
	State        string    `json:"state"` // active, expired, revoked
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
}

type deviceOut struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	UserAgent    string    `json:"user_agent"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	LastIP       string    `json:"last_ip"`
	State        string    `json:"state"` // signed_in, signed_out
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

func showKey(k directory.APIKey, now time.Time) apiKeyOut {
	state := "active"
	switch {
	case !k.RevokedAt.IsZero():
		state = "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		state = "expired"
	}
	return apiKeyOut{ID: k.ID, Name: k.Name, Scopes: nonNil(k.Scopes), AllowedCIDRs: nonNil(k.AllowedCIDRs), CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, LastUsedIP: k.LastUsedIP, State: state, RevokedAt: k.RevokedAt}
}

func showDevice(d directory.Device) deviceOut {
	state := "signed_in"
	if !d.RevokedAt.IsZero() {
		state = "signed_out"
	}
	return deviceOut{ID: d.ID, ClientID: d.ClientID, UserAgent: d.UserAgent, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
		LastIP: d.LastIP, State: state, RevokedAt: d.RevokedAt, RevokeReason: d.RevokeReason}
}

// detail gathers the user as GET /users/{username} shows them.
func (a *API) detail(r *http.Request, username string) (userDetail, error) {
	ctx := r.Context()
	d, err := a.o.Admin.ShowUser(ctx, username)
	if err != nil {
		return userDetail{}, err
	}
	u := d.User
	keys, err := a.o.Admin.UserAPIKeys(ctx, u.ID)
	if err != nil {
		return userDetail{}, err
	}
	_, devs, err := a.o.Admin.Devices(ctx, u.Username)
	if err != nil {
		return userDetail{}, err
	}
	out := userDetail{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role,
		Groups: nonNil(u.Groups), Disabled: u.Disabled, Template: d.Template, TemplateSource: d.TemplateSource, Admin: d.Admin,
		HasPassword: u.PasswordHash != "", PasswordExpires: u.PasswordExpires, MustChangePassword: u.MustChangePassword,
		TwoFactor: twoFactorOut{Enrolled: d.TwoFactor.Enrolled, Required: d.TwoFactor.Required, UserRequired: u.Require2FA,
			RecoveryCodesLeft: d.TwoFactor.RecoveryCodesLeft},
		Allowlist: allowlistJSON(u.AllowList), AllowedCIDRs: nonNil(u.AllowList.CIDRs()), APIKeys: []apiKeyOut{}, Devices: []deviceOut{},
		LastLogin: d.LastLogin, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	now := a.o.Now()
	for _, k := range keys {
		out.APIKeys = append(out.APIKeys, showKey(k, now))
	}
	for _, dv := range devs {
		out.Devices = append(out.Devices, showDevice(dv))
	}
	return out, nil
}

// answerUser answers the user as they are now.
func (a *API) answerUser(w http.ResponseWriter, r *http.Request, status int, username string) {
	d, err := a.detail(r, username)
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, status, d)
}

// apiFields names an operation's problems as this API's JSON does
// (auth/admin names them as the CLI's flags: display-name).
func apiFields(err error) error {
	var inv *admin.InvalidError
	if !errors.As(err, &inv) {
		return err
	}
	out := &admin.InvalidError{Problems: slices.Clone(inv.Problems)}
	for i := range out.Problems {
		out.Problems[i].Field = strings.ReplaceAll(out.Problems[i].Field, "-", "_")
	}
	return out
}

func (a *API) showUser(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, _ string) {
	a.answerUser(w, r, http.StatusOK, r.PathValue("username"))
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		Username    string   `json:"username"`
		Email       string   `json:"email"`
		Role        string   `json:"role"`
		DisplayName string   `json:"display_name"`
		Groups      []string `json:"groups"`
		// Password nil (absent or null): no local password; the user
		// logs in through a provider, or an admin sets one later.
		Password *string `json:"password"`
		// MustChange (default true) makes the password good for one
		// login, as for a password set later.
		MustChange *bool `json:"must_change"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Username == "" || in.Email == "" || in.Role == "" {
		apiError(w, http.StatusBadRequest, "bad_request", "username, email and role are required.")
		return
	}
	u, err := a.o.Admin.AddUser(r.Context(), actor, admin.NewUser{Username: in.Username, Email: in.Email, Role: in.Role,
		DisplayName: in.DisplayName, Groups: in.Groups, Password: in.Password, MustChange: in.MustChange == nil || *in.MustChange})
	if err != nil {
		fail(w, apiFields(err))
		return
	}
	w.Header().Set("Location", prefix+"/users/"+u.Username)
	a.answerUser(w, r, http.StatusCreated, u.Username)
}

func (a *API) editUser(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		Email       *string   `json:"email"`
		DisplayName *string   `json:"display_name"`
		Role        *string   `json:"role"`
		Groups      *[]string `json:"groups"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	u, changed, err := a.o.Admin.EditUser(r.Context(), actor, r.PathValue("username"),
		admin.UserEdit{Email: in.Email, DisplayName: in.DisplayName, Role: in.Role, Groups: in.Groups})
	if err != nil {
		fail(w, apiFields(err))
		return
	}
	for i, f := range changed {
		changed[i] = strings.ReplaceAll(f, "-", "_")
	}
	d, err := a.detail(r, u.Username)
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"user": d, "changed": nonNil(changed)})
}

// deleteUser deletes the user; with ?erase=true it is the data-protection
// erasure, which also rewrites their audit events under a pseudonym.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	name := r.PathValue("username")
	const msg = "deleted with their second factor, API keys, devices and group memberships; their sessions end on every gateway within a second"
	switch r.URL.Query().Get("erase") {
	case "", "false":
		u, err := a.o.Admin.DeleteUser(r.Context(), actor, name)
		if err != nil {
			fail(w, err)
			return
		}
		web.JSON(w, http.StatusOK, map[string]any{"user": u.Username, "message": msg})
	case "true":
		e, err := a.o.Admin.EraseUser(r.Context(), actor, name)
		if err != nil {
			fail(w, err)
			return
		}
		web.JSON(w, http.StatusOK, map[string]any{"user": name, "message": msg + "; their audit events now name " + e.Pseudonym,
			"pseudonym": e.Pseudonym, "audit_events_rewritten": e.Events})
	default:
		apiError(w, http.StatusBadRequest, "bad_request", "erase must be true or false.")
	}
}

func (a *API) setDisabled(disabled bool) handler {
	return func(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
		u, err := a.o.Admin.SetDisabled(r.Context(), actor, r.PathValue("username"), disabled)
		if err != nil {
			fail(w, err)
			return
		}
		a.answerUser(w, r, http.StatusOK, u.Username)
	}
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		Password *string `json:"password"`
		// MustChange defaults to true: a password an admin chose (and
		// so knows) is the user's only for one login ("Enforce Password
		// Reset"); send false for a password handed over some other way.
		MustChange *bool `json:"must_change"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Password == nil {
		apiError(w, http.StatusBadRequest, "bad_request", "Send {\"password\": …}.")
		return
	}
	u, err := a.o.Admin.SetPassword(r.Context(), actor, r.PathValue("username"), *in.Password, in.MustChange == nil || *in.MustChange)
	if err != nil {
		fail(w, err)
		return
	}
	a.answerUser(w, r, http.StatusOK, u.Username)
}

func (a *API) reset2FA(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	u, err := a.o.Admin.Reset2FA(r.Context(), actor, r.PathValue("username"))
	if err != nil {
		fail(w, err)
		return
	}
	a.answerUser(w, r, http.StatusOK, u.Username)
}

func (a *API) require2FA(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var in struct {
		Required *bool `json:"required"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Required == nil {
		apiError(w, http.StatusBadRequest, "bad_request", "Send {\"required\": true} or {\"required\": false}.")
		return
	}
	u, err := a.o.Admin.Require2FA(r.Context(), actor, r.PathValue("username"), *in.Required)
	if err != nil {
		fail(w, err)
		return
	}
	a.answerUser(w, r, http.StatusOK, u.Username)
}

// revokeKey revokes one of the user's keys: a key of anyone else is
// not found, as an unknown one is.
func (a *API) revokeKey(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	ctx, id := r.Context(), r.PathValue("id")
	keys, err := a.o.Admin.APIKeys(ctx, r.PathValue("username"))
	if err != nil {
		fail(w, err)
		return
	}
	if !slices.ContainsFunc(keys, func(k directory.APIKey) bool { return k.ID == id }) {
		fail(w, admin.ErrNoAPIKey)
		return
	}
	k, err := a.o.revokeKey(ctx, actor, id)
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, showKey(*k, a.o.Now()))
}

// revokeKeys revokes every live key of the user: the "revoke all" of the
// user's keys, short of logging everyone out.
func (a *API) revokeKeys(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	ctx, name := r.Context(), r.PathValue("username")
	keys, err := a.o.Admin.APIKeys(ctx, name)
	if err != nil {
		fail(w, err)
		return
	}
	now, done := a.o.Now(), []string{}
	for _, k := range keys {
		if !k.RevokedAt.IsZero() || !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			continue
		}
		if _, err := a.o.revokeKey(ctx, actor, k.ID); err != nil {
			fail(w, err)
			return
		}
		done = append(done, k.ID)
	}
	web.JSON(w, http.StatusOK, map[string]any{"user": name, "revoked": done})
}

// revokeDevices signs out one device of the user ({id}) or all of them.
func (a *API) revokeDevices(w http.ResponseWriter, r *http.Request, _ *proxy.Caller, actor string) {
	var ids []string
	if id := r.PathValue("id"); id != "" {
		ids = []string{id}
	}
	u, done, err := a.o.Admin.RevokeDevices(r.Context(), actor, r.PathValue("username"), ids)
	if err != nil {
		fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"user": u.Username, "revoked": nonNil(done)})
}
