package tor

import (
	"net/netip"
	"strings"
	"time"
)

// timeLayout is how TorDNSEL writes times, always UTC.
const timeLayout = "2006-01-02 15:04:05"

// exitParser reads the TorDNSEL exit-addresses format
// (check.torproject.org/exit-addresses, CollecTor "exit-lists"):
//
//	@type tordnsel 1.0              (optional, CollecTor only)
//	Downloaded 2018-11-01 00:02:01  (optional, CollecTor only)
//	ExitNode <40 hex fingerprint>
//	Published <date> <time>
//	LastStatus <date> <time>
//	ExitAddress <ip> <date> <time>  (one or more)
//
// Each keyword is checked, so an error page or a different document is
// refused rather than read as an empty or partial list. A node without
// ExitAddress is refused too: it is how a download cut at a line boundary
// usually ends.
type exitParser struct {
	addrs     []netip.Addr
	published time.Time

	nodes    int  // ExitNode lines seen; headers are only allowed before the first
	header   byte // headers seen: seenType, seenDownloaded
	node     byte // keywords seen in the current node: seenPublished, seenLastStatus
	nodeAddr int  // ExitAddress lines in the current node
	nodeLine int  // the line the current node started on, for errors
	lines    int  // significant lines handed to the parser so far
}

const (
	seenType = 1 << iota
	seenDownloaded
	seenPublished
	seenLastStatus
)

func (p *exitParser) line(n int, s string) error {
	p.lines++
	fields := strings.Fields(s)
	switch fields[0] {
	case "@type":
		return p.typeLine(fields)
	case "Downloaded":
		return p.header1(seenDownloaded, fields)
	case "ExitNode":
		return p.exitNode(n, fields)
	case "Published":
		return p.nodeTime(seenPublished, fields, true)
	case "LastStatus":
		return p.nodeTime(seenLastStatus, fields, false)
	case "ExitAddress":
		return p.exitAddress(fields)
	}
	return syntaxErr("unknown keyword %s", quote(fields[0]))
}

func (p *exitParser) typeLine(fields []string) error {
	if p.lines != 1 {
		return syntaxErr("@type must be the first line")
	}
	if len(fields) != 3 || fields[1] != "tordnsel" || !strings.HasPrefix(fields[2], "1.") {
		return syntaxErr("unsupported %s", quote(strings.Join(fields, " ")))
	}
	p.header |= seenType
	return nil
}

func (p *exitParser) header1(bit byte, fields []string) error {
	if p.nodes > 0 || p.header&bit != 0 {
		return syntaxErr("%s only once, before the first ExitNode", fields[0])
	}
	p.header |= bit
	return p.timeField(fields[0], fields[1:])
}

func (p *exitParser) exitNode(n int, fields []string) error {
	if err := p.endNode(); err != nil {
		return err
	}
	if len(fields) != 2 || !isFingerprint(fields[1]) {
		return syntaxErr("ExitNode needs a 40-digit hex fingerprint, got %s", quote(strings.Join(fields[1:], " ")))
	}
	p.nodes++
	p.node, p.nodeAddr, p.nodeLine = 0, 0, n
	return nil
}

// endNode checks the node being closed; the error names the node's line,
// not the line that closed it.
func (p *exitParser) endNode() error {
	if p.nodes > 0 && p.nodeAddr == 0 {
		return &ParseError{Line: p.nodeLine, Err: syntaxErr("ExitNode without ExitAddress")}
	}
	return nil
}

func (p *exitParser) nodeTime(bit byte, fields []string, newest bool) error {
	if p.nodes == 0 {
		return syntaxErr("%s before the first ExitNode", fields[0])
	}
	if p.node&bit != 0 {
		return syntaxErr("%s twice in one ExitNode", fields[0])
	}
	p.node |= bit
	if !newest {
		_, err := parseTime(fields[0], fields[1:])
		return err
	}
	return p.timeField(fields[0], fields[1:])
}

func (p *exitParser) exitAddress(fields []string) error {
	if p.nodes == 0 {
		return syntaxErr("ExitAddress before the first ExitNode")
	}
	if len(fields) < 2 {
		return syntaxErr("ExitAddress without an address")
	}
	a, err := parseAddr(fields[1])
	if err != nil {
		return err
	}
	if err := p.timeField(fields[0], fields[2:]); err != nil {
		return err
	}
	p.addrs = append(p.addrs, a)
	p.nodeAddr++
	return nil
}

// timeField parses a date and time and keeps the newest as Published.
func (p *exitParser) timeField(keyword string, fields []string) error {
	t, err := parseTime(keyword, fields)
	if err != nil {
		return err
	}
	if t.After(p.published) {
		p.published = t
	}
	return nil
}

func (p *exitParser) finish() ([]netip.Addr, time.Time, error) {
	if err := p.endNode(); err != nil {
		return nil, time.Time{}, err
	}
	return p.addrs, p.published, nil
}

func parseTime(keyword string, fields []string) (time.Time, error) {
	s := strings.Join(fields, " ")
	t, err := time.Parse(timeLayout, s)
	if len(fields) != 2 || err != nil {
		return time.Time{}, syntaxErr("%s needs a \"YYYY-MM-DD hh:mm:ss\" time, got %s", keyword, quote(s))
	}
	return t, nil
}

func isFingerprint(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
