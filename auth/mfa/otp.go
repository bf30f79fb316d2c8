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
	// TextsPerNumberHour caps the texts to one phone number an hour,
	// across every account.
	TextsPerNumberHour = 5
)

var (
	// ErrNoEmail means the user has no email address to send codes to.
	ErrNoEmail = auth.ErrNoEmail
	// ErrSendTooSoon means a code was sent less than ResendAfter ago, or
	// SendsPerHour were sent this hour.
	ErrSendTooSoon = auth.ErrCodeSentRecently
	// ErrTextCap means the gateway sent sms.max_per_hour texts this
	// hour: none more until the hour is over, whoever asks.
	ErrTextCap = fmt.Errorf("mfa: the hourly cap on text messages is reached: %w", auth.ErrCodeSentRecently)
	// ErrNoMailer means email codes are not available (no SMTP relay).
	ErrNoMailer = errors.New("mfa: email codes are not configured")
)

// WithEmail turns on email codes, sent through m.
func WithEmail(m email.Sender) Option {
	return func(s *Service) { s.mail = m }
}

// WithProduct names the application in the codes' messages (default
// Gatehouse).
func WithProduct(name string) Option {
	return func(s *Service) { s.product = name }
}

// Texter sends a text message to a phone number (auth/sms's senders,
// adapted in cmd/gatehouse).
type Texter interface {
	Text(ctx context.Context, to, text string) error
}

// WithSMS turns on codes by text message, sent through t; valid checks
// a phone number a user types (E.164, and the countries allowed);
// perHour caps every text sent, across accounts and replicas (0: no
// cap).
func WithSMS(t Texter, valid func(string) error, perHour int) Option {
	return func(s *Service) { s.text, s.validPhone, s.textsPerHour = t, valid, perHour }
}

// EmailAvailable reports whether email codes can be sent at all.
func (s *Service) EmailAvailable() bool { return s.mail != nil }

// SMSAvailable reports whether codes by text message can be sent at all.
func (s *Service) SMSAvailable() bool { return s.text != nil }

// ErrBadPhone wraps the reason a typed phone number is refused.
var ErrBadPhone = auth.ErrBadPhone

// pendingCode is a sent code waiting in the shared store, sealed under
// the key ring with the user and purpose as associated data: a code for
// one user, or one purpose, cannot be opened as another's.
type pendingCode struct {
	Code    string `json:"c"`
	Tries   int    `json:"t"`
	Expires int64  `json:"e"`
	// To is the phone number an SMS enrolment's code went to: the one
	// the factor is stored with once the code comes back.
	To string `json:"to,omitempty"`
	// Kind is how the code was sent (email, sms): the login method a
	// right code makes.
	Kind string `json:"k,omitempty"`
}

func loginCodeKey(userID string) string { return "otp:login:" + userID }
func resetCodeKey(userID string) string { return "otp:reset:" + userID }
func enrolCodeKey(sid string) string    { return "otp:enrol:" + sid }

// SendLoginCode sends the user a new code for the 2FA step by kind
// (directory.OTPEmail, OTPSMS), replacing any earlier one, to where that
// factor sends; the user must have the factor. It returns the masked
// destination.
func (s *Service) SendLoginCode(ctx context.Context, userID, kind string) (string, error) {
	fs, err := s.store.OTPFactors(ctx, userID)
	if err != nil {
		return "", err
	}
	for _, f := range fs {
		if f.Kind == kind {
			return s.sendCode(ctx, userID, loginCodeKey(userID), "login", kind, f.Target)
		}
	}
	return "", ErrNotEnrolled
}

// SendResetCode texts the user's SMS factor a code for the password
// reset page, worded as a reset's (so a user who did not ask sees what
// someone is doing) and kept apart from the login's code, which it does
// not replace. Only VerifyForReset takes it.
func (s *Service) SendResetCode(ctx context.Context, userID string) (string, error) {
	fs, err := s.store.OTPFactors(ctx, userID)
	if err != nil {
		return "", err
	}
	for _, f := range fs {
		if f.Kind == directory.OTPSMS {
			return s.sendCode(ctx, userID, resetCodeKey(userID), "reset", directory.OTPSMS, f.Target)
		}
	}
	return "", ErrNotEnrolled
}

// StartEmailEnrollment emails a code to the user's address for
// enrolling email codes from session sid; the code confirms they read it.
func (s *Service) StartEmailEnrollment(ctx context.Context, sid string, id auth.Identity) (string, error) {
	return s.sendCode(ctx, id.UserID, enrolCodeKey(sid), "enrol", directory.OTPEmail, "")
}

// StartSMSEnrollment texts a code to phone for enrolling codes by text
// message from session sid; the code confirms the number is the user's.
func (s *Service) StartSMSEnrollment(ctx context.Context, sid string, id auth.Identity, phone string) (string, error) {
	if s.validPhone != nil {
		if err := s.validPhone(phone); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadPhone, err)
		}
	}
	return s.sendCode(ctx, id.UserID, enrolCodeKey(sid), "enrol", directory.OTPSMS, phone)
}

// sendCode makes a code, keeps it sealed under key and sends it by kind
// (to the account's email, or to phone); it returns the masked
// destination.
func (s *Service) sendCode(ctx context.Context, userID, key, purpose, kind, phone string) (string, error) {
	var to string
	switch kind {
	case directory.OTPEmail:
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
		to = u.Email
	case directory.OTPSMS:
		if s.text == nil {
			return "", ErrNoMailer
		}
		to = phone
	default:
		return "", fmt.Errorf("mfa: no way to send %q codes", kind)
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
	if kind == directory.OTPSMS {
		// A number, whoever asks for it: many accounts cannot make the
		// gateway text one (premium-rate) number more than this.
		if n, err := s.state.Incr(ctx, "otp:sms-to:"+to, time.Hour); err != nil {
			return "", err
		} else if n > TextsPerNumberHour {
			return "", ErrSendTooSoon
		}
		if s.textsPerHour > 0 {
			if n, err := s.state.Incr(ctx, "otp:sms-all", time.Hour); err != nil {
				return "", err
			} else if n > int64(s.textsPerHour) {
				return "", ErrTextCap
			}
		}
	}
	code, err := newCode()
	if err != nil {
		return "", err
	}
	p := pendingCode{Code: code, Expires: s.now().Add(CodeLifetime).Unix(), Kind: kind}
	if purpose == "enrol" && kind == directory.OTPSMS {
		p.To = phone
	}
	if err := s.putCode(ctx, key, userID, purpose, p); err != nil {
		return "", err
	}
	var sendErr error
	if kind == directory.OTPEmail {
		sendErr = s.mail.Send(ctx, email.Message{To: to, Subject: "Your " + s.product + " sign-in code",
			Text: fmt.Sprintf("Your %s sign-in code is %s.\r\n\r\nIt works once, for %d minutes. If you did not try to sign in, someone knows your password: change it.\r\n",
				s.product, code, int(CodeLifetime/time.Minute))})
	} else {
		text := "%s code: %s (works once, %d min). Never share it."
		if purpose == "reset" {
			text = "%s code to reset your password: %s (works once, %d min). Never share it. If you did not ask, someone can read your email: secure it and tell your admin."
		}
		sendErr = s.text.Text(ctx, to, fmt.Sprintf(text, s.product, code, int(CodeLifetime/time.Minute)))
	}
	if sendErr != nil {
		s.state.Take(context.WithoutCancel(ctx), key) // a code nobody received must not stay guessable
		return "", fmt.Errorf("mfa: send %s code: %w", kind, sendErr)
	}
	if kind == directory.OTPSMS {
		return MaskPhone(to), nil
	}
	return MaskEmail(to), nil
}

// putCode stores p under key, replacing what was there, until p expires.
func (s *Service) putCode(ctx context.Context, key, userID, purpose string, p pendingCode) error {
	sealed, left, err := s.sealCode(userID, purpose, p)
	if err != nil || left <= 0 {
		return err
	}
	return s.replace(ctx, key, sealed, left)
}

// replace stores value under key for ttl in place of what is there. The
// shared store has no overwrite for one-time values, so it is a take and
// a put; a put that lands in between (a wrong guess's putBack, a second
// page load) is taken again rather than left to win.
func (s *Service) replace(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	for range 3 {
		if _, err := s.state.Take(ctx, key); err != nil && !errors.Is(err, session.ErrNotFound) {
			return err
		}
		if ok, err := s.state.PutOnce(ctx, key, value, ttl); err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("mfa: could not store a new value under %s", key)
}

// putBack returns a code a wrong guess took, one try fewer, unless a new
// one was sent meanwhile: that one wins and the old one is dropped.
func (s *Service) putBack(ctx context.Context, key, userID, purpose string, p pendingCode) error {
	sealed, left, err := s.sealCode(userID, purpose, p)
	if err != nil || left <= 0 {
		return err
	}
	_, err = s.state.PutOnce(ctx, key, sealed, left)
	return err
}

// sealCode seals p for its user and purpose, with how long it has left.
func (s *Service) sealCode(userID, purpose string, p pendingCode) ([]byte, time.Duration, error) {
	left := time.Unix(p.Expires, 0).Sub(s.now())
	if left <= 0 {
		return nil, 0, nil
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, 0, err
	}
	return s.keys.Seal(plain, []byte(userID+"\x00"+purpose)), left, nil
}

// errNoCode is checkCode's "no code is waiting" (none sent, used, expired).
var errNoCode = errors.New("mfa: no code is waiting")

// checkLoginCode judges code against the user's waiting login code and
// says how it was sent.
func (s *Service) checkLoginCode(ctx context.Context, userID, code string, allowed func(kind string) bool) (bool, string, error) {
	ok, p, err := s.checkPendingOf(ctx, loginCodeKey(userID), userID, "login", code, allowed)
	return ok, p.Kind, err
}

// checkPending compares code with the one waiting under key and returns
// the waiting code's record (an SMS enrolment's number is in it). The
// waiting code is taken first, so of two concurrent guesses only one
// sees it; a wrong guess puts it back with one try fewer, and the last
// wrong try leaves nothing to guess.
func (s *Service) checkPending(ctx context.Context, key, userID, purpose, code string) (bool, pendingCode, error) {
	return s.checkPendingOf(ctx, key, userID, purpose, code, nil)
}

// checkPendingOf is checkPending for codes of the kinds allowed says yes
// to (all when nil): a waiting code of another kind is put back as it
// was, not compared, so a guess where it does not count (an emailed code
// on the reset page) neither spends its tries nor uses it up.
func (s *Service) checkPendingOf(ctx context.Context, key, userID, purpose, code string, allowed func(kind string) bool) (bool, pendingCode, error) {
	var p pendingCode
	sealed, err := s.state.Take(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return false, p, errNoCode
	}
	if err != nil {
		return false, p, err
	}
	plain, _, err := s.keys.Open(sealed, []byte(userID+"\x00"+purpose))
	if err != nil {
		return false, p, errNoCode
	}
	if err := json.Unmarshal(plain, &p); err != nil || !s.now().Before(time.Unix(p.Expires, 0)) {
		return false, p, errNoCode
	}
	if allowed != nil && !allowed(p.Kind) {
		return false, p, s.putBack(ctx, key, userID, purpose, p)
	}
	code = strings.TrimSpace(code)
	if len(code) == len(p.Code) && subtle.ConstantTimeCompare([]byte(code), []byte(p.Code)) == 1 {
		return true, p, nil
	}
	if p.Tries++; p.Tries < CodeTries {
		if err := s.putBack(ctx, key, userID, purpose, p); err != nil {
			return false, p, err
		}
	}
	return false, p, nil
}

// ConfirmOTPEnrollment checks the code sent by StartEmailEnrollment or
// StartSMSEnrollment and, when it is right and the user still has no
// factor, stores the factor (email, or SMS to the number the code went
// to) with fresh recovery codes (returned, shown once) and ends the
// user's other sessions, keeping sid.
// add stores it beside the user's factors, as ConfirmEnrollment's does.
// It also returns the login method of the stored kind (email_otp,
// sms_otp): which one it was is sealed with the code, not the caller's.
// allowed, when not nil, is asked about that kind before anything is
// stored (the policy may have dropped it since the code was sent):
// ErrNoEnrollment, nothing counted, when it says no.
func (s *Service) ConfirmOTPEnrollment(ctx context.Context, sid string, id auth.Identity, code string, add bool, allowed func(kind string) bool) ([]string, string, error) {
	att, err := s.reserve(ctx, id.UserID, MethodTOTP)
	if err != nil {
		return nil, "", err
	}
	ok, p, err := s.checkPending(ctx, enrolCodeKey(sid), id.UserID, "enrol", code)
	switch {
	case errors.Is(err, errNoCode):
		return nil, "", cancel(ctx, att, ErrNoEnrollment)
	case err != nil:
		return nil, "", cancel(ctx, att, err)
	}
	f := directory.OTPFactor{UserID: id.UserID, Kind: directory.OTPEmail, CreatedAt: s.now()}
	if p.To != "" {
		f.Kind, f.Target = directory.OTPSMS, p.To
	}
	if !ok {
		return nil, "", s.failedAs(att, id.UserID, OTPMethod(f.Kind), ReasonWrongCode)
	}
	if allowed != nil && !allowed(f.Kind) {
		return nil, "", cancel(ctx, att, ErrNoEnrollment)
	}
	codes, err := s.storeFactor(ctx, att, id.UserID, sid, add,
		func(hashes [][]byte) error { return s.store.EnrollFirstOTP(ctx, f, hashes) },
		func() error { return s.store.AddOTP(ctx, f) })
	return codes, OTPMethod(f.Kind), err
}

// OTPMethod is the login method name of a code sent by kind.
func OTPMethod(kind string) string {
	if kind == directory.OTPSMS {
		return auth.MethodSMSOTP
	}
	return auth.MethodEmailOTP
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

// MaskPhone shows a number's last two digits: "+•••••••••78".
func MaskPhone(n string) string {
	if len(n) < 4 {
		return "•••"
	}
	return "+" + strings.Repeat("•", len(n)-3) + n[len(n)-2:]
}
