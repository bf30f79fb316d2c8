package access

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// servemuxRule asks a real ServeMux which of the patterns it routes a
// request to, -1 for none; a redirect to path + "/" counts as the rule
// of that path, as the gateway applies it.
func servemuxRule(t *testing.T, patterns []string, method, path string) int {
	t.Helper()
	mux := http.NewServeMux()
	for i, p := range patterns {
		mux.Handle(p, ruleHandler(i))
	}
	r := httptest.NewRequest(method, path, nil)
	h, pat := mux.Handler(r)
	if rh, ok := h.(ruleHandler); ok {
		return int(rh)
	}
	if pat != "" || strings.HasSuffix(path, "/") {
		// A redirect: ServeMux names the pattern it would have used;
		// find the rule of path + "/".
		if h2, _ := mux.Handler(httptest.NewRequest(method, path+"/", nil)); h2 != nil {
			if rh, ok := h2.(ruleHandler); ok {
				return int(rh)
			}
		}
	}
	return -1
}

type ruleHandler int

// servemuxConflicts registers every pattern on a ServeMux, which panics on
// one that duplicates or conflicts with an earlier one.
func servemuxConflicts(patterns []string) (err error) {
	mux := http.NewServeMux()
	for _, p := range patterns {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("%v", r)
				}
			}()
			mux.Handle(p, http.NotFoundHandler())
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func ourConflicts(t *testing.T, patterns []string) error {
	t.Helper()
	pats := make([]pattern, len(patterns))
	for i, s := range patterns {
		p, err := parsePattern(s, false)
		if err != nil {
			return err
		}
		pats[i] = p
	}
	return checkConflicts(pats, patterns)
}

func (ruleHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

func compileStrings(t *testing.T, patterns []string) *routes {
	t.Helper()
	pats := make([]pattern, len(patterns))
	for i, s := range patterns {
		p, err := parsePattern(s, false)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		pats[i] = p
	}
	return compileRoutes(pats)
}

func TestRoutesMatchLikeServeMux(t *testing.T) {
	patterns := []string{
		"/",
		"GET /export/",
		"POST /api/leads/import",
		"/api/leads/{id}",
		"DELETE /api/leads/{id}",
		"/api/leads/{id}/notes/",
		"/api/leads/{$}",
		"GET /reports/{name...}",
		"/{$}",
		"/static/app.js",
	}
	rt := compileStrings(t, patterns)
	cases := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/x"}, {"GET", "/export"}, {"GET", "/export/"}, {"GET", "/export/all.csv"},
		{"HEAD", "/export/a"}, {"POST", "/export/a"}, {"POST", "/api/leads/import"}, {"GET", "/api/leads/import"},
		{"DELETE", "/api/leads/7"}, {"PUT", "/api/leads/7"}, {"GET", "/api/leads/7/notes"}, {"GET", "/api/leads/7/notes/1"},
		{"GET", "/api/leads/"}, {"GET", "/api/leads"}, {"GET", "/reports"}, {"GET", "/reports/a/b/c"},
		{"POST", "/reports/a"}, {"GET", "/static/app.js"}, {"GET", "/static/app.js/"},
	}
	for _, c := range cases {
		want := servemuxRule(t, patterns, c.method, c.path)
		if got := int(rt.lookup(c.method, []byte(c.path))); got != want {
			t.Errorf("%s %s: rule %d, ServeMux says %d", c.method, c.path, got, want)
		}
	}
}

// TestRoutesPropertyServeMux generates rule sets and requests at random
// and holds the matcher to ServeMux's answer on every one.
func TestRoutesPropertyServeMux(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "leads", "export", "{x}", "{y...}", "{$}"}
	methods := []string{"", "", "GET ", "POST ", "DELETE "}
	pathWords := []string{"a", "b", "leads", "export", "z"}
	sets, requests, conflicting := 0, 0, 0
	for sets < 400 {
		var patterns []string
		seen := map[string]bool{}
		for range 1 + rng.IntN(8) {
			var b strings.Builder
			b.WriteString(methods[rng.IntN(len(methods))])
			n := rng.IntN(4)
			for i := range n {
				w := words[rng.IntN(len(words))]
				if (w == "{y...}" || w == "{$}") && i != n-1 {
					w = "a"
				}
				if w == "{$}" && i == 0 {
					w = "b"
				}
				b.WriteString("/" + w)
			}
			if n == 0 || rng.IntN(3) == 0 && !strings.HasSuffix(b.String(), "}") {
				b.WriteString("/")
			}
			if p := b.String(); !seen[p] {
				seen[p] = true
				patterns = append(patterns, p)
			}
		}
		mine, theirs := ourConflicts(t, patterns), servemuxConflicts(patterns)
		if (mine == nil) != (theirs == nil) {
			t.Fatalf("rules %q: conflict check says %v, ServeMux says %v", patterns, mine, theirs)
		}
		if mine != nil {
			conflicting++
			continue // Validate refuses these; nothing to match
		}
		sets++
		rt := compileStrings(t, patterns)
		for range 20 {
			var b strings.Builder
			for range rng.IntN(4) {
				b.WriteString("/" + pathWords[rng.IntN(len(pathWords))])
			}
			if b.Len() == 0 || rng.IntN(4) == 0 {
				b.WriteString("/")
			}
			method := []string{"GET", "HEAD", "POST", "DELETE", "PUT"}[rng.IntN(5)]
			path := b.String()
			requests++
			want := servemuxRule(t, patterns, method, path)
			if got := int(rt.lookup(method, []byte(path))); got != want {
				t.Fatalf("rules %q\n%s %s: rule %d, ServeMux says %d", patterns, method, path, got, want)
			}
		}
	}
	t.Logf("%d rule sets, %d requests agree with ServeMux; so do %d refused sets", sets, requests, conflicting)
	if conflicting == 0 {
		t.Error("no generated set conflicted: the conflict check went untested")
	}
}

func TestParsePatternRefuses(t *testing.T) {
	for _, p := range []string{
		"", "export", "get /x", "GET export", "GET /export/*", "/a//b", "/a/../b", "/a/{x", "/a/{x...}/b",
		"/a/{$}/b", "/a/b{x}", "/a?b", "/a#b", "/a%2fb", `/a\b`, "/{9x}", "example.com/a", "/a/{}",
	} {
		if _, err := parsePattern(p, true); err == nil {
			t.Errorf("%q parsed; want an error", p)
		}
	}
}

func TestCheckConflictsNamesBoth(t *testing.T) {
	err := ourConflicts(t, []string{"GET /a/{x}", "/a/b"})
	if err == nil || !strings.Contains(err.Error(), "/a/{x}") || !strings.Contains(err.Error(), "/a/b") {
		t.Fatalf("conflict: %v", err)
	}
	if err := ourConflicts(t, []string{"GET /a/{x}", "GET /a/b"}); err != nil {
		t.Fatalf("nested rules refused: %v", err)
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"GET /export/", "POST /api/leads/import", "/api/{id}/notes/{rest...}", "/{$}", "/a/{$}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePattern(s, true)
		if err != nil {
			return
		}
		// Whatever parses must be a pattern ServeMux takes, and the tree
		// built from it must answer without panicking.
		if err := servemuxConflicts([]string{p.canonical()}); err != nil {
			t.Fatalf("%q parsed as %q, which ServeMux refuses: %v", s, p.canonical(), err)
		}
		rt := compileRoutes([]pattern{p})
		rt.lookup("GET", []byte("/a/b"))
	})
}

func ExampleTable_Decide() {
	cfg := Config{Routes: []Route{{Pattern: "GET /export/", Feature: "leads.export"}}}
	set := TemplateSet{Templates: map[string]Template{"sales_user": {Features: []string{"leads.view"}}}}
	tbl, err := Compile(cfg, set)
	if err != nil {
		panic(err)
	}
	g := tbl.GrantsFor("sales", "")
	fmt.Println(tbl.Decide("GET", "/Export/leads.csv", g))
	fmt.Println(tbl.Decide("GET", "/accounts", g))
	// Output:
	// {0 leads.export false}
	// {-1  true}
}
