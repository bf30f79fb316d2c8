package mfa

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Passkeys (WebAuthn, go-webauthn/webauthn): a second factor, and where
// the policy allows it a passwordless login on its own (a discoverable
// credential with user verification is something held and something
// known or been at once). The relying party id is the public URL's host
// and the only origin accepted is the public URL's, so an assertion
// made for any other site (a phishing copy of the login page) fails
// here: the browser signs the origin it ran on into clientDataJSON.
//
// Each ceremony's challenge waits in the shared store (any replica may
// finish it) and is taken, not read, when the answer comes back: a
// challenge answers once. The authenticator's signature counter is
// checked by the directory in the same statement that advances it.

// MethodWebAuthn is the login method of a passkey, as a second factor
// ("password+webauthn") and alone (passwordless).
const MethodWebAuthn = auth.MethodWebAuthn

// ceremonyTTL bounds how long a shown challenge can be answered; the
// browser's own timeout (ceremonyTimeout) is shorter.
const (
	ceremonyTTL     = 5 * time.Minute
	ceremonyTimeout = 3 * time.Minute
)

// Failure reasons of passkey assertions, for the audit log.
const (
	ReasonBadAssertion = "bad_assertion"
	ReasonCloned       = "counter_not_advanced"
	ReasonNoChallenge  = "no_challenge"
)

var (
	// ErrNoPasskeys means passkeys are not configured (WithPasskeys).
	ErrNoPasskeys = errors.New("mfa: passkeys are not configured")
	// ErrTooManyPasskeys refuses registering past directory.MaxPasskeys.
	ErrTooManyPasskeys = auth.ErrTooManyPasskeys
)

// RelyingParty builds the passkey settings for the gateway at public: its
// host is the relying party id and its origin the only one accepted.
// Browsers refuse an IP address as relying party id, so one is an error.
func RelyingParty(public *url.URL, name string) (*webauthn.WebAuthn, error) {
	host := public.Hostname()
	if host == "" || net.ParseIP(host) != nil {
		return nil, fmt.Errorf("passkeys need public_url to name a host (browsers refuse an IP address such as %q as the relying party); use a DNS name, or http://localhost:PORT to try it", host)
	}
	return webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: name,
		RPOrigins:     []string{public.Scheme + "://" + public.Host},
		// No attestation: which maker built the key is not something
		// the gateway acts on, and asking shows the user a prompt.
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
			Registration: webauthn.TimeoutConfig{Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
		},
	})
}

// WithPasskeys turns passkeys on for relying party rp (RelyingParty).
func WithPasskeys(rp *webauthn.WebAuthn) Option {
	return func(s *Service) { s.rp = rp }
}

// PasskeysAvailable reports whether passkeys can be used at all.
func (s *Service) PasskeysAvailable() bool { return s.rp != nil }

// waUser is a directory user as the WebAuthn library sees it. The user
// handle is the user id (random, no personal data, as WebAuthn asks).
type waUser struct {
	u     *directory.User
	creds []webauthn.Credential
	ids   []string // directory ids of creds, same order
}

func (w *waUser) WebAuthnID() []byte { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string {
	return w.u.Username
}
func (w *waUser) WebAuthnDisplayName() string {
	if w.u.DisplayName != "" {
		return w.u.DisplayName
	}
	return w.u.Username
}
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// passkeyUser loads the user and their passkeys.
func (s *Service) passkeyUser(ctx context.Context, userID string) (*waUser, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	ps, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	w := &waUser{u: u}
	for _, p := range ps {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return nil, fmt.Errorf("mfa: passkey %s of %s: %w", p.ID, userID, err)
		}
		w.creds, w.ids = append(w.creds, c), append(w.ids, p.ID)
	}
	return w, nil
}

// Ceremony keys in the shared store: registrations and second-factor
// assertions by session, passwordless logins by their challenge (the
// caller has no session yet; the challenge is random and comes back
// inside the signed clientDataJSON).
func regKey(sid string) string         { return "webauthn:reg:" + sid }
func assertKey(sid string) string      { return "webauthn:2fa:" + sid }
func loginKey(challenge string) string { return "webauthn:login:" + challenge }

// putCeremony stores sd under key, replacing one waiting there (a
// reloaded page starts over).
func (s *Service) putCeremony(ctx context.Context, key string, sd *webauthn.SessionData) error {
	b, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	return s.replace(ctx, key, b, ceremonyTTL)
}

// takeCeremony returns and deletes the ceremony under key:
// ErrNoEnrollment when there is none (expired, answered already).
func (s *Service) takeCeremony(ctx context.Context, key string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	b, err := s.state.Take(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return sd, ErrNoEnrollment
	}
	if err != nil {
		return sd, err
	}
	return sd, json.Unmarshal(b, &sd)
}

// BeginPasskeyRegistration returns the options (JSON, for the browser's
// navigator.credentials.create) for registering a passkey from session
// sid. The user's passkeys are excluded, so one authenticator is not
// registered twice; the credential is made discoverable where the
// authenticator can, so it can later log in without a username.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, sid string, id auth.Identity) ([]byte, error) {
	if s.rp == nil {
		return nil, ErrNoPasskeys
	}
	w, err := s.passkeyUser(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	if len(w.creds) >= directory.MaxPasskeys {
		return nil, ErrTooManyPasskeys
	}
	opts, sd, err := s.rp.BeginRegistration(w,
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred}))
	if err != nil {
		return nil, err
	}
	if err := s.putCeremony(ctx, regKey(sid), sd); err != nil {
		return nil, err
	}
	return json.Marshal(opts)
}

// FinishPasskeyRegistration checks the browser's answer (JSON, as
// PublicKeyCredential.toJSON writes it) to the registration session sid
// began, and stores the passkey named name: as the user's first factor
// with new recovery codes, or with add beside the others, as
// ConfirmEnrollment does. A wrong answer counts against the user's
// second-factor attempts like a wrong code.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, sid string, id auth.Identity, answer []byte, name string, add bool) ([]string, error) {
	if s.rp == nil {
		return nil, ErrNoPasskeys
	}
	att, err := s.reserve(ctx, id.UserID, MethodWebAuthn)
	if err != nil {
		return nil, err
	}
	sd, err := s.takeCeremony(ctx, regKey(sid))
	if err != nil {
		return nil, cancel(ctx, att, err)
	}
	w, err := s.passkeyUser(ctx, id.UserID)
	if err != nil {
		return nil, cancel(ctx, att, err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return nil, s.failedAs(att, id.UserID, MethodWebAuthn, ReasonBadAssertion)
	}
	cred, err := s.rp.CreateCredential(w, sd, parsed)
	if err != nil {
		return nil, s.failedAs(att, id.UserID, MethodWebAuthn, ReasonBadAssertion)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, cancel(ctx, att, err)
	}
	p := &directory.Passkey{UserID: id.UserID, CredentialID: cred.ID, Name: passkeyName(name, s.now()), Credential: record,
		SignCount: cred.Authenticator.SignCount, CreatedAt: s.now()}
	return s.storeFactor(ctx, att, id.UserID, sid, add,
		func(hashes [][]byte) error { return s.store.EnrollFirstPasskey(ctx, p, hashes) },
		func() error { return s.store.AddPasskey(ctx, p) })
}

// passkeyName is the name a user gave, trimmed to a line of 64
// characters, or one made from the date.
func passkeyName(name string, now time.Time) string {
	name = strings.Join(strings.Fields(name), " ")
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64])
	}
	if name == "" {
		name = "Passkey " + now.UTC().Format("2006-01-02")
	}
	return name
}

// BeginPasskeyLogin returns the options (JSON, for the browser's
// navigator.credentials.get) asking for one of the user's passkeys, as
// the second factor of session sid. ErrNotEnrolled when the user has
// none.
func (s *Service) BeginPasskeyLogin(ctx context.Context, sid, userID string) ([]byte, error) {
	if s.rp == nil {
		return nil, ErrNoPasskeys
	}
	w, err := s.passkeyUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, ErrNotEnrolled
	}
	opts, sd, err := s.rp.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, err
	}
	if err := s.putCeremony(ctx, assertKey(sid), sd); err != nil {
		return nil, err
	}
	return json.Marshal(opts)
}

// FinishPasskeyLogin checks the browser's answer to the assertion
// session sid began for userID: a passkey of that user, signed for this
// relying party and origin over this challenge, with a counter that
// advanced. Failures count as wrong codes do (ErrInvalidCredentials,
// auth.ErrLockedOut at the limit).
func (s *Service) FinishPasskeyLogin(ctx context.Context, sid, userID string, answer []byte) (string, error) {
	if s.rp == nil {
		return "", ErrNoPasskeys
	}
	att, err := s.reserve(ctx, userID, MethodWebAuthn)
	if err != nil {
		return "", err
	}
	sd, err := s.takeCeremony(ctx, assertKey(sid))
	if errors.Is(err, ErrNoEnrollment) {
		return "", s.failedAs(att, userID, MethodWebAuthn, ReasonNoChallenge)
	}
	if err != nil {
		return "", cancel(ctx, att, err)
	}
	w, err := s.passkeyUser(ctx, userID)
	if err != nil {
		return "", cancel(ctx, att, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return "", s.failedAs(att, userID, MethodWebAuthn, ReasonBadAssertion)
	}
	cred, err := s.rp.ValidateLogin(w, sd, parsed)
	if err != nil {
		return "", s.failedAs(att, userID, MethodWebAuthn, ReasonBadAssertion)
	}
	if err := s.usePasskey(ctx, att, w, cred); err != nil {
		return "", err
	}
	return MethodWebAuthn, att.Succeeded(ctx)
}

// usePasskey records a verified assertion of cred, one of w's. A
// counter that did not advance is a refusal counted against att: two
// authenticators hold the key (a clone), or the answer was replayed; a
// store failure gives att back.
func (s *Service) usePasskey(ctx context.Context, att *lockout.Attempt, w *waUser, cred *webauthn.Credential) error {
	i := slices.IndexFunc(w.creds, func(c webauthn.Credential) bool { return bytes.Equal(c.ID, cred.ID) })
	if i < 0 {
		return s.failedAs(att, w.u.ID, MethodWebAuthn, ReasonBadAssertion)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return cancel(ctx, att, err)
	}
	err = s.store.UsePasskey(ctx, w.ids[i], cred.Authenticator.SignCount, record, s.now())
	switch {
	case cred.Authenticator.CloneWarning, errors.Is(err, directory.ErrConflict):
		return s.failedAs(att, w.u.ID, MethodWebAuthn, ReasonCloned)
	case errors.Is(err, directory.ErrNotFound):
		return s.failedAs(att, w.u.ID, MethodWebAuthn, ReasonBadAssertion) // removed meanwhile
	case err != nil:
		return cancel(ctx, att, err)
	}
	return nil
}

// BeginPasswordless returns the options for a login with a passkey
// alone: no username, any discoverable credential of this relying party,
// user verification required (the passkey's PIN or biometric is what
// makes it two factors). binding is a random value the caller also gave
// the browser (a cookie): only an answer brought back with it finishes
// the login, so nobody can log a victim's browser in with their own
// passkey (login CSRF). The caller bounds how often an anonymous client
// may start one; each waits in the store for ceremonyTTL.
func (s *Service) BeginPasswordless(ctx context.Context, binding string) ([]byte, error) {
	if s.rp == nil {
		return nil, ErrNoPasskeys
	}
	opts, sd, err := s.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(passwordless{SessionData: *sd, Binding: binding})
	if err != nil {
		return nil, err
	}
	if ok, err := s.state.PutOnce(ctx, loginKey(sd.Challenge), b, ceremonyTTL); err != nil || !ok {
		return nil, errors.Join(err, errors.New("mfa: challenge collision"))
	}
	return json.Marshal(opts)
}

// passwordless is a waiting passwordless login.
type passwordless struct {
	webauthn.SessionData
	Binding string `json:"binding"`
}

// FinishPasswordless checks the answer to a BeginPasswordless challenge,
// brought back with its binding, and returns the identity it logs in
// (methods: webauthn): the passkey's owner, who must exist
// and not be disabled. Refusals are ErrInvalidCredentials (an
// *auth.Failure naming the user once known); a user's failures count
// against their second-factor attempts.
func (s *Service) FinishPasswordless(ctx context.Context, answer []byte, binding string) (auth.Identity, error) {
	if s.rp == nil {
		return auth.Identity{}, ErrNoPasskeys
	}
	refused := func(userID, reason string) error {
		return &auth.Failure{Method: MethodWebAuthn, Reason: reason, UserID: userID, Err: auth.ErrInvalidCredentials}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return auth.Identity{}, refused("", ReasonBadAssertion)
	}
	b, err := s.state.Take(ctx, loginKey(parsed.Response.CollectedClientData.Challenge))
	if errors.Is(err, session.ErrNotFound) {
		return auth.Identity{}, refused("", ReasonNoChallenge)
	}
	if err != nil {
		return auth.Identity{}, err
	}
	var waiting passwordless
	if err := json.Unmarshal(b, &waiting); err != nil {
		return auth.Identity{}, err
	}
	if binding == "" || subtle.ConstantTimeCompare([]byte(binding), []byte(waiting.Binding)) != 1 {
		return auth.Identity{}, refused("", "binding")
	}
	sd := waiting.SessionData
	// The user the credential is registered to, whatever the answer's
	// user handle says; the library then checks the two agree.
	p, err := s.store.PasskeyByCredentialID(ctx, parsed.RawID)
	if errors.Is(err, directory.ErrNotFound) {
		return auth.Identity{}, refused("", "unknown_credential")
	}
	if err != nil {
		return auth.Identity{}, err
	}
	w, err := s.passkeyUser(ctx, p.UserID)
	if errors.Is(err, directory.ErrNotFound) {
		return auth.Identity{}, refused(p.UserID, "unknown_user")
	}
	if err != nil {
		return auth.Identity{}, err
	}
	var cred *webauthn.Credential
	_, cred, err = s.rp.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(userHandle, w.WebAuthnID()) {
			return nil, errors.New("user handle is not the credential's owner")
		}
		return w, nil
	}, sd, parsed)
	if err != nil {
		// Not counted against the owner: with no password before it, a
		// bad signature says nothing about them, and a credential id is
		// no secret, so counting would let anyone lock a user out of
		// their second factor. Starts are bounded per client network.
		return auth.Identity{}, refused(p.UserID, ReasonBadAssertion)
	}
	// Signed by the owner's authenticator: from here a refusal (a counter
	// that did not advance) is the owner's, and a locked-out owner is
	// refused as at the 2FA step.
	att, err := s.reserve(ctx, p.UserID, MethodWebAuthn)
	if err != nil {
		return auth.Identity{}, err
	}
	if err := s.usePasskey(ctx, att, w, cred); err != nil {
		return auth.Identity{}, err
	}
	switch {
	case w.u.Disabled:
		return auth.Identity{}, cancel(ctx, att, refused(p.UserID, "disabled"))
	case w.u.PasswordHash == "":
		// No local password: a federated (or API provider) user, whose
		// provider must keep its say at every login (removal, groups).
		return auth.Identity{}, cancel(ctx, att, refused(p.UserID, "no_local_password"))
	}
	id := password.IdentityOf(w.u, MethodWebAuthn)
	// A password an admin set still has to be replaced first.
	id.MustChangePassword = w.u.MustChangePassword
	return id, att.Succeeded(ctx)
}

// PasskeyList lists the user's passkeys.
func (s *Service) PasskeyList(ctx context.Context, userID string) ([]auth.PasskeyInfo, error) {
	ps, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]auth.PasskeyInfo, len(ps))
	for i, p := range ps {
		out[i] = auth.PasskeyInfo{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsed: p.LastUsedAt}
		var c webauthn.Credential
		if json.Unmarshal(p.Credential, &c) == nil {
			out[i].Synced = c.Flags.BackupState
		}
	}
	return out, nil
}

// RemovePasskey deletes one of the user's passkeys as RemoveFactor does
// a factor (keepOne, ErrLastFactor, other sessions ended, the stamp
// moved with the last factor).
func (s *Service) RemovePasskey(ctx context.Context, userID, id, keepSessionID string, keepOne bool) error {
	left, err := s.store.RemovePasskey(ctx, userID, id, keepOne)
	return s.factorRemoved(ctx, userID, keepSessionID, left, err)
}
