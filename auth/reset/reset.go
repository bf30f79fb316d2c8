// Package reset is self-service password reset ("Forgot password?"): a
// single-use link, valid 15 minutes, sent by email to the account's
// address. The link is a MAC over the user id, the account's security
// stamp and an expiry (auth/secret's keyring, its own purpose), so it
// dies when the password changes or another link completes (both bump
// the stamp), and nothing about it is stored until it is used. Asking
// for a link answers the same, in the same time band, whether the account
// exists or not: the lookup and the counting are the same work either
// way, and the email leaves from a background goroutine.
package reset

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Lifetime is how long a link works (ASVS 2.5.x: short-lived, one use).
const Lifetime = 15 * time.Minute

// Limits on asking for links. Past the per-network one the form answers
// "too many"; past the per-account one it answers as always and sends
// nothing, so the limit tells nobody that the account exists.
const (
	PerNetwork       = 10
	PerNetworkWindow = 15 * time.Minute
	PerAccount       = 3
	PerAccountWindow = time.Hour
)

// macPurpose keeps reset links apart from every other MAC the keyring
// makes.
const macPurpose = "password-reset/v1"

var (
	// ErrInvalidLink covers every link that cannot be used: forged,
	// expired, already used, superseded by a password change, or for a
	// user who is gone or disabled. The page says only that.
	ErrInvalidLink = errors.New("reset: the link is invalid or has expired")
	// ErrTooMany is the per-network limit.
	ErrTooMany = errors.New("reset: too many requests from this network")
)

// Users finds accounts.
type Users interface {
	UserByUsername(ctx context.Context, username string) (*directory.User, error)
	UserByEmail(ctx context.Context, email string) (*directory.User, error)
	UserByID(ctx context.Context, id string) (*directory.User, error)
}

// Passwords sets the new password, only while the account's stamp is
// still stamp, and carries out what any credential change does (ends
// every session, forgets remembered devices, bumps the stamp, audits).
type Passwords interface {
	ResetPassword(ctx context.Context, userID string, stamp int64, pw string) error
}

// Store is the shared store: counters for the limits and the single-use
// mark of each completed link.
type Store interface {
	session.Counter
	session.Nonces
}

// Options configure a Service.
type Options struct {
	Users     Users
	Passwords Passwords
	Keys      *secret.Keyring
	Mail      email.Sender
	Store     Store
	Audit     *audit.Recorder
	// PublicURL is the gateway's public URL; links point under it.
	PublicURL *url.URL
	// Product names the service in the email ("Gatehouse").
	Product string
	Log     *slog.Logger
	Now     func() time.Time
}

// Service issues and completes reset links.
type Service struct {
	o  Options
	wg sync.WaitGroup
}

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Product == "" {
		o.Product = "Gatehouse"
	}
	return &Service{o: o}
}

// Request handles "send me a link" for identifier (a username or an
// email address) from client network network. It returns ErrTooMany
// past the per-network limit, a store error when the limits cannot be
// counted (fail closed), and otherwise nil whether or not a link was
// sent.
func (s *Service) Request(ctx context.Context, identifier, network string) error {
	n, err := s.o.Store.Incr(ctx, "reset:net:"+network, PerNetworkWindow)
	if err != nil {
		return err
	}
	if n > PerNetwork {
		return ErrTooMany
	}
	id := strings.ToLower(strings.TrimSpace(identifier))
	// Counted by what was typed, known account or not, so an unknown
	// name costs the same round trips as a known one.
	sum := sha256.Sum256([]byte(id))
	perAccount, err := s.o.Store.Incr(ctx, "reset:acct:"+hex.EncodeToString(sum[:16]), PerAccountWindow)
	if err != nil {
		return err
	}
	u, err := s.lookup(ctx, id)
	if err != nil {
		return err
	}
	if u == nil || u.Disabled || u.Email == "" || u.PasswordHash == "" || perAccount > PerAccount || id == "" {
		// No link: unknown, disabled, no address to send to, no local
		// password to reset (a federated user resets it at the
		// provider), or asked too often. The answer is the same.
		return nil
	}
	// The link, the audit write and the email all happen after the
	// answer: a known account must not take longer to answer than an
	// unknown one (BenchmarkRequest).
	expires := s.o.Now().Add(Lifetime)
	s.wg.Go(func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.o.Audit.Record(sctx, audit.Event{Event: audit.PasswordResetRequested, Actor: u.Username, UserID: u.ID})
		msg := email.Message{To: u.Email, Subject: "Reset your " + s.o.Product + " password", Text: s.text(u, s.link(u, expires))}
		if err := s.o.Mail.Send(sctx, msg); err != nil {
			// The link is never logged: it is a credential.
			s.o.Log.Error("password reset email not sent", "user_id", u.ID, "error", err)
		}
	})
	return nil
}

// Wait waits for emails being sent (shutdown, tests).
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) lookup(ctx context.Context, id string) (*directory.User, error) {
	if id == "" {
		return nil, nil
	}
	u, err := s.o.Users.UserByUsername(ctx, id)
	if errors.Is(err, directory.ErrNotFound) && strings.Contains(id, "@") {
		u, err = s.o.Users.UserByEmail(ctx, id)
	}
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

func (s *Service) text(u *directory.User, link string) string {
	return fmt.Sprintf(`Hello %s,

Someone (hopefully you) asked to reset the password of your %s account.
Open this link within %d minutes to choose a new password:

%s

The link works once. If you did not ask for it, ignore this email: your
password stays as it is.
`, displayName(u), s.o.Product, int(Lifetime/time.Minute), link)
}

func displayName(u *directory.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Username
}

// link is the reset page's URL with a fresh token valid until expires.
func (s *Service) link(u *directory.User, expires time.Time) string {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	payload := strings.Join([]string{u.ID, strconv.FormatInt(u.SecurityStamp, 10),
		strconv.FormatInt(expires.Unix(), 10), base64.RawURLEncoding.EncodeToString(nonce)}, "|")
	mac := s.o.Keys.MAC(macPurpose, []byte(payload))
	token := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac)
	u2 := *s.o.PublicURL
	u2.Path, u2.RawQuery = "/.gatehouse/password/reset", url.Values{"token": {token}}.Encode()
	return u2.String()
}

// Link is what a verified token names.
type Link struct {
	User *directory.User
	// id names the token for its single-use mark.
	id    string
	stamp int64
}

// ID names the link without being its secret (a hash of its nonce).
func (l *Link) ID() string { return l.id }

// Check verifies token and returns its live account: the MAC, the
// expiry, the account (present, enabled) and its stamp (unchanged since
// the link was made). Every failure is ErrInvalidLink, except a store
// error.
func (s *Service) Check(ctx context.Context, token string) (*Link, error) {
	p, m, ok := strings.Cut(token, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if !ok || err1 != nil || err2 != nil || len(token) > 512 || !s.o.Keys.VerifyMAC(macPurpose, payload, mac) {
		return nil, ErrInvalidLink
	}
	f := bytes.Split(payload, []byte("|"))
	if len(f) != 4 {
		return nil, ErrInvalidLink
	}
	stamp, err1 := strconv.ParseInt(string(f[1]), 10, 64)
	exp, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil || !s.o.Now().Before(time.Unix(exp, 0)) {
		return nil, ErrInvalidLink
	}
	u, err := s.o.Users.UserByID(ctx, string(f[0]))
	if errors.Is(err, directory.ErrNotFound) {
		return nil, ErrInvalidLink
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || u.SecurityStamp != stamp || u.PasswordHash == "" {
		return nil, ErrInvalidLink
	}
	sum := sha256.Sum256(f[3])
	return &Link{User: u, id: hex.EncodeToString(sum[:16]), stamp: stamp}, nil
}

// Complete sets pw through l (checked by Check, and by the caller's
// second factor when one is owed): the password rules first, so a
// refused password leaves the link usable; then the link is spent once,
// across replicas; then the password is set while the stamp is still
// the link's. A store failure gives the link back.
func (s *Service) Complete(ctx context.Context, l *Link, pw string) error {
	if err := password.CheckNew(pw); err != nil {
		return err
	}
	fresh, err := s.o.Store.PutOnce(ctx, "reset:used:"+l.id, []byte{1}, Lifetime)
	if err != nil {
		return err
	}
	if !fresh {
		return ErrInvalidLink
	}
	if err := s.o.Passwords.ResetPassword(ctx, l.User.ID, l.stamp, pw); err != nil {
		// Handing the link back after an outage is safe even when the
		// password did land: that write moved the stamp, which the
		// link is bound to, so a second use finds it stale.
		if !errors.Is(err, ErrInvalidLink) {
			s.o.Store.Take(context.WithoutCancel(ctx), "reset:used:"+l.id)
		}
		return err
	}
	return nil
}
