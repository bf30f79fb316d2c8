package configs

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/brand"
)

func TestBrandingDefaults(t *testing.T) {
	c, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Branding
	if b.ProductName != "Gatehouse" || b.PrimaryColor != "#1a4fd6" || b.Logo != "" || b.Favicon != "" || b.Links != (brand.Links{}) {
		t.Errorf("branding defaults: %+v", b)
	}
	got := c.Branding.Brand()
	if got.Name != "Gatehouse" || !strings.HasPrefix(got.LogoURL, brand.Prefix) || got.Privacy.URL != "" || got.Help.URL != "" {
		t.Errorf("default brand: %+v", got)
	}
}

func TestBrandingFromFileAndEnvironment(t *testing.T) {
	logo := brandingPNG(t, 1)
	doc := "branding:\n  product_name: Acme CRM\n  logo: " + logo + "\n  links: {privacy: {label: Privacy notice, url: 'https://acme.example/privacy'}}\n"
	env := []string{
		"GATEHOUSE_BRANDING_PRIMARY_COLOR=#0b6e4f",
		"GATEHOUSE_BRANDING_PRODUCT_NAME=Acme Sales",
		"GATEHOUSE_BRANDING_LINKS_HELP_URL=https://help.acme.example/login",
		"GATEHOUSE_BRANDING_LINKS_HELP_LABEL=Help centre",
	}
	c, err := Parse([]byte(doc), env)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Branding.Brand()
	if b.Name != "Acme Sales" || !strings.HasSuffix(b.LogoURL, ".png") || b.FaviconURL != b.LogoURL ||
		b.Privacy != (brand.Link{Label: "Privacy notice", URL: "https://acme.example/privacy"}) ||
		b.Help != (brand.Link{Label: "Help centre", URL: "https://help.acme.example/login"}) {
		t.Errorf("brand: %+v", b)
	}
	names := EnvNames()
	for _, want := range []string{"GATEHOUSE_BRANDING_LOGO", "GATEHOUSE_BRANDING_FAVICON", "GATEHOUSE_BRANDING_LINKS_PRIVACY_URL"} {
		if !strings.Contains(strings.Join(names, " ")+" ", want+" ") {
			t.Errorf("EnvNames() lacks %s", want)
		}
	}
}

// TestBrandingProblemsNameTheKey: every problem of the section is
// reported at once, by key and line (or by the variable that set it),
// with the fix.
func TestBrandingProblemsNameTheKey(t *testing.T) {
	big := brandingPNG(t, brand.MaxImage) // more than 256 KiB once encoded
	doc := strings.Join([]string{
		"branding:",
		"  product_name: '  '",
		"  logo: " + big,
		"  primary_color: '#ffcc00'",
		"  favicon: https://cdn.example/favicon.ico",
		"  links:",
		"    privacy: {label: Privacy}",
		"    help: {url: 'http://help.example'}",
	}, "\n")
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"line 2: branding.product_name: must not be empty",
		"line 3: branding.logo: " + big + " is larger than 256 KiB",
		"line 4: branding.primary_color: white text on #ffcc00 has a contrast of 1.51:1, below the 4.5:1 WCAG AA asks of button labels; use a darker shade of it, such as #8f7200",
		"line 5: branding.favicon: must be a file",
		"branding.links.privacy.url: required when the label is set",
		"branding.links.help.url: must be an https:// URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got\n%v\nwant a line containing %q", err, want)
		}
	}

	_, err = Parse(nil, []string{"GATEHOUSE_BRANDING_PRIMARY_COLOR=teal"})
	if want := `branding.primary_color: want a colour as #rrggbb (six hex digits, as in #1a4fd6), got "teal" (set by GATEHOUSE_BRANDING_PRIMARY_COLOR)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	_, err = Parse(nil, []string{"GATEHOUSE_BRANDING_PRIMARY_COLOR=#6c9bd2"})
	if want := "branding.primary_color: white text on #6c9bd2 has a contrast of"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("low contrast from the environment: got %v, want %q", err, want)
	}
}

// brandingPNG writes a PNG of roughly side² random-looking pixels (so it
// does not compress) and returns its path; side 1 is a tiny logo.
func brandingPNG(t *testing.T, pixels int) string {
	t.Helper()
	side := 1
	for side*side*4 < pixels {
		side++
	}
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = byte(x)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
