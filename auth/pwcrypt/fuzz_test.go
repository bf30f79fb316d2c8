package pwcrypt

import (
	"context"
	"errors"
	"testing"
)

// FuzzOpen feeds the login form's two untrusted fields, the challenge and
// the ciphertext, to Open. A valid pair for this run's key (generated at
// test time) is added as a seed, so mutations reach the decryption and
// the JSON inside; the committed seeds in testdata/fuzz/FuzzOpen are the
// malformed shapes. Whatever arrives, Open must
// not panic and must answer with a password or a *Refused: with no
// outage injected, nothing else.
func FuzzOpen(f *testing.F) {
	fx := newFixture(f)
	fx.withTestKey(f)
	c := fx.challenge(f, fx.ring)
	f.Add(c.Token, encrypt(f, c, "correct horse battery"))
	f.Add("", "")
	f.Fuzz(func(t *testing.T, challenge, ciphertext string) {
		pw, err := fx.ring.Open(context.Background(), challenge, ciphertext)
		var refused *Refused
		switch {
		case err == nil:
			// Only a genuine pair opens; its challenge is spent now.
			if _, again := fx.ring.Open(context.Background(), challenge, ciphertext); !errors.Is(again, ErrReplayed) {
				t.Fatalf("opened twice: second answer %v, want ErrReplayed", again)
			}
		case !errors.As(err, &refused):
			t.Fatalf("Open: %v, want a *Refused", err)
		case pw != "":
			t.Fatal("a refusal returned a password")
		}
	})
}
