package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// smsService is an SMS provider's endpoint as an operator would wire it:
// it verifies each delivery's signature with the shared secret (refusing
// any it cannot), and keeps the texts it accepted.
type smsService struct {
	*httptest.Server
	key []byte
	mu  sync.Mutex
	got []struct{ To, Text string }
	bad int
}

func startSMSService(t *testing.T) (*smsService, string) {
	t.Helper()
	s := &smsService{key: make([]byte, 32)}
	rand.Read(s.key)
	secret := filepath.Join(t.TempDir(), "sms.secret")
	if err := os.WriteFile(secret, []byte("whsec_"+base64.StdEncoding.EncodeToString(s.key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, s.key)
		io.WriteString(m, r.Header.Get("Webhook-Id")+"."+r.Header.Get("Webhook-Timestamp")+".")
		m.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		var p struct{ To, Text string }
		s.mu.Lock()
		defer s.mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get("Webhook-Signature")), []byte(want)) || json.Unmarshal(body, &p) != nil {
			s.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		s.got = append(s.got, p)
	}))
	t.Cleanup(s.Close)
	return s, secret
}

// code waits for the n-th text, which must go to to, and returns its code.
func (s *smsService) code(t *testing.T, n int, to string) string {
	t.Helper()
	text := s.text(t, n, to)
	f := strings.Fields(strings.TrimPrefix(text, "Acme CRM code: "))
	if len(f) == 0 || len(f[0]) != 6 {
		t.Fatalf("text %d has no code: %q", n, text)
	}
	return f[0]
}

// text waits for the n-th text, which must go to to, and returns it.
func (s *smsService) text(t *testing.T, n int, to string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		if len(s.got) >= n {
			m := s.got[n-1]
			s.mu.Unlock()
			if m.To != to {
				t.Fatalf("text %d went to %s, want %s", n, m.To, to)
			}
			return m.Text
		}
		s.mu.Unlock()
	}
	t.Fatalf("text %d never arrived", n)
	return ""
}

func (s *smsService) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// TestSMSCodeLogin: with the policy allowing only SMS codes, a user who
// must enrol types their mobile number, confirms with the texted code
// (delivered signed to the operator's SMS service) and is in; the next
// login's "Text me a code" goes to that number, and its code logs in
// (password+sms_otp). A number that is not E.164 is refused before
// anything is sent.
func TestSMSCodeLogin(t *testing.T) {
	clk := newClock()
	svc, secret := startSMSService(t)
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "branding: {product_name: Acme CRM}\nsms: {webhook: {url: "+svc.URL+"/send, secret_file: "+secret+"}}\n"+
		"policy: {mfa: {mode: required, methods: [sms]}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	_, body := b.Get(t, "/.gatehouse/2fa/enroll?rd=%2F")
	if strings.Contains(body, `id="qr"`) || strings.Contains(body, `id="enroll-email"`) || !strings.Contains(body, `id="phone"`) {
		t.Fatalf("an SMS-only policy's enrolment page:\n%s", body)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/sms", url.Values{"rd": {"/"}, "phone": {"98123 45678"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a number without country code: %d, want 400", resp.StatusCode)
	}
	if svc.count() != 0 {
		t.Fatal("a refused number was texted")
	}
	const phone = "+919812345678"
	resp, body := b.Do(t, "POST", "/.gatehouse/2fa/enroll/sms", url.Values{"rd": {"/"}, "phone": {phone}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "••••••••••78") {
		t.Fatalf("start SMS enrolment: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, "POST", "/.gatehouse/2fa/enroll/code", url.Values{"rd": {"/"}, "code": {svc.code(t, 1, phone)}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+sms_otp" {
		t.Fatalf("after enrolling: %d %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, "Codes by text message to &#43;••••••••••78") {
		t.Errorf("the account page does not name the factor:\n%s", body)
	}

	b.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	if resp, body := b.Do(t, "POST", "/.gatehouse/2fa/sms", url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "We sent a code to &#43;••••••••••78") {
		t.Fatalf("send: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"rd": {"/"}, "code": {svc.code(t, 2, phone)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the texted code: %d, want 303", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+sms_otp" {
		t.Fatalf("after the code: %d %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
	if svc.bad != 0 {
		t.Errorf("the SMS service refused %d deliveries", svc.bad)
	}
}

// TestSMSWebhookSignature: a gateway holding another secret than the SMS
// service cannot get a text sent (the service refuses it), and the login
// is told the service is unavailable rather than shown a code step that
// can never succeed; the refused attempt leaves no code to guess.
func TestSMSWebhookSignature(t *testing.T) {
	svc, _ := startSMSService(t)
	_, wrong := startSMSService(t) // a secret the first service does not know
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "sms: {webhook: {url: "+svc.URL+"/send, secret_file: "+wrong+"}}\n"+
		"policy: {mfa: {mode: required, methods: [sms]}}\n"), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/sms", url.Values{"rd": {"/"}, "phone": {"+919812345678"}}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a delivery the service refused: %d, want 503", resp.StatusCode)
	}
	if svc.bad != 1 || svc.count() != 0 {
		t.Fatalf("the service refused %d and accepted %d, want 1 and 0", svc.bad, svc.count())
	}
	for _, guess := range []string{"000000", "123456"} {
		if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/code", url.Values{"rd": {"/"}, "code": {guess}}); resp.StatusCode == http.StatusOK {
			t.Fatal("a code was waiting after a failed send")
		}
	}
}
