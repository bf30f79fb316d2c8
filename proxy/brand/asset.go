package brand

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxImage bounds a logo or favicon file: a login page fetches it on
// every visit, and anything bigger is a photo, not a mark.
const MaxImage = 256 << 10

// Prefix is where the gateway serves the brand's files (the static
// handler strips "/.gatehouse/static/" and hands "brand/…" here).
const Prefix = "/.gatehouse/static/brand/"

// asset is one served file: the logo, the favicon or brand.css.
type asset struct {
	body  []byte
	ctype string
}

// format is an image format the brand accepts, found from the content,
// never from the file name.
type format struct {
	ext, ctype string
	is         func([]byte) bool
}

var (
	formatPNG  = format{"png", "image/png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }}
	formatWebP = format{"webp", "image/webp", func(b []byte) bool {
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	}}
	formatICO = format{"ico", "image/x-icon", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0, 0, 1, 0}) }}
	formatSVG = format{"svg", "image/svg+xml", isSVG}
)

// isSVG reports whether b is an XML document whose root is <svg>.
func isSVG(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if el, ok := tok.(xml.StartElement); ok {
			return el.Name.Local == "svg"
		}
	}
}

// readImage reads an image file of one of formats, at most MaxImage
// bytes. Errors say what to do, for the caller to put after the key.
func readImage(path string, formats ...format) (asset, format, error) {
	f, err := os.Open(path)
	if err != nil {
		return asset{}, format{}, fmt.Errorf("%w; give a readable file, or leave it empty for the default", err)
	}
	defer f.Close()
	// A FIFO or device would hang the start or feed it forever.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return asset{}, format{}, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxImage+1))
	if err != nil {
		return asset{}, format{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxImage {
		return asset{}, format{}, fmt.Errorf("%s is larger than %d KiB; every login page loads it, so export a smaller image", path, MaxImage>>10)
	}
	for _, ft := range formats {
		if ft.is(b) {
			return asset{body: b, ctype: ft.ctype}, ft, nil
		}
	}
	names := make([]string, len(formats))
	for i, ft := range formats {
		names[i] = strings.ToUpper(ft.ext)
	}
	return asset{}, format{}, fmt.Errorf("%s is not a %s image (judged by its content, not its name)", path, strings.Join(names, ", "))
}

// add stores a under a name made of its content's hash, and returns its
// URL: a changed file gets a new URL, so the old one can be cached for
// good.
func (b *Brand) add(a asset, ext string) string {
	sum := sha256.Sum256(a.body)
	name := hex.EncodeToString(sum[:8]) + "." + ext
	b.assets[name] = a
	return Prefix + name
}

// assetCSP is sent with every brand file. An SVG opened on its own is a
// document that could run script on the gateway's origin; sandbox and
// default-src 'none' make sure nothing in it runs, whatever the file
// holds (in an <img> it never could).
const assetCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// ServeAsset answers a request for a brand file by its name under Prefix
// (e.g. "3fa2….png"), or 404 for any other name.
func (b *Brand) ServeAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := b.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", assetCSP)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+name+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
