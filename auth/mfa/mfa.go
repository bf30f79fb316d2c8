// Package mfa is the second factor as a service: TOTP enrolment with a
// confirmation code, codes sent by email (enrolled by a code sent to the
// account's address), verification with replay protection and
// failed-attempt limits, single-use recovery codes, and
// remember-this-device tokens. It
// ties the primitives (auth/totp, auth/secret, auth/lockout) to the
// directory and the session store; the HTTP flow lives in proxy.
//
// Every change to a user's factors (enrolling one, removing it, new
// recovery codes) ends the user's other sessions through the
// EndOtherSessions hook (ASVS 7.4.3): whoever else was logged in as the
// user, perhaps with a password that leaked, has to face the new factor.
package mfa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/auth/totp"
	"github.com/gatehouse-auth/gatehouse/session"

	"github.com/go-webauthn/webauthn/webauthn"
)

// Method names for X-Gatehouse-Auth-Method after the first factor.
const (
	MethodTOTP     = auth.MethodTOTP
	MethodRecovery = auth.MethodRecoveryCode
)

// RecoveryCodeCount is how many codes an enrolment hands out.
const RecoveryCodeCount = 10

// enrolTTL bounds how long a shown QR code can be confirmed.
const enrolTTL = 10 * time.Minute

var (
	// ErrNotEnrolled means the user has no factor.
	ErrNotEnrolled = auth.ErrNotEnrolled
	// ErrNoEnrollment means no enrolment was started for this session, or it expired.
	ErrNoEnrollment = auth.ErrNoEnrollment
	// ErrLastFactor refuses removing the user's last factor where the
	// caller asked to keep one.
	ErrLastFactor = auth.ErrLastFactor
	// ErrAlreadyEnrolled means the user enrolled a factor (elsewhere)
	// after this enrolment began; the enrolment is dropped and the
	// factor the user has stays. Send the user to their account page.
	ErrAlreadyEnrolled = auth.ErrAlreadyEnrolled
)

// Store is what the service needs of the directory.
type Store interface {
	UserByID(ctx context.Context, id string) (*directory.User, error)
	BumpSecurityStamp(ctx context.Context, id string) (int64, error)
	directory.MFA
}

// Limits bound guessing of second-factor codes per user.
type Limits struct {
	Attempts int
	Window   time.Duration
}

// State is what the service needs of the session store, shared by every
// replica: attempt counters, pending enrolments and the last TOTP step
// each user used.
type State interface {
	lockout.Store
	session.Nonces
	session.Watermarks
	session.Counter
}

// EndOthers ends every session of userID except keepSessionID (none when
// it is empty), on every replica.
type EndOthers func(ctx context.Context, userID, keepSessionID string) error

// Option configures a Service.
type Option func(*Service)

// EndOtherSessions sets the hook that ends the user's other sessions
// after a change to their factors. Without it nothing is ended.
func EndOtherSessions(f EndOthers) Option {
	return func(s *Service) { s.endOthers = f }
}

// Service is the second factor. Safe for concurrent use.
type Service struct {
	store      Store
	keys       *secret.Keyring
	verifier   *totp.Verifier
	state      State
	limiter    *lockout.Limiter
	limits     Limits
	issuer     string
	now        func() time.Time
	endOthers  EndOthers
	mail       email.Sender // nil: no email codes
	product    string
	text       Texter // nil: no codes by text message
	validPhone func(string) error
	// textsPerHour caps the texts sent, all accounts together (0: none).
	textsPerHour int
	rp           *webauthn.WebAuthn // nil: no passkeys
}

// New wires a Service. state is the session store (counters and one-time
// values shared by every replica); issuer names the account in
// authenticator apps.
func New(store Store, keys *secret.Keyring, state State, limits Limits, issuer string, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{store: store, keys: keys, state: state, limits: limits, issuer: issuer, now: now, product: "Gatehouse",
		limiter: lockout.New(state, limits.Window), verifier: &totp.Verifier{Marks: state, Now: now}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Status reads the user's second-factor state.
func (s *Service) Status(ctx context.Context, userID string) (auth.MFAStatus, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return auth.MFAStatus{}, err
	}
	st := auth.MFAStatus{Required: u.Require2FA, Stamp: u.SecurityStamp}
	switch _, err := s.store.TOTP(ctx, userID); {
	case err == nil:
		st.Methods = append(st.Methods, MethodTOTP)
	case !errors.Is(err, directory.ErrNotFound):
		return auth.MFAStatus{}, err
	}
	fs, err := s.store.OTPFactors(ctx, userID)
	if err != nil {
		return auth.MFAStatus{}, err
	}
	for _, f := range fs {
		st.Methods = append(st.Methods, f.Kind)
		if f.Kind == directory.OTPSMS {
			st.PhoneTo = MaskPhone(f.Target)
		}
	}
	switch ps, err := s.store.Passkeys(ctx, userID); {
	case err != nil:
		return auth.MFAStatus{}, err
	case len(ps) > 0:
		st.Methods = append(st.Methods, MethodWebAuthn)
	}
	if u.Email != "" {
		st.EmailTo = MaskEmail(u.Email)
	}
	if st.Enrolled = len(st.Methods) > 0; st.Enrolled {
		if st.RecoveryCodes, err = s.store.RecoveryCodesLeft(ctx, userID); err != nil {
			return auth.MFAStatus{}, err
		}
	}
	return st, nil
}

// StartEnrollment returns the enrolment material for session sid, making
// a new secret the first time and showing the same one on reloads. The
// secret waits, sealed, in the session store until confirmed.
func (s *Service) StartEnrollment(ctx context.Context, sid string, id auth.Identity) (auth.Enrollment, error) {
	key := "enrol:" + sid
	if sealed, err := s.state.Take(ctx, key); err == nil {
		if plain, _, err := s.keys.Open(sealed, []byte(id.UserID)); err == nil {
			if _, err := s.state.PutOnce(ctx, key, sealed, enrolTTL); err != nil {
				return auth.Enrollment{}, err
			}
			return s.enrollment(plain, id.Username)
		}
	} else if !errors.Is(err, session.ErrNotFound) {
		return auth.Enrollment{}, err
	}
	e, err := totp.NewEnrollment(s.issuer, id.Username)
	if err != nil {
		return auth.Enrollment{}, err
	}
	if _, err := s.state.PutOnce(ctx, key, s.keys.Seal(e.Secret, []byte(id.UserID)), enrolTTL); err != nil {
		return auth.Enrollment{}, err
	}
	return auth.Enrollment{Base32: e.Base32, URI: e.URI, PNG: e.PNG}, nil
}

func (s *Service) enrollment(secretBytes []byte, account string) (auth.Enrollment, error) {
	e, err := totp.EnrollmentFor(secretBytes, s.issuer, account)
	return auth.Enrollment{Base32: e.Base32, URI: e.URI, PNG: e.PNG}, err
}

// ConfirmEnrollment checks a code from the new authenticator and, when it
// is right and the user still has no factor, stores the factor and returns
// fresh recovery codes (shown once), then ends the user's other sessions,
// keeping sid. The step the code used is recorded, so it cannot log in
// again. If the user enrolled elsewhere since this enrolment began it
// returns ErrAlreadyEnrolled and changes nothing: only the current factor
// may change the current factor. add is the account page's "add a
// factor" for a user who has one, from a fully signed-in, fresh session
// (the caller's to check): the app is stored beside the other factors,
// the recovery codes stay, and no codes are returned.
func (s *Service) ConfirmEnrollment(ctx context.Context, sid string, id auth.Identity, code string, add bool) ([]string, error) {
	att, err := s.reserve(ctx, id.UserID, MethodTOTP)
	if err != nil {
		return nil, err
	}
	key := "enrol:" + sid
	sealed, err := s.state.Take(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return nil, cancel(ctx, att, ErrNoEnrollment)
	}
	if err != nil {
		return nil, cancel(ctx, att, err)
	}
	plain, _, err := s.keys.Open(sealed, []byte(id.UserID))
	if err != nil {
		return nil, cancel(ctx, att, ErrNoEnrollment)
	}
	// Checked here too (the write checks again, atomically) so that a
	// stale page does not spend the user's current TOTP step.
	switch _, err := s.store.TOTP(ctx, id.UserID); {
	case err == nil:
		return nil, cancel(ctx, att, ErrAlreadyEnrolled)
	case !errors.Is(err, directory.ErrNotFound):
		return nil, cancel(ctx, att, err)
	}
	if _, err := s.verifier.Verify(ctx, id.UserID, plain, code); err != nil {
		if wrongCode(err) {
			err = s.failed(att, id.UserID, err)
		} else {
			err = cancel(ctx, att, err)
		}
		// Put the pending secret back so the user can try again.
		if _, perr := s.state.PutOnce(ctx, key, sealed, enrolTTL); perr != nil {
			return nil, errors.Join(err, perr)
		}
		return nil, err
	}
	f := directory.TOTPFactor{UserID: id.UserID, Secret: s.keys.Seal(plain, []byte(id.UserID)), CreatedAt: s.now()}
	return s.storeFactor(ctx, att, id.UserID, sid, add,
		func(hashes [][]byte) error { return s.store.EnrollFirstTOTP(ctx, f, hashes) },
		func() error { return s.store.AddTOTP(ctx, f) })
}

// storeFactor ends a confirmed enrolment. A first factor (first, an
// EnrollFirst*) is written with fresh recovery codes, returned to be
// shown once, unless the user enrolled meanwhile (ErrAlreadyEnrolled,
// nothing changed); with add, another (an Add*) writes it beside the
// user's factors, refused as ErrAlreadyEnrolled for a kind the user has
// and ErrNoEnrollment when the user has none any more. The attempt counts
// as a success and the user's other sessions end, sid kept.
func (s *Service) storeFactor(ctx context.Context, att *lockout.Attempt, userID, sid string, add bool, first func(hashes [][]byte) error, another func() error) ([]string, error) {
	var codes []string
	var err error
	if add {
		err = another()
		if errors.Is(err, directory.ErrNotFound) {
			return nil, cancel(ctx, att, ErrNoEnrollment)
		}
	} else {
		var hashes [][]byte
		codes, hashes = newRecoveryCodes()
		err = first(hashes)
	}
	switch {
	case errors.Is(err, directory.ErrConflict):
		return nil, cancel(ctx, att, ErrAlreadyEnrolled)
	case err != nil:
		return nil, cancel(ctx, att, err)
	}
	if err := att.Succeeded(ctx); err != nil {
		return nil, err
	}
	if err := s.endOtherSessions(ctx, userID, sid); err != nil {
		return nil, err
	}
	return codes, nil
}

// newRecoveryCodes are a first factor's codes and their hashes.
func newRecoveryCodes() ([]string, [][]byte) { return totp.NewRecoveryCodes(RecoveryCodeCount) }

// Verify checks a TOTP code, an emailed code or a recovery code and says
// which it was. The attempt is reserved against the user's limit before
// any code is compared, so concurrent guesses cannot outrun it; wrong
// codes stay counted, and a replayed or older TOTP step is refused like a
// wrong code.
func (s *Service) Verify(ctx context.Context, userID, code string) (string, error) {
	return s.verify(ctx, userID, code, false)
}

// VerifyForReset is Verify for a password reset: the link came by email,
// so a code sent by email (to the same mailbox) is no second proof and is
// refused like a wrong code; the app's code, a texted code (SendResetCode's
// or a login's) and a recovery code pass.
func (s *Service) VerifyForReset(ctx context.Context, userID, code string) (string, error) {
	return s.verify(ctx, userID, code, true)
}

// verify is Verify, or VerifyForReset when reset.
func (s *Service) verify(ctx context.Context, userID, code string, reset bool) (string, error) {
	var allowed func(kind string) bool
	if reset {
		allowed = func(kind string) bool { return kind != directory.OTPEmail }
	}
	att, err := s.reserve(ctx, userID, MethodTOTP)
	if err != nil {
		return "", err
	}
	if rc, ok := totp.NormalizeRecoveryCode(code); ok {
		switch err := s.store.UseRecoveryCode(ctx, userID, totp.HashRecoveryCode(rc), s.now()); {
		case err == nil:
			return MethodRecovery, att.Succeeded(ctx)
		case errors.Is(err, directory.ErrNotFound):
			return "", s.failed(att, userID, auth.ErrInvalidCredentials)
		default:
			return "", cancel(ctx, att, err)
		}
	}
	fs, err := s.store.OTPFactors(ctx, userID)
	if err != nil {
		return "", cancel(ctx, att, err)
	}
	f, err := s.store.TOTP(ctx, userID)
	hasTOTP := err == nil
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return "", cancel(ctx, att, err)
	}
	sent := len(fs)
	if allowed != nil {
		fs = slices.DeleteFunc(fs, func(f directory.OTPFactor) bool { return !allowed(f.Kind) })
	}
	if !hasTOTP && len(fs) == 0 && sent > 0 {
		// Only codes of a kind not taken here: a recovery code it is.
		return "", s.failedAs(att, userID, MethodRecovery, ReasonWrongCode)
	}
	if !hasTOTP && len(fs) == 0 {
		// Passkeys only: no code but a recovery code is right here.
		switch ps, err := s.store.Passkeys(ctx, userID); {
		case err != nil:
			return "", cancel(ctx, att, err)
		case len(ps) > 0:
			return "", s.failedAs(att, userID, MethodRecovery, ReasonWrongCode)
		}
		return "", cancel(ctx, att, ErrNotEnrolled)
	}
	var totpErr error
	if hasTOTP {
		method, err := s.verifyTOTP(ctx, userID, f, code)
		switch {
		case err == nil:
			return method, att.Succeeded(ctx)
		case !wrongCode(err):
			return "", cancel(ctx, att, err)
		}
		totpErr = err
	}
	if len(fs) > 0 && reset {
		// A code texted from the reset page, kept apart from the login's.
		switch ok, p, err := s.checkPending(ctx, resetCodeKey(userID), userID, "reset", code); {
		case ok && slices.ContainsFunc(fs, func(f directory.OTPFactor) bool { return f.Kind == p.Kind }):
			return OTPMethod(p.Kind), att.Succeeded(ctx)
		case err != nil && !errors.Is(err, errNoCode):
			return "", cancel(ctx, att, err)
		}
	}
	if len(fs) > 0 {
		// Not the app's code (or no app): a code the user was sent?
		switch ok, kind, err := s.checkLoginCode(ctx, userID, code, allowed); {
		case ok && slices.ContainsFunc(fs, func(f directory.OTPFactor) bool { return f.Kind == kind }):
			return OTPMethod(kind), att.Succeeded(ctx)
		case err != nil && !errors.Is(err, errNoCode):
			return "", cancel(ctx, att, err)
		}
	}
	// A wrong code, or none was sent (or it was used, or expired): a
	// guess all the same.
	if totpErr != nil {
		return "", s.failed(att, userID, totpErr)
	}
	return "", s.failedAs(att, userID, OTPMethod(fs[0].Kind), ReasonWrongCode)
}

// verifyTOTP checks code against the user's app factor f, re-sealing
// a secret sealed under an older key once it proved right.
func (s *Service) verifyTOTP(ctx context.Context, userID string, f directory.TOTPFactor, code string) (string, error) {
	plain, stale, err := s.keys.Open(f.Secret, []byte(userID))
	if err != nil {
		return "", fmt.Errorf("open totp secret of %s: %w", userID, err)
	}
	if _, err := s.verifier.Verify(ctx, userID, plain, code); err != nil {
		return "", err
	}
	if stale { // sealed under an older key: re-seal under the active one
		if err := s.store.UpdateTOTPSecret(ctx, userID, s.keys.Seal(plain, []byte(userID))); err != nil {
			return "", err
		}
	}
	return MethodTOTP, nil
}

// Failure reasons for the audit log.
const (
	ReasonWrongCode = "wrong_code"
	ReasonReplayed  = "replayed_code"
	ReasonLocked    = "locked_out"
)

// wrongCode tells a verdict on the code (count it) from a store failure
// (the code was never judged).
func wrongCode(err error) bool {
	return errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrReplayed)
}

// reserve takes one attempt from the user's budget before any code is
// compared; a spent budget is a locked_out failure.
func (s *Service) reserve(ctx context.Context, userID, method string) (*lockout.Attempt, error) {
	att, err := s.limiter.Reserve(ctx, lockout.SecondFactor(userID, s.limits.Attempts))
	if errors.Is(err, auth.ErrLockedOut) {
		return nil, &auth.Failure{Method: method, Reason: ReasonLocked, UserID: userID, Err: err}
	}
	return att, err
}

// failed keeps the attempt counted and describes the refusal.
func (s *Service) failed(att *lockout.Attempt, userID string, cause error) error {
	reason := ReasonWrongCode
	if errors.Is(cause, totp.ErrReplayed) {
		reason = ReasonReplayed
	}
	return s.failedAs(att, userID, MethodTOTP, reason)
}

// failedAs is failed for a factor and reason named by the caller.
func (s *Service) failedAs(att *lockout.Attempt, userID, method, reason string) error {
	att.Failed()
	return &auth.Failure{Method: method, Reason: reason, UserID: userID, Err: auth.ErrInvalidCredentials}
}

// cancel gives back an attempt whose code was never judged and returns
// err, or the store's error too if that fails.
func cancel(ctx context.Context, att *lockout.Attempt, err error) error {
	if cerr := att.Cancel(ctx); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// Remove deletes the user's factor and recovery codes, bumps the
// security stamp, which ends every remembered device, and ends the user's
// sessions except keepSessionID: the session that removed the factor when
// the user did it, none ("") when an admin resets the factor.
func (s *Service) Remove(ctx context.Context, userID, keepSessionID string) error {
	if err := s.store.RemoveTOTP(ctx, userID); err != nil {
		return err
	}
	if _, err := s.state.Take(ctx, loginCodeKey(userID)); err != nil && !errors.Is(err, session.ErrNotFound) {
		return err
	}
	if err := s.BumpStamp(ctx, userID); err != nil {
		return err
	}
	return s.endOtherSessions(ctx, userID, keepSessionID)
}

// RemoveFactor deletes one of the user's factors (totp, email, sms); the
// last one goes with the recovery codes and moves the security stamp (as
// Remove does). The user's other sessions end, keepSessionID kept.
// ErrNotEnrolled when the user has no such factor.
//
// keepOne refuses to remove the last factor (ErrLastFactor), checked in
// the same transaction, so two removals racing cannot leave a user the
// policy requires 2FA of with none.
func (s *Service) RemoveFactor(ctx context.Context, userID, kind, keepSessionID string, keepOne bool) error {
	left, err := s.store.RemoveFactor(ctx, userID, kind, keepOne)
	return s.factorRemoved(ctx, userID, keepSessionID, left, err)
}

// factorRemoved finishes a removal that left left factors (or failed
// with err): a waiting code dropped, the stamp moved with the last
// factor, the user's other sessions ended.
func (s *Service) factorRemoved(ctx context.Context, userID, keepSessionID string, left int, err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return ErrNotEnrolled
	case errors.Is(err, directory.ErrConflict):
		return ErrLastFactor
	case err != nil:
		return err
	}
	// A code sent for the factor just removed must not log in.
	if _, err := s.state.Take(ctx, loginCodeKey(userID)); err != nil && !errors.Is(err, session.ErrNotFound) {
		return err
	}
	if left == 0 {
		if err := s.BumpStamp(ctx, userID); err != nil {
			return err
		}
	}
	return s.endOtherSessions(ctx, userID, keepSessionID)
}

// BumpStamp invalidates the user's remembered devices (after a password
// change or a 2FA reset).
func (s *Service) BumpStamp(ctx context.Context, userID string) error {
	_, err := s.store.BumpSecurityStamp(ctx, userID)
	return err
}

// RegenerateRecoveryCodes replaces the user's codes and ends the user's
// sessions except keepSessionID (the one asking).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID, keepSessionID string) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	if err := s.endOtherSessions(ctx, userID, keepSessionID); err != nil {
		return nil, err
	}
	return codes, nil
}

// endOtherSessions runs the hook, if any. The factor change is already
// stored when it fails; the error tells the caller the other sessions may
// live on, so the request must not report success.
func (s *Service) endOtherSessions(ctx context.Context, userID, keepSessionID string) error {
	if s.endOthers == nil {
		return nil
	}
	if err := s.endOthers(ctx, userID, keepSessionID); err != nil {
		return fmt.Errorf("mfa: end other sessions of %s: %w", userID, err)
	}
	return nil
}

// RememberToken signs a remember-this-device cookie value, issued now.
func (s *Service) RememberToken(userID string, stamp int64, expires time.Time) string {
	return totp.RememberToken(s.keys, userID, stamp, s.now(), expires)
}

// CheckRemember verifies a remember-this-device cookie value for the user
// under the current policy's lifetime for remembered devices (maxAge,
// policy mfa.remember_device): a token older than that is refused even if
// it was issued under a longer one.
func (s *Service) CheckRemember(token, userID string, stamp int64, maxAge time.Duration) bool {
	return totp.CheckRememberToken(s.keys, token, userID, stamp, s.now(), maxAge)
}
