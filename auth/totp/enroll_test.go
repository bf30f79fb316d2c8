package totp

import (
	"bytes"
	"fmt"
	"image/png"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/pquerna/otp"
)

func TestNewEnrollment(t *testing.T) {
	e, err := NewEnrollment("Gatehouse CRM", "alice")
	if err != nil {
		t.Fatalf("NewEnrollment: %v", err)
	}
	if len(e.Secret) != SecretSize {
		t.Errorf("secret is %d bytes, want %d", len(e.Secret), SecretSize)
	}
	if bytes.Equal(e.Secret, make([]byte, SecretSize)) {
		t.Error("secret is all zero")
	}
	if len(e.Base32) != 32 || strings.Contains(e.Base32, "=") {
		t.Errorf("Base32 = %q, want 32 characters without padding", e.Base32)
	}
	u, err := url.Parse(e.URI)
	if err != nil {
		t.Fatalf("URI %q does not parse: %v", e.URI, err)
	}
	q := u.Query()
	checks := []struct{ name, got, want string }{
		{"scheme", u.Scheme, "otpauth"},
		{"type", u.Host, "totp"},
		{"label", u.Path, "/Gatehouse CRM:alice"},
		{"secret", q.Get("secret"), e.Base32},
		{"issuer", q.Get("issuer"), "Gatehouse CRM"},
		{"algorithm", q.Get("algorithm"), "SHA1"},
		{"digits", q.Get("digits"), "6"},
		{"period", q.Get("period"), "30"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("URI %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if strings.Contains(e.URI, "+") {
		t.Errorf("URI %q encodes a space as '+', which some apps show literally; want %%20", e.URI)
	}
	// The app computes codes from the URI's secret: they must be ours.
	key, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	if key.Issuer() != "Gatehouse CRM" || key.AccountName() != "alice" {
		t.Errorf("apps read issuer %q, account %q; want Gatehouse CRM, alice", key.Issuer(), key.AccountName())
	}
	checkPNG(t, e.PNG)

	second, err := NewEnrollment("Gatehouse CRM", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(second.Secret, e.Secret) {
		t.Error("two enrolments drew the same secret")
	}
}

func checkPNG(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if got := img.Bounds().Size(); got.X != QRSize || got.Y != QRSize {
		t.Errorf("PNG is %dx%d, want %dx%d", got.X, got.Y, QRSize, QRSize)
	}
}

func TestEnrollmentForRoundTrips(t *testing.T) {
	first, err := NewEnrollment("Gatehouse", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	again, err := EnrollmentFor(first.Secret, "Gatehouse", "bob@example.com")
	if err != nil {
		t.Fatalf("EnrollmentFor: %v", err)
	}
	if !bytes.Equal(again.Secret, first.Secret) || again.Base32 != first.Base32 || again.URI != first.URI || !bytes.Equal(again.PNG, first.PNG) {
		t.Errorf("EnrollmentFor(same secret) differs from the original enrolment:\n got %s\nwant %s", again.URI, first.URI)
	}
	// The secret is copied, so the caller's later wipe cannot change it.
	secret := bytes.Clone(first.Secret)
	e, _ := EnrollmentFor(secret, "Gatehouse", "bob@example.com")
	clear(secret)
	if !bytes.Equal(e.Secret, first.Secret) {
		t.Error("Enrollment.Secret shares the caller's slice")
	}
}

func TestEnrollmentAccountWithColon(t *testing.T) {
	e, err := EnrollmentFor(testSecret, "Gatehouse", "corp:alice")
	if err != nil {
		t.Fatalf("EnrollmentFor: %v", err)
	}
	key, _ := otp.NewKeyFromURL(e.URI)
	if key.Issuer() != "Gatehouse" || key.AccountName() != "corp:alice" {
		t.Errorf("apps read issuer %q, account %q; want Gatehouse, corp:alice", key.Issuer(), key.AccountName())
	}
}

func TestEnrollmentRefuses(t *testing.T) {
	tests := []struct {
		name            string
		secret          []byte
		issuer, account string
	}{
		{"no issuer", testSecret, "", "alice"},
		{"no account", testSecret, "Gatehouse", ""},
		{"colon in issuer", testSecret, "Gate:house", "alice"},
		{"newline in account", testSecret, "Gatehouse", "alice\nbob"},
		{"short secret", testSecret[:15], "Gatehouse", "alice"},
		{"no secret", nil, "Gatehouse", "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := EnrollmentFor(tt.secret, tt.issuer, tt.account); err == nil {
				t.Error("EnrollmentFor: got nil error")
			}
		})
	}
}

func TestEnrollmentNeverPrintsSecret(t *testing.T) {
	e, err := NewEnrollment("Gatehouse", "alice")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("enrolled", "enrollment", e)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", e, e, e, e)
	if strings.Contains(out, e.Base32) || strings.Contains(out, "otpauth") {
		t.Errorf("output shows the secret:\n%s", out)
	}
}
