package assertion

import (
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to Verify, the parser an upstream
// runs on every request's X-Gatehouse-Assertion. Seeds are in
// testdata/fuzz/FuzzVerify.
//
// The key is generated per run, so nothing the fuzzer writes can carry a
// valid signature: every input must be refused with one of the sentinel
// errors, never panic. To reach the claim checks behind the signature,
// each input's payload (its middle part when it has one, else the whole
// input) is also signed for real; that token may verify only when its
// claims hold.
func FuzzVerify(f *testing.F) {
	key := newKey(f)
	keys := map[string]*ecdsa.PublicKey{"kid-1": &key.PublicKey}
	hdr := []byte(`{"alg":"ES256","typ":"JWT","kid":"kid-1"}`)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(token, keys, testIssuer, testNow, leeway)
		if err == nil || c != nil {
			t.Fatalf("Verify(%q) accepted a token it never signed: %+v", token, c)
		}
		if !isSentinel(err) {
			t.Errorf("Verify(%q): got error %v, want a sentinel", token, err)
		}

		payload := []byte(token)
		if p := strings.Split(token, "."); len(p) == 3 {
			if dec, err := b64.DecodeString(p[1]); err == nil {
				payload = dec
			}
		}
		c, err = Verify(signRaw(t, key, hdr, payload), keys, testIssuer, testNow, leeway)
		if err != nil {
			if !isSentinel(err) || errors.Is(err, ErrUnknownKey) {
				t.Errorf("signed payload %q: got error %v, want ErrMalformed, ErrSignature or ErrExpired", payload, err)
			}
			return
		}
		now, lw := testNow.Unix(), int64(leeway/time.Second)
		if c.Issuer != testIssuer || c.Audience != Audience || c.KeyID != "kid-1" || now+lw < c.NotBefore || now-lw >= c.Expiry {
			t.Errorf("signed payload %q: accepted claims %+v outside issuer, audience or window", payload, c)
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrMalformed, ErrSignature, ErrExpired, ErrUnknownKey} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
