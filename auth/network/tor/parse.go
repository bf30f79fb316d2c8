package tor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Input bounds. The real lists are a few hundred KiB with lines under 80
// bytes; the bounds only stop a hostile or broken source from making the
// gateway buffer without limit.
const (
	MaxSize       = 16 << 20
	MaxLineLength = 4096
)

// Errors a parse can wrap; the ParseError around them names the line.
var (
	ErrEmpty       = errors.New("no addresses")
	ErrTooLarge    = errors.New("input larger than " + strconv.Itoa(MaxSize>>20) + " MiB")
	ErrLineTooLong = errors.New("line longer than " + strconv.Itoa(MaxLineLength) + " bytes")
	ErrSyntax      = errors.New("syntax error")
)

// ParseError is why a list was refused and on which line (1-based). For
// ErrEmpty, Line is the number of lines read; for ErrTooLarge, the line
// the size limit fell on.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

// syntaxErr describes a malformed line; the offending text is quoted and
// cut short, since it comes from the network and ends up in logs.
func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)
}

func quote(s string) string {
	const maxShown = 64
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return strconv.Quote(s)
}

// lineParser consumes one significant (non-blank) line at a time and then
// returns what it found.
type lineParser interface {
	line(n int, text string) error
	finish() (addrs []netip.Addr, published time.Time, err error)
}

// Parse reads a whole exit list and detects its format from the first line
// that is neither blank nor a '#' comment: a TorDNSEL keyword (@type,
// Downloaded, ExitNode) means exit-addresses, anything else the bulk list.
// Every line must then be valid for that format; a list with no address at
// all is refused, since it is what a truncated download looks like.
func Parse(r io.Reader) (*List, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxSize {
		return nil, &ParseError{Line: bytes.Count(data[:MaxSize], []byte{'\n'}) + 1, Err: ErrTooLarge}
	}
	var (
		p      lineParser
		format string
		n      int
	)
	for len(data) > 0 {
		var text []byte
		text, data, _ = bytes.Cut(data, []byte{'\n'})
		n++
		if len(text) > MaxLineLength {
			return nil, &ParseError{Line: n, Err: ErrLineTooLong}
		}
		s := strings.TrimSpace(string(text))
		if s == "" || (p == nil || format == FormatBulk) && s[0] == '#' {
			continue
		}
		if p == nil {
			p, format = detect(s)
		}
		if err := p.line(n, s); err != nil {
			return nil, atLine(n, err)
		}
	}
	return finish(p, format, n)
}

func finish(p lineParser, format string, lines int) (*List, error) {
	if p == nil {
		return nil, &ParseError{Line: lines, Err: ErrEmpty}
	}
	addrs, published, err := p.finish()
	if err == nil && len(addrs) == 0 {
		err = ErrEmpty
	}
	if err != nil {
		return nil, atLine(lines, err)
	}
	l, err := newList(addrs, published, format)
	if err != nil {
		return nil, fmt.Errorf("build set: %w", err)
	}
	return l, nil
}

// atLine wraps err in a ParseError for line n unless it already names one.
func atLine(n int, err error) error {
	if _, ok := err.(*ParseError); ok {
		return err
	}
	return &ParseError{Line: n, Err: err}
}

func detect(first string) (lineParser, string) {
	keyword, _, _ := strings.Cut(first, " ")
	switch keyword {
	case "@type", "Downloaded", "ExitNode":
		return &exitParser{}, FormatExitAddresses
	}
	return &bulkParser{}, FormatBulk
}

// bulkParser reads check.torproject.org/torbulkexitlist: one IPv4 or IPv6
// address per line.
type bulkParser struct {
	addrs []netip.Addr
}

func (p *bulkParser) line(_ int, s string) error {
	a, err := parseAddr(s)
	if err != nil {
		return err
	}
	p.addrs = append(p.addrs, a)
	return nil
}

func (p *bulkParser) finish() ([]netip.Addr, time.Time, error) {
	return p.addrs, time.Time{}, nil
}

// parseAddr accepts a plain address only: a zone has no meaning on a list
// published for the whole Internet, so it marks garbage.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, syntaxErr("invalid address %s", quote(s))
	}
	return a.Unmap(), nil
}
