// Package mfa is the second factor as a service: TOTP enrolment with a
// confirmation code, verification with replay protection and failed-attempt
// limits, single-use recovery codes, and remember-this-device tokens. It
// ties the primitives (auth/totp, auth/secret) to the directory and the
// session store; the HTTP flow lives in proxy.
package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/auth/totp"
	"github.com/gatehouse-auth/gatehouse/session"
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
	ErrNotEnrolled = errors.New("mfa: not enrolled")
	// ErrNoEnrollment means no enrolment was started for this session, or it expired.
	ErrNoEnrollment = errors.New("mfa: no enrolment in progress")
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

// Service is the second factor. Safe for concurrent use.
type Service struct {
	store    Store
	keys     *secret.Keyring
	verifier *totp.Verifier
	state    interface {
		session.Counter
		session.Nonces
	}
	limits Limits
	issuer string
	now    func() time.Time
}

// New wires a Service. state is the session store (counters and one-time
// values shared by every replica); issuer names the account in
// authenticator apps.
func New(store Store, keys *secret.Keyring, state interface {
	session.Counter
	session.Nonces
}, limits Limits, issuer string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, keys: keys, state: state, limits: limits, issuer: issuer, now: now,
		verifier: &totp.Verifier{Nonces: state, Now: now}}
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
		st.Enrolled = true
		if st.RecoveryCodes, err = s.store.RecoveryCodesLeft(ctx, userID); err != nil {
			return auth.MFAStatus{}, err
		}
	case !errors.Is(err, directory.ErrNotFound):
		return auth.MFAStatus{}, err
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
// is right, stores the factor and returns fresh recovery codes (shown
// once). The step the code used is recorded, so it cannot log in again.
func (s *Service) ConfirmEnrollment(ctx context.Context, sid string, id auth.Identity, code string) ([]string, error) {
	if err := s.checkLock(ctx, id.UserID); err != nil {
		return nil, err
	}
	key := "enrol:" + sid
	sealed, err := s.state.Take(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return nil, ErrNoEnrollment
	}
	if err != nil {
		return nil, err
	}
	plain, _, err := s.keys.Open(sealed, []byte(id.UserID))
	if err != nil {
		return nil, ErrNoEnrollment
	}
	if _, err := s.verifier.Verify(ctx, id.UserID, plain, code); err != nil {
		// Put the pending secret back so the user can try again.
		if _, perr := s.state.PutOnce(ctx, key, sealed, enrolTTL); perr != nil {
			return nil, perr
		}
		return nil, s.failed(ctx, id.UserID, err)
	}
	codes, hashes := totp.NewRecoveryCodes(RecoveryCodeCount)
	f := directory.TOTPFactor{UserID: id.UserID, Secret: s.keys.Seal(plain, []byte(id.UserID)), CreatedAt: s.now()}
	if err := s.store.EnrollTOTP(ctx, f, hashes); err != nil {
		return nil, err
	}
	return codes, s.state.Reset(ctx, lockKey(id.UserID))
}

// Verify checks a TOTP code or a recovery code and says which it was.
// Wrong codes count towards the user's limit; a replayed TOTP step is
// refused like a wrong code.
func (s *Service) Verify(ctx context.Context, userID, code string) (string, error) {
	if err := s.checkLock(ctx, userID); err != nil {
		return "", err
	}
	if rc, ok := totp.NormalizeRecoveryCode(code); ok {
		switch err := s.store.UseRecoveryCode(ctx, userID, totp.HashRecoveryCode(rc), s.now()); {
		case err == nil:
			return MethodRecovery, s.state.Reset(ctx, lockKey(userID))
		case errors.Is(err, directory.ErrNotFound):
			return "", s.failed(ctx, userID, auth.ErrInvalidCredentials)
		default:
			return "", err
		}
	}
	f, err := s.store.TOTP(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return "", ErrNotEnrolled
	}
	if err != nil {
		return "", err
	}
	plain, stale, err := s.keys.Open(f.Secret, []byte(userID))
	if err != nil {
		return "", fmt.Errorf("open totp secret of %s: %w", userID, err)
	}
	if _, err := s.verifier.Verify(ctx, userID, plain, code); err != nil {
		return "", s.failed(ctx, userID, err)
	}
	if stale { // sealed under an older key: re-seal under the active one
		if err := s.store.UpdateTOTPSecret(ctx, userID, s.keys.Seal(plain, []byte(userID))); err != nil {
			return "", err
		}
	}
	return MethodTOTP, s.state.Reset(ctx, lockKey(userID))
}

// Failure reasons for the audit log.
const (
	ReasonWrongCode = "wrong_code"
	ReasonReplayed  = "replayed_code"
	ReasonLocked    = "locked_out"
)

func (s *Service) failed(ctx context.Context, userID string, cause error) error {
	if _, err := s.state.Incr(ctx, lockKey(userID), s.limits.Window); err != nil {
		return err
	}
	reason := ReasonWrongCode
	if errors.Is(cause, totp.ErrReplayed) {
		reason = ReasonReplayed
	}
	return &auth.Failure{Method: MethodTOTP, Reason: reason, UserID: userID, Err: auth.ErrInvalidCredentials}
}

func (s *Service) checkLock(ctx context.Context, userID string) error {
	n, err := s.state.Count(ctx, lockKey(userID))
	if err != nil {
		return err
	}
	if n >= int64(s.limits.Attempts) {
		return &auth.Failure{Method: MethodTOTP, Reason: ReasonLocked, UserID: userID, Err: auth.ErrLockedOut}
	}
	return nil
}

func lockKey(userID string) string { return "mfa:" + userID }

// Remove deletes the user's factor and recovery codes and bumps the
// security stamp, which ends every remembered device.
func (s *Service) Remove(ctx context.Context, userID string) error {
	if err := s.store.RemoveTOTP(ctx, userID); err != nil {
		return err
	}
	return s.BumpStamp(ctx, userID)
}

// BumpStamp invalidates the user's remembered devices (after a password
// change or a 2FA reset).
func (s *Service) BumpStamp(ctx context.Context, userID string) error {
	_, err := s.store.BumpSecurityStamp(ctx, userID)
	return err
}

// RegenerateRecoveryCodes replaces the user's codes.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, hashes := totp.NewRecoveryCodes(RecoveryCodeCount)
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// RememberToken signs a remember-this-device cookie value.
func (s *Service) RememberToken(userID string, stamp int64, expires time.Time) string {
	return totp.RememberToken(s.keys, userID, stamp, expires)
}

// CheckRemember verifies a remember-this-device cookie value for the user.
func (s *Service) CheckRemember(token, userID string, stamp int64) bool {
	return totp.CheckRememberToken(s.keys, token, userID, stamp, s.now())
}
