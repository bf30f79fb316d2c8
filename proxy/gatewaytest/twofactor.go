package gatewaytest

import (
	"encoding/base32"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/totp"
)

// Phone is the user's authenticator app: it holds the secret read from
// the enrolment page and computes codes at the gateway's (injected) time.
type Phone struct {
	Secret []byte
	Clock  *Clock
}

// Code is the code for the current step plus offset steps.
func (p Phone) Code(offsetSteps int) string {
	step := uint64(p.Clock.Now().Unix()/30 + int64(offsetSteps))
	return totp.Code(p.Secret, step, 6, "SHA1")
}

var (
	secretRe = regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`)
	codesRe  = regexp.MustCompile(`<li><code>([a-z2-7-]+)</code></li>`)
)

// Enrol walks a browser whose session must (or may) enrol through the
// enrolment page and returns the phone and the recovery codes.
func (g *Gateway) Enrol(t testing.TB, b *Browser) (Phone, []string) {
	t.Helper()
	return Enrol(t, b, g.Clock)
}

// Enrol is Gateway.Enrol for a gateway running elsewhere (the binary's
// own tests), whose clock is clk.
func Enrol(t testing.TB, b *Browser, clk *Clock) (Phone, []string) {
	t.Helper()
	resp, body := b.Get(t, "/.gatehouse/2fa/enroll")
	m := secretRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) ||
		!strings.Contains(body, `href="otpauth://totp/Gatehouse:`) || !strings.Contains(body, "issuer=Gatehouse") {
		t.Fatalf("enrolment page: %d\n%s", resp.StatusCode, body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	phone := Phone{Secret: secret, Clock: clk}
	resp, body = b.Do(t, "POST", "/.gatehouse/2fa/enroll", url.Values{"code": {phone.Code(0)}, "rd": {"/"}})
	codes := codesRe.FindAllStringSubmatch(body, -1)
	if resp.StatusCode != 200 || len(codes) != 10 {
		t.Fatalf("confirming enrolment: %d, %d recovery codes\n%s", resp.StatusCode, len(codes), strings.TrimSpace(body))
	}
	var plain []string
	for _, c := range codes {
		plain = append(plain, c[1])
	}
	return phone, plain
}
