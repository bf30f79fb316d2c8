package brand

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngFile writes a w×h PNG filled with c and returns its path.
func pngFile(t *testing.T, w, h int, c color.Color) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "logo.png", buf.Bytes())
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t *testing.T, c Config) (*Brand, error) {
	t.Helper()
	c.SetDefaults()
	err := c.Validate("branding")
	return c.built, err
}

func TestContrastMatchesWCAG(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"#ffffff", "#000000", 21},
		{"#ffffff", "#ffffff", 1},
		{"#ffffff", "#767676", 4.54}, // the classic lightest grey that passes on white
		{"#ffffff", DefaultColour, 6.70},
	}
	for _, tt := range tests {
		got := contrast(mustColour(tt.a), mustColour(tt.b))
		if math.Abs(got-tt.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestPaletteKeepsContrast: whatever the (accepted) brand colour, the
// derived link colours read on the theme's backgrounds in both schemes.
func TestPaletteKeepsContrast(t *testing.T) {
	for _, c := range []string{DefaultColour, "#000000", "#767676", "#d0021b", "#0b6e4f", "#5b2a86", "#1f2328"} {
		p := newPalette(mustColour(c))
		if r := contrast(white, p.primary); r < minContrast {
			continue // refused by Validate; not a palette the pages get
		}
		if r := contrast(p.link, mustColour(LightBackground)); r < minContrast {
			t.Errorf("%s: link %s on %s is %.2f:1", c, p.link, LightBackground, r)
		}
		if r := contrast(p.linkDark, mustColour(DarkSurface)); r < minContrast {
			t.Errorf("%s: dark link %s on %s is %.2f:1", c, p.linkDark, DarkSurface, r)
		}
		if r := contrast(white, p.hover); r < minContrast {
			t.Errorf("%s: white on hover %s is %.2f:1", c, p.hover, r)
		}
	}
}

func TestDefaultBrand(t *testing.T) {
	b := Default()
	if b.Name != "Gatehouse" || !strings.HasPrefix(b.LogoURL, Prefix) || !strings.HasSuffix(b.LogoURL, ".svg") ||
		b.FaviconURL != b.LogoURL || b.FaviconType != "image/svg+xml" || !strings.HasSuffix(b.StyleURL, ".css") || b.ImageOrigin() != "" {
		t.Fatalf("default brand: %+v", b)
	}
	css := serve(t, b, b.StyleURL)
	if !strings.Contains(css.Body.String(), "--gh-primary:#1a4fd6;") {
		t.Errorf("brand.css: %s", css.Body)
	}
}

// TestBuiltInMarkTakesTheColour: a brand that sets only a colour gets
// Gatehouse's mark in that colour, under a URL of its own.
func TestBuiltInMarkTakesTheColour(t *testing.T) {
	b, err := build(t, Config{PrimaryColor: "#0B6E4F"})
	if err != nil {
		t.Fatal(err)
	}
	mark := serve(t, b, b.LogoURL).Body.String()
	if !strings.Contains(mark, `fill="#0b6e4f"`) || strings.Contains(mark, DefaultColour) {
		t.Errorf("mark: %s", mark)
	}
	if b.LogoURL == Default().LogoURL {
		t.Error("a different mark kept the default's URL; browsers would show the cached one")
	}
}

func TestLogoFiles(t *testing.T) {
	pngPath := pngFile(t, 64, 32, color.RGBA{0x1a, 0x4f, 0xd6, 0xff})
	svg := writeFile(t, "logo.svg", []byte(`<?xml version="1.0"?><!-- mark --><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>`))
	webp := writeFile(t, "logo.webp", append([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), make([]byte, 8)...))
	for _, tt := range []struct{ path, ctype, ext string }{
		{pngPath, "image/png", ".png"}, {svg, "image/svg+xml", ".svg"}, {webp, "image/webp", ".webp"},
	} {
		b, err := build(t, Config{Logo: tt.path})
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if !strings.HasSuffix(b.LogoURL, tt.ext) || b.FaviconURL != b.LogoURL {
			t.Errorf("%s: logo %q favicon %q", tt.path, b.LogoURL, b.FaviconURL)
		}
		want, _ := os.ReadFile(tt.path)
		resp := serve(t, b, b.LogoURL)
		if resp.Code != 200 || resp.Header().Get("Content-Type") != tt.ctype || !bytes.Equal(resp.Body.Bytes(), want) {
			t.Errorf("%s: served %d %s", tt.path, resp.Code, resp.Header().Get("Content-Type"))
		}
	}
}

func TestLogoAndFaviconRefused(t *testing.T) {
	big := pngFile(t, 8, 8, color.Black)
	data, _ := os.ReadFile(big)
	big = writeFile(t, "big.png", append(data, make([]byte, MaxImage)...))
	jpeg := writeFile(t, "photo.png", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
	html := writeFile(t, "logo.svg", []byte(`<html><body>not an svg</body></html>`))
	ico := writeFile(t, "favicon.ico", []byte{0, 0, 1, 0, 1, 0, 16, 16})
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"too large", Config{Logo: big}, "branding.logo: " + big + " is larger than 256 KiB"},
		{"a JPEG named .png", Config{Logo: jpeg}, "branding.logo: " + jpeg + " is not a PNG, SVG, WEBP image"},
		{"HTML named .svg", Config{Logo: html}, "is not a PNG, SVG, WEBP image"},
		{"missing file", Config{Logo: "/nonexistent/logo.png"}, "branding.logo: open /nonexistent/logo.png"},
		{"a device", Config{Logo: "/dev/zero"}, "branding.logo: /dev/zero is not a regular file"},
		{"a folder", Config{Favicon: os.TempDir()}, "branding.favicon: " + os.TempDir() + " is not a regular file"},
		{"an ICO logo", Config{Logo: ico}, "branding.logo: "},
		{"plain http URL", Config{Logo: "http://cdn.example/logo.png"}, "branding.logo: must be an https:// URL"},
		{"favicon URL", Config{Favicon: "https://cdn.example/favicon.ico"}, "branding.favicon: must be a file"},
		{"favicon too large", Config{Favicon: big}, "branding.favicon: " + big + " is larger than 256 KiB"},
		{"favicon JPEG", Config{Favicon: jpeg}, "is not a PNG, SVG, ICO image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if b, err := build(t, Config{Favicon: ico}); err != nil || !strings.HasSuffix(b.FaviconURL, ".ico") || b.FaviconType != "image/x-icon" {
		t.Errorf("an ICO favicon: %v %+v", err, b)
	}
}

func TestColourRefused(t *testing.T) {
	tests := []struct{ colour, want string }{
		{"blue", `branding.primary_color: want a colour as #rrggbb`},
		{"#12345", `want a colour as #rrggbb`},
		{"#1a4fd6;}body{display:none", `want a colour as #rrggbb`},
		// Yellow: white text on it is unreadable; the error offers the
		// nearest darker shade that passes.
		{"#ffcc00", "branding.primary_color: white text on #ffcc00 has a contrast of 1.51:1, below the 4.5:1 WCAG AA asks of button labels; use a darker shade of it, such as #"},
		{"#4a90e2", "branding.primary_color: white text on #4a90e2 has a contrast of 3.29:1"},
	}
	for _, tt := range tests {
		_, err := build(t, Config{PrimaryColor: tt.colour})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.colour, err, tt.want)
		}
	}
	// The suggested shade is itself accepted.
	_, err := build(t, Config{PrimaryColor: "#ffcc00"})
	suggested := err.Error()[strings.LastIndex(err.Error(), "#"):]
	if _, err := build(t, Config{PrimaryColor: suggested}); err != nil {
		t.Errorf("the suggested %s is refused: %v", suggested, err)
	}
}

func TestTextAndLinksRefused(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"blank name", Config{ProductName: "   "}, "branding.product_name: must not be empty"},
		{"long name", Config{ProductName: strings.Repeat("n", 61)}, "branding.product_name: must be at most 60 characters"},
		{"name with a newline", Config{ProductName: "Acme\nCRM"}, "branding.product_name: must be one line"},
		{"label without URL", Config{Links: Links{Privacy: Link{Label: "Privacy"}}}, "branding.links.privacy.url: required when the label is set"},
		{"http link", Config{Links: Links{Help: Link{URL: "http://help.example"}}}, "branding.links.help.url: must be an https:// URL"},
		{"javascript link", Config{Links: Links{Help: Link{URL: "javascript:alert(1)"}}}, "branding.links.help.url: must be an https:// URL"},
		{"link with credentials", Config{Links: Links{Help: Link{URL: "https://u:p@help.example"}}}, "branding.links.help.url: must not hold a user name"},
		{"long label", Config{Links: Links{Help: Link{URL: "https://help.example", Label: strings.Repeat("l", 81)}}}, "branding.links.help.label: must be at most 80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	b, err := build(t, Config{Links: Links{Privacy: Link{URL: "https://corp.example/privacy", Label: " Privacy notice "}, Help: Link{URL: "https://help.corp.example/"}}})
	if err != nil || b.Privacy != (Link{"Privacy notice", "https://corp.example/privacy"}) || b.Help.URL != "https://help.corp.example/" || b.Help.Label != "" {
		t.Errorf("links: %v %+v", err, b)
	}
}

// TestEveryProblemAtOnce: a config with several mistakes hears of all of
// them, each by its key.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := build(t, Config{ProductName: " ", PrimaryColor: "red", Logo: "http://x", Links: Links{Help: Link{Label: "Help"}}})
	for _, key := range []string{"branding.product_name:", "branding.primary_color:", "branding.logo:", "branding.links.help.url:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("got %v, want %s named", err, key)
		}
	}
}

func TestLogoURL(t *testing.T) {
	b, err := build(t, Config{Logo: "https://CDN.corp.example:8443/brand/logo.svg?v=2"})
	if err != nil {
		t.Fatal(err)
	}
	if b.LogoURL != "https://CDN.corp.example:8443/brand/logo.svg?v=2" || b.ImageOrigin() != "https://cdn.corp.example:8443" || b.FaviconURL != "" {
		t.Errorf("logo %q origin %q favicon %q", b.LogoURL, b.ImageOrigin(), b.FaviconURL)
	}
}

// TestLogoURLCannotInjectCSP: the logo's origin is written into every
// page's Content-Security-Policy, so a host that could end the img-src
// directive (and add, say, script-src 'unsafe-inline') is refused.
func TestLogoURLCannotInjectCSP(t *testing.T) {
	for _, v := range []string{
		"https://cdn.example;script-src 'unsafe-inline'/logo.png",
		"https://cdn.example%3Bscript-src/logo.png",
		"https://cdn.example 'unsafe-inline'/logo.png",
		"https://*/logo.png",
		"https:///logo.png",
	} {
		b, err := build(t, Config{Logo: v})
		if err == nil {
			t.Errorf("%q accepted, origin %q", v, b.ImageOrigin())
		}
	}
}

func serve(t *testing.T, b *Brand, url string) *httptest.ResponseRecorder {
	t.Helper()
	name, ok := strings.CutPrefix(url, Prefix)
	if !ok {
		t.Fatalf("%s is not under %s", url, Prefix)
	}
	w := httptest.NewRecorder()
	b.ServeAsset(w, httptest.NewRequest("GET", url, nil), name)
	return w
}

// TestSVGLogoCannotRunScript: an SVG is a document that may hold script,
// and it is served from the gateway's own origin. Opened directly (not
// through <img>, where it never runs), it must be sandboxed with no
// script allowed, and never sniffed as anything else.
func TestSVGLogoCannotRunScript(t *testing.T) {
	evil := writeFile(t, "logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>`))
	b, err := build(t, Config{Logo: evil})
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, b, b.LogoURL).Header()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q, want a sandbox allowing no script", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("headers %v", h)
	}
}

// TestAssetsOnlyByHash: only the exact hashed names are served, cached
// for good; anything else, traversal included, is 404.
func TestAssetsOnlyByHash(t *testing.T) {
	b := Default()
	resp := serve(t, b, b.StyleURL)
	if resp.Code != 200 || resp.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header().Get("ETag") == "" {
		t.Errorf("brand.css: %d %v", resp.Code, resp.Header())
	}
	for _, name := range []string{"", "brand.css", "../gatehouse.css", "..%2Fweb.go", strings.TrimPrefix(b.LogoURL, Prefix) + "x", "mark.svg"} {
		w := httptest.NewRecorder()
		b.ServeAsset(w, httptest.NewRequest("GET", "/x", nil), name)
		if w.Code != http.StatusNotFound {
			t.Errorf("%q: %d, want 404", name, w.Code)
		}
	}
	// A conditional request for the cached copy is answered 304.
	req := httptest.NewRequest("GET", b.StyleURL, nil)
	req.Header.Set("If-None-Match", resp.Header().Get("ETag"))
	w := httptest.NewRecorder()
	b.ServeAsset(w, req, strings.TrimPrefix(b.StyleURL, Prefix))
	if w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", w.Code)
	}
}
