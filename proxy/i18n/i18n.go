// Package i18n holds the message catalogues of the gateway's own pages
// (login, second factor, password reset, account) and picks the language
// of a request. Text is looked up by message id ("login.title"); English
// is the source every other catalogue must match key for key (a test
// enforces it), and counts go through x/text plural rules so "1 device"
// and "2 devices" each read right in every language.
//
// The catalogues are built once, when the package loads, and never change
// afterwards; a Translator is a read-only view of one language.
package i18n

import (
	"fmt"
	"net/http"
	"sort"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Language is one language the pages are offered in.
type Language struct {
	Code string // BCP 47 tag as written in <html lang> and the cookie
	Name string // the language's own name for itself, shown in the switcher
	tag  language.Tag
}

// Languages are the supported languages, English first: it is the
// default and what a request matching nothing gets.
var Languages = []Language{
	{Code: "en", Name: "English", tag: language.English},
	{Code: "es", Name: "Español", tag: language.Spanish},
	{Code: "hi", Name: "हिन्दी", tag: language.Hindi},
}

// counted is a message with a count: its English form for one and for
// any other number, each with one %d.
type counted struct{ One, Other string }

// catalogues maps a language code to its plain messages and counted ones.
var catalogues = map[string]struct {
	text  map[string]string
	count map[string]counted
}{
	"en": {en, enCount},
	"es": {es, esCount},
	"hi": {hi, hiCount},
}

var (
	cat     = build()
	matcher = language.NewMatcher(tags())
	// printers are made once; message.Printer is safe for concurrent use
	// as long as nobody changes its catalogue, and nobody does.
	printers = func() map[string]*message.Printer {
		m := map[string]*message.Printer{}
		for _, l := range Languages {
			m[l.Code] = message.NewPrinter(l.tag, message.Catalog(cat))
		}
		return m
	}()
)

func tags() []language.Tag {
	t := make([]language.Tag, len(Languages))
	for i, l := range Languages {
		t[i] = l.tag
	}
	return t
}

func build() *catalog.Builder {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, l := range Languages {
		c := catalogues[l.Code]
		for id, s := range c.text {
			if err := b.SetString(l.tag, id, s); err != nil {
				panic(fmt.Sprintf("i18n: %s %s: %v", l.Code, id, err))
			}
		}
		for id, n := range c.count {
			m := plural.Selectf(1, "%d", plural.One, n.One, plural.Other, n.Other)
			if err := b.Set(l.tag, id, m); err != nil {
				panic(fmt.Sprintf("i18n: %s %s: %v", l.Code, id, err))
			}
		}
	}
	return b
}

// Has reports whether id is a message of the English catalogue.
func Has(id string) bool {
	_, ok := en[id]
	_, okc := enCount[id]
	return ok || okc
}

// IDs lists the message ids of one language's catalogue, sorted; nil for
// a language that is not supported.
func IDs(code string) []string {
	c, ok := catalogues[code]
	if !ok {
		return nil
	}
	var ids []string
	for id := range c.text {
		ids = append(ids, id)
	}
	for id := range c.count {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Supported returns the language whose code is exactly code, as a
// language cookie must name it; anything else, however close, is not.
func Supported(code string) (Language, bool) {
	for _, l := range Languages {
		if l.Code == code {
			return l, true
		}
	}
	return Language{}, false
}

// maxAcceptLanguage bounds the header parsed; real ones are short.
const maxAcceptLanguage = 512

// Pick chooses a request's language: an explicit choice (choice, the
// language cookie's value) when it names a supported language, else the
// best match for the Accept-Language header, else English.
func Pick(choice, acceptLanguage string) Language {
	if l, ok := Supported(choice); ok {
		return l
	}
	if acceptLanguage == "" || len(acceptLanguage) > maxAcceptLanguage {
		return Languages[0]
	}
	want, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(want) == 0 {
		return Languages[0]
	}
	_, i, conf := matcher.Match(want...)
	if conf == language.No {
		return Languages[0]
	}
	return Languages[i]
}

// Translator gives one language's text.
type Translator struct {
	lang Language
	p    *message.Printer
}

// For returns the translator for l (English for an unknown language).
func For(l Language) Translator {
	if _, ok := Supported(l.Code); !ok {
		l = Languages[0]
	}
	return Translator{lang: l, p: printers[l.Code]}
}

// Default is the English translator, for text that has no request
// (JSON messages stay English).
func Default() Translator { return For(Languages[0]) }

// Lang is the translator's language.
func (t Translator) Lang() Language { return t.lang }

// T returns the message id in t's language, formatted with args (a
// counted message takes the count as its one argument). A string that is
// not a message id is returned as it is: some page text comes from
// elsewhere already worded (a password rule's reason), and printing it
// through a format would mangle a "%" in it.
func (t Translator) T(id string, args ...any) string {
	if !Has(id) {
		return id
	}
	return t.p.Sprintf(id, args...)
}

// Request is the language of r: the cookie named cookie, when it holds a
// supported code, else Accept-Language.
func Request(r *http.Request, cookies ...string) Language {
	choice := ""
	for _, name := range cookies {
		if ck, err := r.Cookie(name); err == nil {
			choice = ck.Value
			break
		}
	}
	return Pick(choice, r.Header.Get("Accept-Language"))
}
