package mfa

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/session"
)

// MethodEmail is the method name of a login whose second factor was a
// code sent by email ("password+email_otp").
const MethodEmail = auth.MethodEmailOTP

// Email codes: what the product's "OTP by email" promises, bounded so a
// code cannot be guessed (5 tries of 10^6, on top of the per-user limit
// every factor shares) nor sent in a flood.
const (
	CodeLifetime = 10 * time.Minute
	CodeTries    = 5
	// ResendAfter is how long after one code the next may be sent;
	// SendsPerHour caps them all.
	ResendAfter  = 30 * time.Second
	SendsPerHour = 10
)

var (
	// ErrNoEmail means the user has no email address to send codes to.
	ErrNoEmail = auth.ErrNoEmail
	// ErrSendTooSoon means a code was sent less than ResendAfter ago, or
	// SendsPerHour were sent this hour.
	ErrSendTooSoon = auth.ErrCodeSentRecently
	// ErrNoMailer means email codes are not available (no SMTP relay).
	ErrNoMailer = errors.New("mfa: email codes are not configured")
)

// WithEmail turns on email codes, sent through m; product names the
// application in the message.
func WithEmail(m email.Sender, product string) Option {
	return func(s *Service) { s.mail, s.product = m, product }
}

// EmailAvailable reports whether email codes can be sent at all.
func (s *Service) EmailAvailable() bool { return s.mail != nil }

// pendingCode is a sent code waiting in the shared store, sealed under
// the key ring with the user and purpose as associated data: a code for
// one user, or one purpose, cannot be opened as another's.
type pendingCode struct {
	Code    string `json:"c"`
	Tries   int    `json:"t"`
	Expires int64  `json:"e"`
}

func loginCodeKey(userID string) string { return "otp:email:" + userID }
func enrolCodeKey(sid string) string    { return "otp:enrol-email:" + sid }

// SendLoginCode emails the user a new code for the 2FA step, replacing
// any earlier one. The user must have an email factor.
func (s *Service) SendLoginCode(ctx context.Context, userID string) (string, error) {
	fs, err := s.store.OTPFactors(ctx, userID)
	if err != nil {
		return "", err
	}
	if !hasKind(fs, directory.OTPEmail) {
		return "", ErrNotEnrolled
	}
	return s.sendCode(ctx, userID, loginCodeKey(userID), "login")
}

// StartEmailEnrollment emails a code to the user's address for
// enrolling email codes from session sid; the code confirms they read it.
func (s *Service) StartEmailEnrollment(ctx context.Context, sid string, id auth.Identity) (string, error) {
	return s.sendCode(ctx, id.UserID, enrolCodeKey(sid), "enrol")
}

// sendCode makes a code, keeps it sealed under key and emails it; it
// returns the masked address it went to.
func (s *Service) sendCode(ctx context.Context, userID, key, purpose string) (string, error) {
	if s.mail == nil {
		return "", ErrNoMailer
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return "", err
	}
	if u.Email == "" {
		return "", ErrNoEmail
	}
	if fresh, err := s.state.PutOnce(ctx, "otp:sent:"+purpose+":"+userID, []byte{1}, ResendAfter); err != nil {
		return "", err
	} else if !fresh {
		return "", ErrSendTooSoon
	}
	if n, err := s.state.Incr(ctx, "otp:sends:"+userID, time.Hour); err != nil {
		return "", err
	} else if n > SendsPerHour {
		return "", ErrSendTooSoon
	}
	code, err := newCode()
	if err != nil {
		return "", err
	}
	if err := s.putCode(ctx, key, userID, purpose, pendingCode{Code: code, Expires: s.now().Add(CodeLifetime).Unix()}); err != nil {
		return "", err
	}
	msg := email.Message{To: u.Email, Subject: "Your " + s.product + " sign-in code",
		Text: fmt.Sprintf("Your %s sign-in code is %s.\r\n\r\nIt works once, for %d minutes. If you did not try to sign in, someone knows your password: change it.\r\n",
			s.product, code, int(CodeLifetime/time.Minute))}
	if err := s.mail.Send(ctx, msg); err != nil {
		s.state.Take(context.WithoutCancel(ctx), key) // a code nobody received must not stay guessable
		return "", fmt.Errorf("mfa: send email code: %w", err)
	}
	return MaskEmail(u.Email), nil
}

// putCode stores p under key, replacing what was there, until p expires.
func (s *Service) putCode(ctx context.Context, key, userID, purpose string, p pendingCode) error {
	left := time.Unix(p.Expires, 0).Sub(s.now())
	if left <= 0 {
		return nil
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := s.state.Take(ctx, key); err != nil && !errors.Is(err, session.ErrNotFound) {
		return err
	}
	_, err = s.state.PutOnce(ctx, key, s.keys.Seal(plain, []byte(userID+"\x00"+purpose)), left)
	return err
}

// errNoCode is checkCode's "no code is waiting" (none sent, used, expired).
var errNoCode = errors.New("mfa: no code is waiting")

// checkCode compares code with the one waiting under key. The waiting
// code is taken first, so of two concurrent guesses only one sees it; a
// wrong guess puts it back with one try fewer, and the last wrong try
// leaves nothing to guess.
func (s *Service) checkCode(ctx context.Context, key, userID, purpose, code string) (bool, error) {
	sealed, err := s.state.Take(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return false, errNoCode
	}
	if err != nil {
		return false, err
	}
	plain, _, err := s.keys.Open(sealed, []byte(userID+"\x00"+purpose))
	if err != nil {
		return false, errNoCode
	}
	var p pendingCode
	if err := json.Unmarshal(plain, &p); err != nil || !s.now().Before(time.Unix(p.Expires, 0)) {
		return false, errNoCode
	}
	code = strings.TrimSpace(code)
	if len(code) == len(p.Code) && subtle.ConstantTimeCompare([]byte(code), []byte(p.Code)) == 1 {
		return true, nil
	}
	if p.Tries++; p.Tries < CodeTries {
		if err := s.putCode(ctx, key, userID, purpose, p); err != nil {
			return false, err
		}
	}
	return false, nil
}

// verifyEmailCode is Verify's email branch: it judges code against the
// user's waiting login code; handled is false when no code is waiting.
func (s *Service) verifyEmailCode(ctx context.Context, userID, code string) (ok, handled bool, err error) {
	ok, err = s.checkCode(ctx, loginCodeKey(userID), userID, "login", code)
	if errors.Is(err, errNoCode) {
		return false, false, nil
	}
	return ok, err == nil, err
}

// ConfirmEmailEnrollment checks the code sent by StartEmailEnrollment
// and, when it is right and the user still has no factor, stores the
// email factor with fresh recovery codes (returned, shown once) and ends
// the user's other sessions, keeping sid.
func (s *Service) ConfirmEmailEnrollment(ctx context.Context, sid string, id auth.Identity, code string) ([]string, error) {
	att, err := s.reserve(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	ok, err := s.checkCode(ctx, enrolCodeKey(sid), id.UserID, "enrol", code)
	switch {
	case errors.Is(err, errNoCode):
		return nil, cancel(ctx, att, ErrNoEnrollment)
	case err != nil:
		return nil, cancel(ctx, att, err)
	case !ok:
		return nil, s.failedAs(att, id.UserID, MethodEmail, ReasonWrongCode)
	}
	return s.storeFirst(ctx, att, id.UserID, sid, func(hashes [][]byte) error {
		return s.store.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: id.UserID, Kind: directory.OTPEmail, CreatedAt: s.now()}, hashes)
	})
}

// newCode is six random decimal digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// MaskEmail shows enough of an address for its owner to recognise it
// and little for anyone looking over their shoulder: "a•••@corp.example".
func MaskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "•••"
	}
	r := []rune(local)
	return string(r[0]) + "•••@" + domain
}

func hasKind(fs []directory.OTPFactor, kind string) bool {
	for _, f := range fs {
		if f.Kind == kind {
			return true
		}
	}
	return false
}
