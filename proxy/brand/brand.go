// Package brand is how the gateway's pages present the organisation that
// runs it: the product name, logo, primary colour, favicon and footer
// links of the config's branding: section. Validate checks the section
// once at start — image formats and sizes, and that white button text
// on the colour has the contrast WCAG AA asks — and builds the Brand the
// pages render with, including the files the gateway serves for it (the
// logo, the favicon and a generated stylesheet carrying the colour), each
// under a URL made of its content's hash so browsers may cache it for
// good.
package brand

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults of the branding: section; configs/gatehouse.yaml spells them
// out.
const (
	DefaultName   = "Gatehouse"
	DefaultColour = "#1a4fd6"
	maxName       = 60
	maxLabel      = 80
)

// Config is the branding: section.
type Config struct {
	// ProductName is in every page's title and header.
	ProductName string `yaml:"product_name"`
	// Logo is a PNG, SVG or WebP file of at most 256 KiB, read at start
	// and served by the gateway, or an https:// URL the pages load it
	// from (the page CSP then allows that origin for images; every login
	// page visit then tells that host the visitor's address, so prefer a
	// file). Empty: Gatehouse's mark, in the primary colour.
	Logo string `yaml:"logo"`
	// PrimaryColor (#rrggbb) fills buttons and colours links and focus
	// rings; white text on it must reach 4.5:1.
	PrimaryColor string `yaml:"primary_color"`
	// Favicon is a PNG, SVG or ICO file of at most 256 KiB. Empty: the
	// logo when it is a file, else none.
	Favicon string `yaml:"favicon"`
	// Links are optional footer links on every page.
	Links Links `yaml:"links"`

	// built is what Validate made of the keys above.
	built *Brand
}

// Links are the footer links; one without a URL is not shown.
type Links struct {
	Privacy Link `yaml:"privacy"`
	Help    Link `yaml:"help"`
}

// Link is one footer link: an https:// URL and its text (empty: the
// page's own word for it, "Privacy" or "Help").
type Link struct {
	Label string `yaml:"label"`
	URL   string `yaml:"url"`
}

// Brand is a validated branding, as pages render it. It is not changed
// after Validate builds it, so every request may share it.
type Brand struct {
	// Name is the product name.
	Name string
	// LogoURL is the logo's address: a path under Prefix, or the
	// configured https:// URL.
	LogoURL string
	// FaviconURL and FaviconType are the favicon's path and media type;
	// empty when there is none.
	FaviconURL, FaviconType string
	// StyleURL is brand.css's path: the colour as CSS custom properties.
	StyleURL string
	// Privacy and Help are the footer links (URL empty: not shown).
	Privacy, Help Link

	logoOrigin string
	assets     map[string]asset
}

// ImageOrigin is the origin the pages must also allow images from (the
// logo's, when it is a URL), or "".
func (b *Brand) ImageOrigin() string { return b.logoOrigin }

// SetDefaults fills the product name and the colour.
func (c *Config) SetDefaults() {
	if c.ProductName == "" {
		c.ProductName = DefaultName
	}
	if c.PrimaryColor == "" {
		c.PrimaryColor = DefaultColour
	}
}

// Brand is the branding Validate built, or the default one when it has
// not run.
func (c *Config) Brand() *Brand {
	if c.built == nil {
		return Default()
	}
	return c.built
}

// Default is the branding of a config without a branding: section.
func Default() *Brand {
	var c Config
	c.SetDefaults()
	if err := c.Validate("branding"); err != nil {
		panic(err) // the defaults are fixed at build time
	}
	return c.built
}

// Validate reports every problem of the section, each starting with its
// key under key (e.g. "branding.primary_color: …") and saying how to fix
// it, and builds the Brand. It reads the logo and favicon files; it makes
// no network request (a logo URL is only checked for its form).
func (c *Config) Validate(key string) error {
	var errs []error
	fail := func(sub string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, sub, fmt.Sprintf(format, args...)))
	}
	b := &Brand{Name: strings.TrimSpace(c.ProductName), assets: map[string]asset{}}
	if msg := checkText(b.Name, maxName); msg != "" {
		fail("product_name", "%s; it is the title of every page (default %s)", msg, DefaultName)
	}
	primary, err := parseColour(c.PrimaryColor)
	switch {
	case err != nil:
		fail("primary_color", "%v", err)
		primary = mustColour(DefaultColour) // so the rest can still be checked
	case contrast(white, primary) < minContrast:
		fail("primary_color", "white text on %s has a contrast of %.2f:1, below the %.1f:1 WCAG AA asks of button labels; use a darker shade of it, such as %s",
			strings.ToLower(c.PrimaryColor), contrast(white, primary), minContrast, toward(primary, black, white, minContrast))
	}
	pal := newPalette(primary)
	b.StyleURL = b.add(asset{body: pal.stylesheet(), ctype: "text/css; charset=utf-8"}, "css")
	logo, logoIsFile, err := b.logo(c.Logo, primary)
	if err != nil {
		fail("logo", "%v", err)
	}
	b.LogoURL = logo
	if err := b.favicon(c.Favicon, logoIsFile); err != nil {
		fail("favicon", "%v", err)
	}
	b.Privacy, err = checkLink(c.Links.Privacy)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s.links.privacy.%w", key, err))
	}
	b.Help, err = checkLink(c.Links.Help)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s.links.help.%w", key, err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.built = b
	return nil
}

// checkText says what is wrong with a name or label shown on every page,
// or "".
func checkText(s string, max int) string {
	switch {
	case s == "":
		return "must not be empty"
	case !utf8.ValidString(s):
		return "must be UTF-8 text"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("must be at most %d characters, got %d", max, utf8.RuneCountInString(s))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must be one line of text, without control characters"
	}
	return ""
}

//go:embed mark.svg
var markTemplate string

// logo sets up the logo and returns its URL and whether it is served from
// a file (the built-in mark counts as one).
func (b *Brand) logo(v string, primary rgb) (string, bool, error) {
	switch {
	case v == "":
		// The built-in mark takes the brand colour, so a brand that sets
		// only a colour still looks of a piece.
		svg := strings.ReplaceAll(markTemplate, DefaultColour, primary.String())
		return b.add(asset{body: []byte(svg), ctype: formatSVG.ctype}, formatSVG.ext), true, nil
	case strings.Contains(v, "://"):
		u, origin, err := checkHTTPS(v)
		if err != nil {
			return "", false, err
		}
		b.logoOrigin = origin
		return u, false, nil
	}
	a, ft, err := readImage(v, formatPNG, formatSVG, formatWebP)
	if err != nil {
		return "", false, err
	}
	return b.add(a, ft.ext), true, nil
}

// favicon sets up the favicon: the file given, else the logo's file.
func (b *Brand) favicon(v string, logoIsFile bool) error {
	switch {
	case v == "" && logoIsFile:
		b.FaviconURL = b.LogoURL
		b.FaviconType = b.assets[strings.TrimPrefix(b.LogoURL, Prefix)].ctype
		return nil
	case v == "":
		return nil
	case strings.Contains(v, "://"):
		return errors.New("must be a file (PNG, SVG or ICO): the gateway serves the favicon itself")
	}
	a, ft, err := readImage(v, formatPNG, formatSVG, formatICO)
	if err != nil {
		return err
	}
	b.FaviconURL, b.FaviconType = b.add(a, ft.ext), a.ctype
	return nil
}

// hostPattern is what a logo or link host may be: letters, digits, dots,
// hyphens and a port. Anything else could break out of the CSP header
// the logo's origin is written into.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// checkHTTPS parses an https:// URL and returns it and its origin.
func checkHTTPS(v string) (string, string, error) {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("%q is not a URL: %v", v, err)
	case u.Scheme != "https":
		return "", "", fmt.Errorf("must be an https:// URL, got %q: over http it could be altered on the way, and browsers would flag the page as insecure", v)
	case u.User != nil:
		return "", "", errors.New("must not hold a user name or password")
	case !hostPattern.MatchString(u.Host):
		return "", "", fmt.Errorf("%q has no valid host name", v)
	}
	return u.String(), "https://" + strings.ToLower(u.Host), nil
}

// checkLink validates a footer link; its error starts with the key under
// the link (label or url) for the caller to prefix.
func checkLink(l Link) (Link, error) {
	l.Label = strings.TrimSpace(l.Label)
	if l.URL == "" {
		if l.Label != "" {
			return Link{}, errors.New("url: required when the label is set (a footer link needs somewhere to go), or remove the label")
		}
		return Link{}, nil
	}
	u, _, err := checkHTTPS(l.URL)
	if err != nil {
		return Link{}, fmt.Errorf("url: %w", err)
	}
	if l.Label != "" {
		if msg := checkText(l.Label, maxLabel); msg != "" {
			return Link{}, fmt.Errorf("label: %s", msg)
		}
	}
	return Link{Label: l.Label, URL: u}, nil
}
