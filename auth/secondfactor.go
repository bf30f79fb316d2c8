package auth

import (
	"errors"
	"time"
)

// Second-factor method names beyond MethodTOTP, as they appear in
// X-Gatehouse-Auth-Method after the first factor ("password+totp").
const (
	MethodRecoveryCode     = "recovery_code"
	MethodRememberedDevice = "remembered_device"
	// MethodEmailOTP is a one-time code sent to the account's email;
	// MethodSMSOTP one sent by text message.
	MethodEmailOTP = "email_otp"
	MethodSMSOTP   = "sms_otp"
	// MethodWebAuthn is a passkey or security key (WebAuthn): after a
	// password, or alone when the policy allows passwordless logins.
	MethodWebAuthn = "webauthn"
)

// Email-code refusals, in the pages' terms (auth/mfa returns them).
var (
	// ErrCodeSentRecently refuses sending another code moments after one.
	ErrCodeSentRecently = errors.New("auth: a code was sent moments ago")
	// ErrNoEmail means the account has no email address to send codes to.
	ErrNoEmail = errors.New("auth: the account has no email address")
	// ErrBadPhone refuses a phone number that is not E.164.
	ErrBadPhone = errors.New("auth: not a phone number in international form (+ and country code)")
	// ErrLastFactor refuses removing a user's last factor where the
	// policy requires one.
	ErrLastFactor = errors.New("auth: the last second factor cannot be removed")
	// ErrNotEnrolled means the user has no second factor, or none of
	// the kind (or id) named.
	ErrNotEnrolled = errors.New("auth: no such second factor")
	// ErrTooManyPasskeys refuses registering a passkey past the most
	// one account may have.
	ErrTooManyPasskeys = errors.New("auth: the most passkeys one account may have are registered")
	// ErrNoEnrollment means no enrolment was started for this session,
	// or it expired (or its emailed code was used up).
	ErrNoEnrollment = errors.New("auth: no enrolment in progress")
)

// ErrAlreadyEnrolled means an enrolment was confirmed after the user had
// enrolled a factor elsewhere: nothing changed, and only the current
// factor may change the current factor.
var ErrAlreadyEnrolled = errors.New("auth: a second factor is already enrolled")

// MFAStatus is a user's second-factor state, as the login flow needs it.
type MFAStatus struct {
	Required      bool  // the per-user mandate
	Enrolled      bool  // a second factor (TOTP, email codes) is set up
	Stamp         int64 // the user's security stamp (remembered devices die when it changes)
	RecoveryCodes int   // unused recovery codes left
	// Methods are the user's factors ("totp", "email"), in the order
	// they were set up.
	Methods []string
	// EmailTo is the masked address email codes go to (the account's),
	// "" when the account has none; PhoneTo the masked number of an SMS
	// factor.
	EmailTo, PhoneTo string
}

// Enrollment is what a TOTP enrolment page shows: the secret for manual
// entry, the otpauth:// URI and its QR code as PNG.
type Enrollment struct {
	Base32 string
	URI    string
	PNG    []byte
}

// PasskeyInfo is one registered passkey as the account page lists it.
type PasskeyInfo struct {
	ID, Name            string
	CreatedAt, LastUsed time.Time // LastUsed zero: never
	// Synced is a passkey a platform backs up (and copies to the user's
	// other devices), not one bound to a single device.
	Synced bool
}
