package i18n

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Where the pages' text comes from: the templates, and the Go files that
// put message ids into PageData (titles, notices, errors).
var (
	templateGlob = "../web/*.html"
	goDirs       = []string{"..", "../web", "../login", "../account"}
	// {{t "id"}}, {{tn "id" n}}, (t "id") in a template.
	templateCall = regexp.MustCompile(`\btn? "([^"]+)"`)
	// A Go string literal shaped like an id of a catalogue section; file
	// names ("login.html") are not ids.
	goID     = regexp.MustCompile(`"((?:lang|layout|common|pwcrypt|status|error|message|notice|login|logout|twofa|enroll|codes|password|forgot|reset|account|apikey|passkey)\.[a-z0-9_]+)"`)
	fileName = regexp.MustCompile(`\.(html|js|css|go)$`)
)

// TestTemplateIDsExist fails when a template asks for an id the English
// catalogue (and so, by TestCataloguesComplete, every other) lacks: the
// page would show the bare id.
func TestTemplateIDsExist(t *testing.T) {
	files, err := filepath.Glob(templateGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates at %s: %v", templateGlob, err)
	}
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateCall.FindAllStringSubmatch(string(b), -1) {
			seen++
			if !Has(m[1]) {
				t.Errorf("%s: {{t %q}} is not in the English catalogue", filepath.Base(f), m[1])
			}
		}
	}
	if seen < 50 {
		t.Errorf("found only %d translated strings in the templates; is the pattern still right?", seen)
	}
}

// TestGoIDsExist is TestTemplateIDsExist for the handlers' messages.
func TestGoIDsExist(t *testing.T) {
	seen := 0
	for _, dir := range goDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range goID.FindAllStringSubmatch(string(b), -1) {
				if fileName.MatchString(m[1]) {
					continue
				}
				seen++
				if !Has(m[1]) {
					t.Errorf("%s: %q is not in the English catalogue", f, m[1])
				}
			}
		}
	}
	if seen < 20 {
		t.Errorf("found only %d message ids in Go files; is the pattern still right?", seen)
	}
}
