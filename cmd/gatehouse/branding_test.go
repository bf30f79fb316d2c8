package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// brandingConfig is the branding: section the browser tests run with;
// testdata/browser/branding.mjs checks for these values.
func brandingConfig(t *testing.T, dir string) string {
	t.Helper()
	logo := filepath.Join(dir, "acme-logo.png")
	e2eWriteFile(t, logo, string(brandingLogo(t)))
	return "branding:\n  product_name: Acme CRM\n  logo: " + logo + "\n  primary_color: \"#0b6e4f\"\n" +
		"  links:\n    privacy: {url: \"https://acme.example/privacy\"}\n    help: {label: Help centre, url: \"https://help.acme.example/\"}\n"
}

// brandingLogo is a 120×40 PNG: a green bar with a white square, enough
// for a logo to have a width once decoded.
func brandingLogo(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 120, 40))
	for y := range 40 {
		for x := range 120 {
			c := color.NRGBA{0x0b, 0x6e, 0x4f, 0xff}
			if x >= 8 && x < 32 && y >= 8 && y < 32 {
				c = color.NRGBA{0xff, 0xff, 0xff, 0xff}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBrowserBranding is the branded login experience in real Chromium
// against the real binary (testdata/browser/branding.mjs), on a 360 px
// phone and a desktop, in light and dark mode: the configured colour on
// the submit button, a dark page under prefers-color-scheme: dark, no
// horizontal scroll, the logo and product name, Show password, the
// caps-lock hint, the username remembered across logouts only while the
// box is ticked, and axe-core finding no WCAG 2.1 A/AA violation on the
// login (with and without an error), 2FA, enrolment, recovery codes,
// account, not-found and demo CRM pages in either scheme; and the login
// page in Spanish (from Accept-Language), then Hindi and English through
// the language switcher, each passing axe too.
func TestBrowserBranding(t *testing.T) {
	e := newE2E(t)
	pw := e.start(brandingConfig(t, e.dir) + "policy: {mfa: {mode: optional}}\n")
	e.node("branding.mjs", e.base, e2eUser, pw, e.dir, "plain")
	keepScreenshots(t, e.dir, "branding-login-light-plain.png", "branding-login-dark-plain.png", "branding-login-desktop.png",
		"branding-crm.png", "branding-account-dark.png")
}

// TestBrowserBrandingEncrypted: with password encryption on, Show
// password lifts the mask of the nameless text field and puts it back,
// the field never gets a name, and a login sent while the password is
// shown still posts only password_enc; the encrypted login page passes
// axe-core in both schemes.
func TestBrowserBrandingEncrypted(t *testing.T) {
	e := newE2E(t)
	pw := e.start(brandingConfig(t, e.dir) + encryptionPolicy)
	e.node("branding.mjs", e.base, e2eUser, pw, e.dir, "encrypted")
	keepScreenshots(t, e.dir, "branding-login-light-encrypted.png")
}

// keepScreenshots copies screenshots out of the test's temp dir, for a
// human to look at.
func keepScreenshots(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, name := range names {
		if png, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			to := filepath.Join(os.TempDir(), "gatehouse-"+name)
			if err := os.WriteFile(to, png, 0o644); err == nil {
				t.Logf("screenshot: %s", to)
			}
		}
	}
}
