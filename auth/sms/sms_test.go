package sms

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// secretFile writes a fresh whsec_ secret (mode 0600) and returns its
// path and the key.
func secretFile(t *testing.T, mode os.FileMode) (string, []byte) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	p := filepath.Join(t.TempDir(), "sms.secret")
	if err := os.WriteFile(p, []byte("whsec_"+base64.StdEncoding.EncodeToString(key)+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p, key
}

// verify is what an SMS service does with a delivery: recompute the
// signature over id.timestamp.body and compare in constant time.
func verify(key []byte, r *http.Request, body []byte) bool {
	id, ts := r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Timestamp")
	m := hmac.New(sha256.New, key)
	io.WriteString(m, id+"."+ts+".")
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Fields(r.Header.Get("Webhook-Signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func newSender(t *testing.T, url, secret string) Sender {
	t.Helper()
	c := Config{Webhook: WebhookConfig{URL: url, SecretFile: secret}}
	if err := c.Validate("sms", false); err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(&c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWebhookDelivers: the service receives signed JSON it can verify,
// holding the number and the text; the same bytes altered in transit, or
// checked with another secret, fail verification.
func TestWebhookDelivers(t *testing.T) {
	path, key := secretFile(t, 0o600)
	var got struct {
		body []byte
		req  *http.Request
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.body, _ = io.ReadAll(r.Body)
		got.req = r
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	if err := newSender(t, srv.URL, path).Send(t.Context(), Message{To: "+919812345678", Text: "Acme code: 123456"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var p struct {
		ID, To, Text string
		Time         time.Time
	}
	if err := json.Unmarshal(got.body, &p); err != nil || p.To != "+919812345678" || p.Text != "Acme code: 123456" || !strings.HasPrefix(p.ID, "sms_") || p.Time.IsZero() {
		t.Fatalf("payload %s (%v)", got.body, err)
	}
	if got.req.Header.Get("Webhook-Id") != p.ID || got.req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got.req.Header)
	}
	if !verify(key, got.req, got.body) {
		t.Fatal("the receiver cannot verify the signature")
	}
	if verify(key, got.req, bytes.Replace(got.body, []byte("123456"), []byte("654321"), 1)) {
		t.Fatal("a body altered in transit still verifies")
	}
	other := make([]byte, 32)
	rand.Read(other)
	if verify(other, got.req, got.body) {
		t.Fatal("another secret verifies the delivery")
	}
}

// TestWebhookRefusals: a redirect is an error and its target never gets
// the message; a 500 is an error naming the status but not the text; a
// number that is not E.164 is refused before any request.
func TestWebhookRefusals(t *testing.T) {
	path, _ := secretFile(t, 0o600)
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	if err := newSender(t, redirect.URL, path).Send(t.Context(), Message{To: "+14155550100", Text: "code 111111"}); err == nil || elsewhere.Load() != 0 {
		t.Fatalf("redirect: err %v, redirect target hit %d times", err, elsewhere.Load())
	}
	var calls atomic.Int32
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	s := newSender(t, failing.URL, path)
	err := s.Send(t.Context(), Message{To: "+14155550100", Text: "code 222222"})
	if err == nil || !strings.Contains(err.Error(), "500") || strings.Contains(err.Error(), "222222") || strings.Contains(err.Error(), failing.URL) {
		t.Fatalf("500: %v", err)
	}
	for _, n := range []string{"", "919812345678", "+0123456789", "+1 415 555 0100", "+1234567", "+1234567890123456"} {
		if err := s.Send(t.Context(), Message{To: n, Text: "code"}); err == nil {
			t.Errorf("number %q sent", n)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("the service was called %d times, want once (bad numbers never reach it)", calls.Load())
	}
}

// TestConfigValidate: every problem names its key and the fix.
func TestConfigValidate(t *testing.T) {
	good, _ := secretFile(t, 0o600)
	open, _ := secretFile(t, 0o644)
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("whsec_"+base64.StdEncoding.EncodeToString([]byte("short"))+"\n"), 0o600)
	for _, c := range []struct {
		name string
		cfg  Config
		dev  bool
		want string // "" when valid
	}{
		{"off", Config{}, false, ""},
		{"https", Config{Webhook: WebhookConfig{URL: "https://sms.corp.example/send", SecretFile: good}}, false, ""},
		{"http on loopback", Config{Webhook: WebhookConfig{URL: "http://127.0.0.1:9000/send", SecretFile: good}}, false, ""},
		{"http elsewhere", Config{Webhook: WebhookConfig{URL: "http://sms.corp.example/send", SecretFile: good}}, false, "sms.webhook.url: use https"},
		{"no secret", Config{Webhook: WebhookConfig{URL: "https://sms.corp.example/send"}}, false, "sms.webhook.secret_file: required"},
		{"secret others can read", Config{Webhook: WebhookConfig{URL: "https://sms.corp.example/send", SecretFile: open}}, false, "chmod 600"},
		{"short secret", Config{Webhook: WebhookConfig{URL: "https://sms.corp.example/send", SecretFile: short}}, false, "sms.webhook.secret_file:"},
		{"timeout", Config{Webhook: WebhookConfig{URL: "https://sms.corp.example/send", SecretFile: good, Timeout: time.Minute}}, false, "sms.webhook.timeout:"},
		{"secret without url", Config{Webhook: WebhookConfig{SecretFile: good}}, false, "sms.webhook.url: required"},
		{"log in production", Config{Log: true}, false, "sms.log: the log sender writes every code"},
		{"log in development", Config{Log: true}, true, ""},
		{"log and webhook", Config{Log: true, Webhook: WebhookConfig{URL: "https://x.example"}}, true, "choose one"},
		{"countries", Config{Log: true, Countries: []string{"+91", "+1"}}, true, ""},
		{"not a calling code", Config{Log: true, Countries: []string{"+91", "91"}}, true, "sms.countries[1]:"},
		{"cap", Config{Log: true, MaxPerHour: -1}, true, "sms.max_per_hour:"},
	} {
		err := c.cfg.Validate("sms", c.dev)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestLogSender: in development the message goes to the log (that is
// its point), and nowhere else.
// TestCheckNumber: with sms.countries, numbers elsewhere are refused
// before any text is sent; the cap defaults to DefaultMaxPerHour.
func TestCheckNumber(t *testing.T) {
	c := Config{Log: true, Countries: []string{"+91", "+1"}}
	if err := c.Validate("sms", true); err != nil || c.MaxPerHour != DefaultMaxPerHour {
		t.Fatalf("Validate: %v, cap %d", err, c.MaxPerHour)
	}
	for n, ok := range map[string]bool{"+919812345678": true, "+14155550100": true, "+88234567890": false, "+4420794600": false, "919812345678": false} {
		if err := c.CheckNumber(n); (err == nil) != ok {
			t.Errorf("CheckNumber(%s): %v", n, err)
		}
	}
	if err := (&Config{}).CheckNumber("+88234567890"); err != nil {
		t.Errorf("no countries: %v", err)
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	c := Config{Log: true}
	if err := c.Validate("sms", true); err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(&c, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), Message{To: "+919812345678", Text: "Acme code: 424242"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "424242") || !strings.Contains(buf.String(), "not sent") {
		t.Errorf("log: %s", buf.String())
	}
	// Without a development validation, no log sender at all.
	prod := Config{Log: true}
	prod.Validate("sms", false)
	if _, err := NewSender(&prod, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("a log sender from a configuration refused outside development")
	}
	if _, err := NewSender(&Config{Log: true}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("a log sender from a configuration never validated")
	}
}

var e164Shape = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// FuzzValidNumber: never panics, and accepts only E.164.
func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"+919812345678", "+0123", "12345", "+1 555 0100", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidNumber(s) == nil && !e164Shape.MatchString(s) {
			t.Fatalf("accepted %q", s)
		}
	})
}
