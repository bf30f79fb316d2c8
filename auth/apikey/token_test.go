package apikey

import (
	"hash/crc32"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGenerateParse(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		id := NewID()
		tok, secret := Generate(id)
		if len(tok) != TokenLen || !strings.HasPrefix(tok, "gk_"+id+"_") || seen[tok] {
			t.Fatalf("token %q", tok)
		}
		seen[tok] = true
		gid, gsecret, err := Parse(tok)
		if err != nil || gid != id || gsecret != secret || !ValidID(gid) {
			t.Fatalf("Parse(%q) = %q %q %v", tok, gid, gsecret, err)
		}
	}
}

// TestParseRefusesTampering: any one changed character, a truncation or
// an extension is refused by the checksum or the shape, without a lookup.
func TestParseRefusesTampering(t *testing.T) {
	tok, _ := Generate(NewID())
	for i := len(Prefix); i < len(tok); i++ {
		if tok[i] == '_' {
			continue
		}
		for _, c := range []byte{'0', 'a', 'Z'} {
			if c == tok[i] {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, _, err := Parse(bad); err == nil {
				t.Fatalf("changed char %d: %q accepted", i, bad)
			}
		}
	}
	for _, bad := range []string{"", tok[:len(tok)-1], tok + "0", "gh_" + tok[3:], strings.Replace(tok, "_", "-", 2), strings.ToUpper(tok)} {
		if _, _, err := Parse(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := Generate("AAAAAAAAAAAA")
	f.Add(tok)
	f.Add("gk_")
	f.Add("gk_AAAAAAAAAAAA_" + strings.Repeat("z", 49))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses is exactly a key: re-assembling it gives s.
		body := Prefix + id + "_" + secret
		if body+checksum(body) != s || !ValidID(id) || len(secret) != secretLen {
			t.Fatalf("Parse(%q) accepted %q %q", s, id, secret)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	tok, _ := Generate(NewID())
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInQuery(t *testing.T) {
	key, _ := Generate(NewID())
	for _, c := range []struct {
		q    string
		want bool
	}{
		{"api_key=" + key, true},
		{"x=1&token=" + key + "&y=2", true},
		{"k=" + strings.ReplaceAll(key, "_", "%5F"), true},
		{"k=prefix" + key + "suffix", true},
		{key + "=1", true},
		{"q=bigk_stuff", false},
		{"q=gk_" + strings.Repeat("x", 80), false},
		{"", false},
	} {
		r := httptest.NewRequest("GET", "/x?"+c.q, nil)
		if got := inQuery(r); got != c.want {
			t.Errorf("inQuery(%q) = %v, want %v", c.q, got, c.want)
		}
	}
}

// TestChecksumIsCRC32: the allocation-free checksum is the library's CRC32.
func TestChecksumIsCRC32(t *testing.T) {
	for _, body := range []string{"", "gk_AAAAAAAAAAAA_x", strings.Repeat("z", 61)} {
		c := crc32.ChecksumIEEE([]byte(body))
		want := make([]byte, checksumLen)
		for i := checksumLen - 1; i >= 0; i-- {
			want[i] = alphabet[c%62]
			c /= 62
		}
		if got := checksum(body); got != string(want) {
			t.Fatalf("%q: %s, want %s", body, got, want)
		}
	}
}
