package access

import (
	"fmt"
	"strings"
)

// A route pattern is net/http's ServeMux syntax without a host:
// "[METHOD ]/path", where a segment is a literal, {name} (one segment),
// {name...} (the rest, last only), {$} (the path ends with its slash, last
// only), and a trailing slash covers the whole subtree. GET covers HEAD.
// Two rules that overlap without one being more specific are refused as
// ServeMux refuses them, and the matcher below picks the rule ServeMux
// would; property tests hold both to a real ServeMux. (The package does
// not import net/http: the login policy that embeds it stays pure.)

// segKind is what one pattern segment matches.
type segKind uint8

const (
	segLiteral segKind = iota
	segOne             // {name}
	segMulti           // {name...} or the trailing slash
	segEnd             // {$}
)

type segment struct {
	kind segKind
	lit  string
}

type pattern struct {
	method string // "" = any
	segs   []segment
}

// parsePattern reads one route pattern; fold lower-cases literals.
func parsePattern(s string, fold bool) (pattern, error) {
	var p pattern
	rest := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		p.method, rest = s[:i], strings.TrimLeft(s[i:], " \t")
		if !validMethod(p.method) {
			return p, fmt.Errorf("%q: method %q is not an HTTP method token in upper case", s, p.method)
		}
	}
	if !strings.HasPrefix(rest, "/") {
		return p, fmt.Errorf("%q: the path must start with / (hosts are not allowed)", s)
	}
	if strings.ContainsAny(rest, " \t?#%\\") {
		return p, fmt.Errorf("%q: the path may not contain spaces, ?, #, %% or \\", s)
	}
	parts := strings.Split(rest[1:], "/")
	names := map[string]bool{}
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case part == "" && last:
			p.segs = append(p.segs, segment{kind: segMulti})
		case part == "":
			return p, fmt.Errorf("%q: empty path segment", s)
		case part == "*":
			return p, fmt.Errorf("%q: * is not a wildcard here; end the path with / for its subtree (GET /export/) or name the rest ({rest...})", s)
		case part == "." || part == "..":
			return p, fmt.Errorf("%q: segment %q; write the path as the client sends it after cleaning", s, part)
		case part == "{$}":
			if !last {
				return p, fmt.Errorf("%q: {$} only ends a path, after a slash", s)
			}
			p.segs = append(p.segs, segment{kind: segEnd})
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			multi := strings.HasSuffix(name, "...")
			name = strings.TrimSuffix(name, "...")
			if !validWildcard(name) {
				return p, fmt.Errorf("%q: bad wildcard %q", s, part)
			}
			if multi && !last {
				return p, fmt.Errorf("%q: %s must be the last segment", s, part)
			}
			if names[name] {
				return p, fmt.Errorf("%q: wildcard name %q is used twice", s, name)
			}
			names[name] = true
			if multi {
				p.segs = append(p.segs, segment{kind: segMulti})
			} else {
				p.segs = append(p.segs, segment{kind: segOne})
			}
		case strings.ContainsAny(part, "{}"):
			return p, fmt.Errorf("%q: a wildcard must be a whole segment, got %q", s, part)
		default:
			if fold {
				part = asciiLower(part)
			}
			p.segs = append(p.segs, segment{kind: segLiteral, lit: part})
		}
	}
	return p, nil
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func validWildcard(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// checkConflicts refuses two rules that could both match a request with
// neither more specific than the other, which ServeMux refuses too (a
// test holds the two to the same verdicts): which one wins would be a
// matter of order, and order is too easy to break in an edit.
func checkConflicts(pats []pattern, text []string) error {
	for i := range pats {
		for j := range i {
			if rel := pats[j].compare(&pats[i]); rel == equivalent || rel == overlaps {
				what := "conflicts with"
				if rel == equivalent {
					what = "matches the same requests as"
				}
				return fmt.Errorf("pattern %q %s pattern %q", text[i], what, text[j])
			}
		}
	}
	return nil
}

// relationship is how the request sets of two patterns relate; the rules
// are net/http's (pattern.go), on this package's segments.
type relationship uint8

const (
	equivalent relationship = iota
	moreGeneral
	moreSpecific
	disjoint
	overlaps
)

func (p1 *pattern) compare(p2 *pattern) relationship {
	var mrel relationship
	switch {
	case p1.method == p2.method:
		mrel = equivalent
	case p1.method == "":
		mrel = moreGeneral
	case p2.method == "":
		mrel = moreSpecific
	case p1.method == "GET" && p2.method == "HEAD":
		mrel = moreGeneral
	case p1.method == "HEAD" && p2.method == "GET":
		mrel = moreSpecific
	default:
		return disjoint
	}
	return combine(mrel, p1.comparePaths(p2))
}

func (p1 *pattern) lastMulti() bool {
	return len(p1.segs) > 0 && p1.segs[len(p1.segs)-1].kind == segMulti
}

func (p1 *pattern) comparePaths(p2 *pattern) relationship {
	if len(p1.segs) != len(p2.segs) && !p1.lastMulti() && !p2.lastMulti() {
		return disjoint
	}
	rel := equivalent
	s1, s2 := p1.segs, p2.segs
	for ; len(s1) > 0 && len(s2) > 0; s1, s2 = s1[1:], s2[1:] {
		if rel = combine(rel, compareSegments(s1[0], s2[0])); rel == disjoint {
			return rel
		}
	}
	switch {
	case len(s1) == 0 && len(s2) == 0:
		return rel
	case len(s1) < len(s2) && p1.lastMulti():
		return combine(rel, moreGeneral)
	case len(s2) < len(s1) && p2.lastMulti():
		return combine(rel, moreSpecific)
	}
	return disjoint
}

func compareSegments(a, b segment) relationship {
	switch {
	case a.kind == segMulti && b.kind == segMulti:
		return equivalent
	case a.kind == segMulti:
		return moreGeneral
	case b.kind == segMulti:
		return moreSpecific
	case a.kind == segOne && b.kind == segOne:
		return equivalent
	case a.kind == segOne:
		if b.kind == segEnd { // {x} never matches the trailing slash
			return disjoint
		}
		return moreGeneral
	case b.kind == segOne:
		if a.kind == segEnd {
			return disjoint
		}
		return moreSpecific
	case a.kind == segEnd && b.kind == segEnd:
		return equivalent
	case a.kind == segEnd || b.kind == segEnd:
		return disjoint
	case a.lit == b.lit:
		return equivalent
	}
	return disjoint
}

func combine(r1, r2 relationship) relationship {
	switch r1 {
	case equivalent:
		return r2
	case disjoint:
		return disjoint
	case overlaps:
		if r2 == disjoint {
			return disjoint
		}
		return overlaps
	}
	// r1 is moreGeneral or moreSpecific.
	switch {
	case r2 == equivalent:
		return r1
	case r1 == moreGeneral && r2 == moreSpecific, r1 == moreSpecific && r2 == moreGeneral:
		return overlaps
	}
	return r2
}

// node is one position in a method's route tree.
type node struct {
	lit   map[string]*node
	one   *node // {name}
	end   *node // {$}: the path's trailing slash
	multi int32 // rule whose {name...} or trailing slash starts here; -1
	leaf  int32 // rule whose path ends exactly here; -1
}

func newNode() *node { return &node{multi: -1, leaf: -1} }

func (n *node) add(segs []segment, rule int32) {
	if len(segs) == 0 {
		n.leaf = rule
		return
	}
	s := segs[0]
	switch s.kind {
	case segMulti:
		n.multi = rule
	case segEnd:
		if n.end == nil {
			n.end = newNode()
		}
		n.end.leaf = rule
	case segOne:
		if n.one == nil {
			n.one = newNode()
		}
		n.one.add(segs[1:], rule)
	default:
		if n.lit == nil {
			n.lit = map[string]*node{}
		}
		c := n.lit[s.lit]
		if c == nil {
			c = newNode()
			n.lit[s.lit] = c
		}
		c.add(segs[1:], rule)
	}
}

// match finds the rule for path (the rest after a node: "" or "/..."),
// in ServeMux's order: a literal, then {name}, then a multi wildcard.
// exact is false when a multi wildcard matched a non-empty rest.
func (n *node) match(path []byte) (rule int32, exact bool) {
	if n == nil {
		return -1, false
	}
	if len(path) == 0 {
		return n.leaf, n.leaf >= 0
	}
	if len(path) == 1 { // the trailing slash
		if n.end != nil && n.end.leaf >= 0 {
			return n.end.leaf, true
		}
		return n.multi, n.multi >= 0
	}
	seg, rest := path[1:], path[len(path):]
	if i := indexSlash(seg); i >= 0 {
		seg, rest = path[1:1+i], path[1+i:]
	}
	if c := n.lit[string(seg)]; c != nil {
		if r, ex := c.match(rest); r >= 0 {
			return r, ex
		}
	}
	if n.one != nil {
		if r, ex := n.one.match(rest); r >= 0 {
			return r, ex
		}
	}
	return n.multi, false
}

func indexSlash(b []byte) int {
	for i, c := range b {
		if c == '/' {
			return i
		}
	}
	return -1
}

// routes is the compiled matcher over every rule.
type routes struct {
	byMethod map[string]*node
	any      *node
}

func compileRoutes(pats []pattern) *routes {
	rt := &routes{byMethod: map[string]*node{}, any: newNode()}
	for i, p := range pats {
		n := rt.any
		if p.method != "" {
			n = rt.byMethod[p.method]
			if n == nil {
				n = newNode()
				rt.byMethod[p.method] = n
			}
		}
		n.add(p.segs, int32(i))
	}
	return rt
}

// lookup returns the rule for a request, -1 when none matches. path is
// the request's clean, decoded path. When only a subtree rule or nothing
// matched and path lacks a trailing slash, the rule for path + "/" wins
// if there is one: ServeMux would redirect there, and an upstream may
// well serve "/export" as "/export/", so its rule applies.
func (rt *routes) lookup(method string, path []byte) int32 {
	r, exact := rt.match(method, path)
	if exact || len(path) == 0 || path[len(path)-1] == '/' {
		return r
	}
	if r2 := rt.matchSlash(method, path); r2 >= 0 {
		return r2
	}
	return r
}

func (rt *routes) match(method string, path []byte) (int32, bool) {
	if n := rt.byMethod[method]; n != nil {
		if r, ex := n.match(path); r >= 0 {
			return r, ex
		}
	}
	if method == "HEAD" {
		if n := rt.byMethod["GET"]; n != nil {
			if r, ex := n.match(path); r >= 0 {
				return r, ex
			}
		}
	}
	return rt.any.match(path)
}

// matchSlash is match on path + "/" without building that string: the
// path is copied into a stack buffer when it fits.
func (rt *routes) matchSlash(method string, path []byte) int32 {
	var buf [256]byte
	var p []byte
	if len(path) < len(buf) {
		p = append(buf[:0], path...)
	} else {
		p = make([]byte, 0, len(path)+1)
		p = append(p, path...)
	}
	p = append(p, '/')
	r, _ := rt.match(method, p)
	return r
}

// asciiLower folds ASCII letters only, as the request path is folded:
// Unicode case rules differ by version and locale, bytes do not.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
