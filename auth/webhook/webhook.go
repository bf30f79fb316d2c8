// Package webhook tells the upstream (the CRM) when a session ends, so its
// own notion of who is checked in follows the gateway's: a logout, an idle
// or absolute timeout, a revocation, a mobile device signed out, a user
// disabled. Each is a signed JSON event POSTed to the URL configured under
// upstream_notify (docs/webhooks.md).
//
// The events come from the audit stream (Notifier observes the
// audit.Recorder), so a notification cannot disagree with the audit log,
// and they go through a durable queue in the directory (directory.Outbox):
// recording an event writes one row and never waits for the CRM; a Sender
// on every replica claims due rows under a lease, POSTs them with the
// Standard Webhooks signature headers, deletes a row only after a 2xx
// answer, and retries anything else with exponential backoff and jitter
// until it gives up (24h by default) and keeps the row marked failed.
// Delivery is therefore at least once: the receiver de-duplicates by the
// event id, which stays the same across retries.
package webhook

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// Defaults and bounds of the configuration.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultGiveUpAfter = 24 * time.Hour
	// secretPrefix starts a Standard Webhooks secret: whsec_ and the
	// key's base64, the form their libraries take.
	secretPrefix = "whsec_"
	minKeyBytes  = 24
	maxKeyBytes  = 64
	maxSecrets   = 4
)

// Config is the upstream_notify section: where session ends are sent and
// with which secret they are signed. An empty URL turns notifications off.
type Config struct {
	// URL is the CRM's webhook endpoint, http(s).
	URL string `yaml:"url"`
	// SecretFile holds one or more signing secrets, one a line, each
	// "whsec_" + base64 of 24 to 64 random bytes; every one signs each
	// event (a rotation adds the new line first and removes the old one
	// once the CRM has the new secret). Mode 0600, as the key file.
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// GiveUpAfter is how long an event is retried before it is kept
	// as failed.
	GiveUpAfter time.Duration `yaml:"give_up_after"`

	// URLParsed is URL, parsed by Validate.
	URLParsed *url.URL `yaml:"-"`
	// keys are the secrets read by Validate; behind a pointer so that
	// printing the Config never prints them.
	keys *signingKeys
}

type signingKeys struct{ k [][]byte }

// Enabled reports whether notifications are configured.
func (c *Config) Enabled() bool { return c.URL != "" }

// SetDefaults fills the timeout and the retry limit.
func (c *Config) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.GiveUpAfter == 0 {
		c.GiveUpAfter = DefaultGiveUpAfter
	}
}

// Validate reports every problem as "<key>.<field>: what is wrong; the
// fix", key being the section's path (upstream_notify). With a URL set it
// also reads the secret file, refusing one that others may read, so
// check-config and serve judge the same file; nothing is read without a
// URL.
func (c *Config) Validate(key string) error {
	c.URLParsed, c.keys = nil, nil
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	if c.URL == "" {
		if c.SecretFile != "" {
			add("url", "required when secret_file is set: the CRM's webhook URL, such as https://crm.internal/gatehouse/events")
		}
		return errors.Join(errs...)
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		add("url", "%q must be an absolute http(s) URL such as https://crm.internal/gatehouse/events", c.URL)
	case u.User != nil || u.Fragment != "":
		add("url", "remove the user info or fragment; the events are authenticated by their signature")
	default:
		c.URLParsed = u
	}
	if d := c.Timeout; d < time.Second || d > time.Minute {
		add("timeout", "must be between 1s and 1m, got %s", d)
	}
	if d := c.GiveUpAfter; d < time.Minute || d > 30*24*time.Hour {
		add("give_up_after", "must be between 1m and 720h, got %s", d)
	}
	if c.SecretFile == "" {
		add("secret_file", "required: a file with the signing secret; create one with: printf 'whsec_%%s\\n' \"$(head -c32 /dev/urandom | base64)\" > FILE && chmod 600 FILE")
	} else if keys, err := ReadSecrets(c.SecretFile); err != nil {
		add("secret_file", "%v", err)
	} else {
		c.keys = &signingKeys{k: keys}
	}
	return errors.Join(errs...)
}

// ReadSecrets reads a whsec_ secret file (upstream_notify's, and the SMS
// webhook's): one secret a line, blank lines and # comments ignored,
// mode 0600; errors never quote a secret.
func ReadSecrets(path string) ([][]byte, error) {
	data, err := secret.ReadPrivateFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseSecret(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		keys = append(keys, k)
	}
	switch {
	case sc.Err() != nil:
		return nil, fmt.Errorf("%s: %w", path, sc.Err())
	case len(keys) == 0:
		return nil, fmt.Errorf("%s holds no secret; add a line whsec_<base64 of %d+ random bytes>", path, minKeyBytes)
	case len(keys) > maxSecrets:
		return nil, fmt.Errorf("%s holds %d secrets; keep at most %d (the new one and those being retired)", path, len(keys), maxSecrets)
	}
	return keys, nil
}

func parseSecret(line string) ([]byte, error) {
	b64, ok := strings.CutPrefix(line, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("a secret is %s followed by base64", secretPrefix)
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the secret after " + secretPrefix + " is not valid standard base64")
	}
	if len(k) < minKeyBytes || len(k) > maxKeyBytes {
		return nil, fmt.Errorf("the secret is %d bytes; use %d to %d random bytes", len(k), minKeyBytes, maxKeyBytes)
	}
	return k, nil
}
