// Package sms sends the one-time codes of the "OTP by SMS" second factor.
// No SMS provider is built in: the gateway POSTs each message, signed the
// way its CRM webhooks are (Standard Webhooks, HMAC-SHA256 over id,
// timestamp and body), to a URL the operator wires to any provider, so
// the provider's credentials never live in the gateway. For development
// a sender that writes the message to the log stands in, and refuses to
// run anywhere else: a code in a log is a code anyone with the log has.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
)

// Message is one text to one phone.
type Message struct {
	To   string // E.164: +919812345678
	Text string
}

// Sender delivers a Message. Implementations never log Text (it carries
// a code), except the development Log sender, which exists to.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// ValidNumber accepts a phone number in E.164 form: "+", the country
// code and the number, 8 to 15 digits, no spaces.
func ValidNumber(s string) error {
	switch {
	case s == "":
		return errors.New("no number")
	case s[0] != '+':
		return errors.New("start with + and the country code")
	case !e164.MatchString(s):
		return errors.New("+ then 8 to 15 digits, the first not 0, no spaces or dashes")
	}
	return nil
}

// Config is the sms section: a webhook, or (development only) the log.
type Config struct {
	Webhook WebhookConfig `yaml:"webhook"`
	// Log writes each message, code included, to the gateway's log
	// instead of sending it; only where public_url is a plain-http
	// loopback address.
	Log bool `yaml:"log"`
	// Countries are the calling codes ("+91", "+1") numbers may have;
	// empty: any. Where the users are is known; a number elsewhere is
	// more likely a toll-fraud destination than a colleague abroad.
	Countries []string `yaml:"countries"`
	// MaxPerHour caps every text the gateway sends, across accounts and
	// replicas (default 500): if accounts are taken over by the hundred
	// to pump texts, the bill stops there.
	MaxPerHour int `yaml:"max_per_hour"`

	logAllowed bool // set by Validate in development only
}

// DefaultMaxPerHour is max_per_hour when it is not set.
const DefaultMaxPerHour = 500

var callingCode = regexp.MustCompile(`^\+[1-9][0-9]{0,3}$`)

// CheckNumber is ValidNumber and, with countries set, one of them.
func (c *Config) CheckNumber(s string) error {
	if err := ValidNumber(s); err != nil {
		return err
	}
	if len(c.Countries) == 0 || slices.ContainsFunc(c.Countries, func(cc string) bool { return strings.HasPrefix(s, cc) }) {
		return nil
	}
	return fmt.Errorf("texts go only to numbers starting %s", strings.Join(c.Countries, ", "))
}

// WebhookConfig is where messages are POSTed and how they are signed.
type WebhookConfig struct {
	URL        string        `yaml:"url"`
	SecretFile string        `yaml:"secret_file"` // whsec_ lines, as upstream_notify's
	Timeout    time.Duration `yaml:"timeout"`     // default 5s, at most 30s

	keys *keys // read by Validate; a pointer, so printing the config prints no secret
}

type keys struct{ k [][]byte }

// SetDefaults fills the webhook's timeout and the hourly cap.
func (c *Config) SetDefaults() {
	if c.MaxPerHour == 0 {
		c.MaxPerHour = DefaultMaxPerHour
	}
	if c.Webhook.Timeout == 0 {
		c.Webhook.Timeout = 5 * time.Second
	}
}

// Enabled reports whether codes can be sent by SMS.
func (c *Config) Enabled() bool { return c.Webhook.URL != "" || c.Log }

// Validate reports every problem as "<key>.<field>: what is wrong; the
// fix". development is whether the gateway runs as a developer's (plain
// http on loopback): the only place the log sender may be used.
func (c *Config) Validate(key string, development bool) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	w := &c.Webhook
	w.keys, c.logAllowed = nil, false
	if c.MaxPerHour == 0 {
		c.MaxPerHour = DefaultMaxPerHour
	}
	if c.MaxPerHour < 0 || c.MaxPerHour > 1_000_000 {
		add("max_per_hour", "must be between 1 and 1000000 (0: the default %d), got %d", DefaultMaxPerHour, c.MaxPerHour)
	}
	for i, cc := range c.Countries {
		if !callingCode.MatchString(cc) {
			add(fmt.Sprintf("countries[%d]", i), "%q is not a calling code: + and 1 to 4 digits, as \"+91\" or \"+1\"", cc)
		}
	}
	if c.Log {
		c.logAllowed = development && w.URL == ""
		if !development {
			add("log", "the log sender writes every code to the log; it is for development only (public_url on http://127.0.0.1 or localhost): set sms.webhook instead")
		}
		if w.URL != "" {
			add("log", "choose one: sms.webhook or sms.log")
		}
		return errors.Join(errs...)
	}
	if w.URL == "" {
		if w.SecretFile != "" {
			add("webhook.url", "required when secret_file is set: the URL of the service that sends the texts")
		}
		return errors.Join(errs...)
	}
	c.SetDefaults()
	if w.Timeout < time.Second || w.Timeout > 30*time.Second {
		add("webhook.timeout", "must be between 1s and 30s, got %s", w.Timeout)
	}
	u, err := url.Parse(w.URL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "" || u.User != nil:
		add("webhook.url", "%q must be an absolute https URL without user info", w.URL)
	case u.Scheme == "http" && !auth.LoopbackHost(u.Hostname()):
		add("webhook.url", "use https: the message carries a sign-in code (plain http only to this machine's loopback)")
	case u.Scheme != "https" && u.Scheme != "http":
		add("webhook.url", "%q must be an https URL", w.URL)
	}
	if w.SecretFile == "" {
		add("webhook.secret_file", "required: the secret the messages are signed with; create one with: printf 'whsec_%%s\\n' \"$(head -c32 /dev/urandom | base64)\" > FILE && chmod 600 FILE")
	} else if k, err := webhook.ReadSecrets(w.SecretFile); err != nil {
		add("webhook.secret_file", "%v", err)
	} else {
		w.keys = &keys{k: k}
	}
	return errors.Join(errs...)
}

// NewSender returns the sender c describes (validated), logging to log
// for the development sender.
func NewSender(c *Config, log *slog.Logger) (Sender, error) {
	if c.Log {
		// Checked here too: a caller that skipped Validate, or passed
		// development wrongly once, must not get codes into a log.
		if !c.logAllowed {
			return nil, errors.New("sms: the log sender is for development only, and this configuration was not validated as development")
		}
		return logSender{log}, nil
	}
	if c.Webhook.keys == nil {
		return nil, errors.New("sms: the webhook section was not validated")
	}
	return &Webhook{url: c.Webhook.URL, keys: c.Webhook.keys.k, client: &http.Client{
		Timeout: c.Webhook.Timeout,
		// A redirect would carry the code somewhere nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, now: time.Now}, nil
}

// Webhook POSTs each message as signed JSON.
type Webhook struct {
	url    string
	keys   [][]byte
	client *http.Client
	now    func() time.Time
}

// payload is what the SMS service receives.
type payload struct {
	ID   string    `json:"id"`
	To   string    `json:"to"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// Send refuses a number that is not E.164 before any request; any answer
// but 2xx (a redirect included) is an error naming the status only.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if err := ValidNumber(m.To); err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	now := w.now().UTC()
	p := payload{ID: "sms_" + webhook.NewID()[len("evt_"):], To: m.To, Text: m.Text, Time: now}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	webhook.Sign(req.Header, w.keys, p.ID, now, body)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("sms: %w", errors.Unwrap(err)) // the URL error's text names the URL; its cause is enough
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sms: the SMS service answered status %d", resp.StatusCode)
	}
	return nil
}

// logSender is the development stand-in.
type logSender struct{ log *slog.Logger }

func (l logSender) Send(_ context.Context, m Message) error {
	if err := ValidNumber(m.To); err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	l.log.Warn("SMS not sent (sms.log is on, development only): it would say", "to", m.To, "text", m.Text)
	return nil
}
