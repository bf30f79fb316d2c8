package totp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"strings"
	"unicode"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
)

const (
	// SecretSize is the length of a new secret: 160 bits, the RFC 4226
	// recommendation and what authenticator apps expect.
	SecretSize = 20
	// minSecretSize refuses secrets below RFC 4226's 128-bit minimum.
	minSecretSize = 16
	// QRSize is the width and height of the enrolment QR image in pixels.
	QRSize = 256
)

// Enrollment is what the enrolment page shows: the QR code to scan, and the
// secret and URI for typing in by hand. It holds the secret in clear, so
// it lives only for the enrolment request; store Secret sealed
// (secret.Keyring) once the user confirms a code.
type Enrollment struct {
	Secret []byte // SecretSize random bytes
	Base32 string // Secret in base32 without padding, for manual entry
	URI    string // otpauth://totp/Issuer:account?algorithm=SHA1&digits=6&issuer=Issuer&period=30&secret=...
	PNG    []byte // QR code of URI, QRSize×QRSize
}

// String keeps the secret out of fmt output.
func (e Enrollment) String() string { return "totp.Enrollment{REDACTED}" }

// GoString keeps the secret out of %#v.
func (e Enrollment) GoString() string { return e.String() }

// LogValue keeps the secret out of logs.
func (e Enrollment) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// NewEnrollment draws a new secret and builds its enrolment material.
// issuer is the name the app shows (the product or company); account is
// the username.
func NewEnrollment(issuer, account string) (Enrollment, error) {
	secret := make([]byte, SecretSize)
	// io.ReadFull, not Read: a short read must not leave part of the
	// secret zero (pquerna/otp's v1.5.0 security fix).
	if _, err := io.ReadFull(rand.Reader, secret); err != nil {
		return Enrollment{}, fmt.Errorf("totp enrollment: random secret: %w", err)
	}
	return EnrollmentFor(secret, issuer, account)
}

// EnrollmentFor rebuilds the material for an existing secret, so a reload
// of the enrolment page shows the same QR code as before.
func EnrollmentFor(secret []byte, issuer, account string) (Enrollment, error) {
	if err := checkLabel(issuer, account); err != nil {
		return Enrollment{}, err
	}
	if len(secret) < minSecretSize {
		return Enrollment{}, fmt.Errorf("totp enrollment: secret is %d bytes, want at least %d", len(secret), minSecretSize)
	}
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(Period.Seconds()),
		Secret:      secret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp enrollment: key uri: %w", err)
	}
	img, err := key.Image(QRSize, QRSize)
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp enrollment: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrollment{}, fmt.Errorf("totp enrollment: png: %w", err)
	}
	return Enrollment{
		Secret: bytes.Clone(secret),
		Base32: key.Secret(),
		URI:    key.String(), // exactly what the QR code encodes
		PNG:    buf.Bytes(),
	}, nil
}

// checkLabel enforces the key-URI label rules apps rely on: the issuer
// prefix ends at the first colon, so the issuer must not contain one (the
// account may: apps split at the first colon only), and neither part may
// be empty or hold control characters, which apps render badly.
func checkLabel(issuer, account string) error {
	if issuer == "" || account == "" {
		return errors.New("totp enrollment: issuer and account are required")
	}
	if strings.Contains(issuer, ":") {
		return fmt.Errorf("totp enrollment: issuer %q must not contain ':'", issuer)
	}
	if strings.ContainsFunc(issuer+account, unicode.IsControl) {
		return errors.New("totp enrollment: issuer and account must not contain control characters")
	}
	return nil
}
