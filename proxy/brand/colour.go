package brand

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// rgb is an sRGB colour, 8 bits a channel.
type rgb struct{ r, g, b uint8 }

var (
	white = rgb{0xff, 0xff, 0xff}
	black = rgb{0, 0, 0}
)

// The theme's backgrounds (proxy/web/gatehouse.css) that text in the
// brand colour may sit on: link colours are derived to keep 4.5:1
// against the least contrasting of them. A test in proxy/web keeps the
// stylesheet and these in step.
const (
	// LightBackground is the darkest background of the light theme (a
	// notice; the page is lighter and the card white).
	LightBackground = "#eef0f3"
	// DarkSurface is the lightest background of the dark theme (a
	// notice; the card and the page are darker).
	DarkSurface = "#21262d"
)

// minContrast is WCAG 2.1 AA's ratio for normal-size text (1.4.3).
const minContrast = 4.5

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// parseColour reads "#rrggbb", the one form the config accepts: short
// forms and names would each need their own rules for the same result.
func parseColour(s string) (rgb, error) {
	if !hexColour.MatchString(s) {
		return rgb{}, fmt.Errorf("want a colour as #rrggbb (six hex digits, as in #1a4fd6), got %q", s)
	}
	n, _ := strconv.ParseUint(s[1:], 16, 32)
	return rgb{uint8(n >> 16), uint8(n >> 8), uint8(n)}, nil
}

func mustColour(s string) rgb {
	c, err := parseColour(s)
	if err != nil {
		panic(err) // the constants above are fixed at build time
	}
	return c
}

func (c rgb) String() string { return fmt.Sprintf("#%02x%02x%02x", c.r, c.g, c.b) }

// luminance is WCAG 2.1's relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is WCAG 2.1's contrast ratio of two colours, 1 to 21.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// mix moves c toward to by t (0: c, 1: to).
func mix(c, to rgb, t float64) rgb {
	ch := func(a, b uint8) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*t)) }
	return rgb{ch(c.r, to.r), ch(c.g, to.g), ch(c.b, to.b)}
}

// toward returns c moved toward to in 1% steps until it has at least
// ratio against bg: the closest shade of the brand colour that reads.
func toward(c, to, bg rgb, ratio float64) rgb {
	for i := 0; i <= 100; i++ {
		if m := mix(c, to, float64(i)/100); contrast(m, bg) >= ratio {
			return m
		}
	}
	return to
}

// palette is what the generated stylesheet sets from the primary colour.
type palette struct {
	primary, hover, link, linkDark rgb
}

func newPalette(primary rgb) palette {
	return palette{
		primary: primary,
		hover:   mix(primary, black, 0.15),
		// Links are text on the page's backgrounds, which are a little
		// darker than the white a button label was checked against.
		link:     toward(primary, black, mustColour(LightBackground), minContrast),
		linkDark: toward(primary, white, mustColour(DarkSurface), minContrast),
	}
}

// stylesheet is brand.css: custom properties gatehouse.css reads. It is a
// file, not a <style> element, because the pages' CSP allows styles only
// from the gateway itself (style-src 'self'), never inline.
func (p palette) stylesheet() []byte {
	var b strings.Builder
	b.WriteString("/* Generated at start from the config's branding: section (proxy/brand). */\n")
	fmt.Fprintf(&b, ":root{--gh-primary:%s;--gh-primary-hover:%s;--gh-link:%s;--gh-link-dark:%s}\n",
		p.primary, p.hover, p.link, p.linkDark)
	return []byte(b.String())
}
