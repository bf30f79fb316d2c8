package i18n

import (
	"regexp"
	"slices"
	"testing"
)

// TestCataloguesComplete fails when a language misses an id English has,
// or has one English does not (a typo, or text no page uses any more).
func TestCataloguesComplete(t *testing.T) {
	want := IDs("en")
	if len(want) == 0 {
		t.Fatal("English catalogue is empty")
	}
	for _, l := range Languages {
		got := IDs(l.Code)
		for _, id := range want {
			if !slices.Contains(got, id) {
				t.Errorf("%s: missing %q", l.Code, id)
			}
		}
		for _, id := range got {
			if !slices.Contains(want, id) {
				t.Errorf("%s: %q is not in the English catalogue", l.Code, id)
			}
		}
	}
}

var verb = regexp.MustCompile(`%[sd]`)

// TestPlaceholdersMatch fails when a translation drops or adds a %s or
// %d, which would print "%!(EXTRA …)" or lose the key id on the page.
func TestPlaceholdersMatch(t *testing.T) {
	for _, l := range Languages {
		c := catalogues[l.Code]
		for id, s := range c.text {
			if got, want := verb.FindAllString(s, -1), verb.FindAllString(en[id], -1); !slices.Equal(got, want) {
				t.Errorf("%s %s: verbs %v, want %v as in English", l.Code, id, got, want)
			}
		}
		for id, n := range c.count {
			for _, s := range []string{n.One, n.Other} {
				if got := verb.FindAllString(s, -1); !slices.Equal(got, []string{"%d"}) {
					t.Errorf("%s %s: %q must have exactly one %%d", l.Code, id, s)
				}
			}
		}
	}
}

func TestPick(t *testing.T) {
	tests := []struct {
		name, cookie, header, want string
	}{
		{"nothing", "", "", "en"},
		{"header es", "", "es-MX,es;q=0.9,en;q=0.5", "es"},
		{"header hi", "", "hi-IN", "hi"},
		{"header by weight", "", "fr;q=1, hi;q=0.5", "hi"},
		{"header unsupported", "", "fr-FR, de", "en"},
		{"header garbage", "", "@@@;q=x", "en"},
		{"cookie beats header", "es", "hi", "es"},
		{"cookie en beats header", "en", "es", "en"},
		{"cookie unsupported", "fr", "hi", "hi"},
		{"cookie region is not a code", "es-MX", "", "en"},
		{"cookie case differs", "ES", "", "en"},
		{"cookie markup", `"><script>`, "es", "es"},
		{"cookie overlong", string(make([]byte, 4096)), "", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pick(tt.cookie, tt.header).Code; got != tt.want {
				t.Errorf("Pick(%q, %q) = %s, want %s", tt.cookie, tt.header, got, tt.want)
			}
		})
	}
}

func TestPlurals(t *testing.T) {
	tests := []struct {
		lang string
		n    int
		want string
	}{
		{"en", 1, "On. 1 recovery code left."},
		{"en", 10, "On. 10 recovery codes left."},
		{"en", 0, "On. 0 recovery codes left."},
		{"es", 1, "Activada. Queda 1 código de recuperación."},
		{"es", 3, "Activada. Quedan 3 códigos de recuperación."},
		{"hi", 0, "चालू। 0 रिकवरी कोड बचा है।"}, // Hindi: 0 and 1 are "one"
		{"hi", 5, "चालू। 5 रिकवरी कोड बचे हैं।"},
	}
	for _, tt := range tests {
		l, _ := Supported(tt.lang)
		if got := For(l).T("account.mfa_on", tt.n); got != tt.want {
			t.Errorf("%s n=%d: got %q, want %q", tt.lang, tt.n, got, tt.want)
		}
	}
}

// TestTextPassesThrough: text that is not an id (a password rule's own
// reason) is shown as it is, a "%" in it untouched.
func TestTextPassesThrough(t *testing.T) {
	l, _ := Supported("es")
	for _, s := range []string{"", "Must contain 50% letters.", "login.no_such_id"} {
		if got := For(l).T(s); got != s {
			t.Errorf("T(%q) = %q, want it unchanged", s, got)
		}
	}
	if got, want := For(l).T("account.key_revoked", "k1"), "Clave de API k1 revocada."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
