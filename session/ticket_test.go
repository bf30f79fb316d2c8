package session

import (
	"bytes"
	"strings"
	"testing"
)

func TestTicketRoundTrip(t *testing.T) {
	tk := NewTicket()
	got, err := ParseTicket(tk.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got != tk {
		t.Fatalf("got %+v, want %+v", got, tk)
	}
	if len(tk.ID) != 32 || NewTicket() == tk {
		t.Fatal("tickets are not fresh 128-bit ids")
	}
}

func TestParseTicketRefusesTampering(t *testing.T) {
	good := NewTicket().Encode()
	for name, v := range map[string]string{
		"empty": "", "no prefix": good[3:], "v2": "v2." + good[3:], "short": good[:len(good)-1],
		"long": good + "A", "padding": good[:len(good)-1] + "=", "std alphabet": strings.NewReplacer("-", "+", "_", "/").Replace(good),
		"spaces": " " + good[1:], "unicode": good[:len(good)-2] + "é",
	} {
		if _, err := ParseTicket(v); err != ErrMalformed && !(name == "std alphabet" && v == good) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	tk := NewTicket()
	sealed, err := tk.Seal([]byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(`"x"`)) {
		t.Fatal("sealed data contains the plaintext")
	}
	if pt, err := tk.Open(sealed); err != nil || string(pt) != `{"x":1}` {
		t.Fatalf("Open: %q %v", pt, err)
	}
	other := NewTicket()
	if _, err := other.Open(sealed); err != ErrMalformed {
		t.Errorf("other secret opened the session: %v", err)
	}
	moved := Ticket{ID: other.ID, Secret: tk.Secret}
	if _, err := moved.Open(sealed); err != ErrMalformed {
		t.Errorf("sealed blob opened under another id: %v", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x80
		if _, err := tk.Open(bad); err != ErrMalformed {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	if _, err := tk.Open(sealed[:10]); err != ErrMalformed {
		t.Error("short blob accepted")
	}
}

// FuzzParseTicket is the cookie decoder's fuzz test: no panic, and whatever
// it accepts re-encodes to exactly the input (one encoding per ticket).
func FuzzParseTicket(f *testing.F) {
	f.Add(NewTicket().Encode())
	f.Add("v1.")
	f.Add("v1." + strings.Repeat("A", 64))
	f.Add("v1." + strings.Repeat("_", 64))
	f.Fuzz(func(t *testing.T, v string) {
		tk, err := ParseTicket(v)
		if err != nil {
			return
		}
		if got := tk.Encode(); got != v {
			t.Fatalf("ParseTicket(%q) re-encodes as %q", v, got)
		}
	})
}
