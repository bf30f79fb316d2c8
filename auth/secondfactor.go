package auth

import "errors"

// Second-factor method names beyond MethodTOTP, as they appear in
// X-Gatehouse-Auth-Method after the first factor ("password+totp").
const (
	MethodRecoveryCode     = "recovery_code"
	MethodRememberedDevice = "remembered_device"
)

// ErrAlreadyEnrolled means an enrolment was confirmed after the user had
// enrolled a factor elsewhere: nothing changed, and only the current
// factor may change the current factor.
var ErrAlreadyEnrolled = errors.New("auth: a second factor is already enrolled")

// MFAStatus is a user's second-factor state, as the login flow needs it.
type MFAStatus struct {
	Required      bool  // the per-user mandate
	Enrolled      bool  // a TOTP factor is set up
	Stamp         int64 // the user's security stamp (remembered devices die when it changes)
	RecoveryCodes int   // unused recovery codes left
}

// Enrollment is what a TOTP enrolment page shows: the secret for manual
// entry, the otpauth:// URI and its QR code as PNG.
type Enrollment struct {
	Base32 string
	URI    string
	PNG    []byte
}
