package secret

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// testKey returns a deterministic key so failures reproduce.
func testKey(id string, fill byte) Key {
	return Key{ID: id, Bytes: bytes.Repeat([]byte{fill}, KeySize)}
}

func mustRing(t testing.TB, keys ...Key) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys...)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustRing(t, testKey("k1", 1))
	for _, pt := range [][]byte{nil, {}, []byte("JBSWY3DPEHPK3PXP"), bytes.Repeat([]byte{0xff}, 4096)} {
		sealed := k.Seal(pt, []byte("user-1"))
		got, stale, err := k.Open(sealed, []byte("user-1"))
		if err != nil {
			t.Fatalf("Open(len %d): %v", len(pt), err)
		}
		if stale {
			t.Errorf("Open(len %d): stale = true, want false under the active key", len(pt))
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("Open(len %d) = %x, want %x", len(pt), got, pt)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := mustRing(t, testKey("k1", 1))
	a, b := k.Seal([]byte("seed"), nil), k.Seal([]byte("seed"), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal; want fresh nonces")
	}
	if !bytes.HasPrefix(a, []byte{sealVersion, 2, 'k', '1'}) {
		t.Errorf("sealed header = %x, want version 1, id k1", a[:4])
	}
}

func TestOpenRefuses(t *testing.T) {
	k := mustRing(t, testKey("k1", 1))
	other := mustRing(t, testKey("k1", 2)) // same id, different bytes
	sealed := k.Seal([]byte("seed"), []byte("user-1"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	renamed := bytes.Clone(sealed)
	renamed[3] = '2' // "k2": not in the ring
	tests := []struct {
		name   string
		ring   *Keyring
		sealed []byte
		ad     string
	}{
		{"wrong ad (value moved to another user)", k, sealed, "user-2"},
		{"missing ad", k, sealed, ""},
		{"tampered ciphertext", k, flip(len(sealed) - 20), "user-1"},
		{"tampered tag", k, flip(len(sealed) - 1), "user-1"},
		{"tampered nonce", k, flip(5), "user-1"},
		{"tampered version", k, flip(0), "user-1"},
		{"unknown key id", k, renamed, "user-1"},
		{"other ring, same id", other, sealed, "user-1"},
		{"truncated", k, sealed[:len(sealed)-1], "user-1"},
		{"header only", k, sealed[:4], "user-1"},
		{"length byte past end", k, []byte{sealVersion, 200, 'k'}, "user-1"},
		{"empty", k, nil, "user-1"},
		{"one byte", k, []byte{sealVersion}, "user-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := tt.ring.Open(tt.sealed, []byte(tt.ad))
			if !errors.Is(err, ErrUnsealable) {
				t.Errorf("Open: got (%q, %v), want ErrUnsealable", got, err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old := mustRing(t, testKey("k1", 1))
	sealedOld := old.Seal([]byte("seed"), []byte("u"))
	macOld := old.MAC("p", []byte("data"))

	rotated := mustRing(t, testKey("k2", 2), testKey("k1", 1))
	got, stale, err := rotated.Open(sealedOld, []byte("u"))
	if err != nil || !stale || string(got) != "seed" {
		t.Fatalf("Open(old) = (%q, stale %v, %v), want (seed, stale true, nil)", got, stale, err)
	}
	resealed := rotated.Seal(got, []byte("u"))
	if !bytes.HasPrefix(resealed, []byte{sealVersion, 2, 'k', '2'}) {
		t.Errorf("new seal header = %q, want key k2", resealed[:4])
	}
	if _, stale, err := rotated.Open(resealed, []byte("u")); err != nil || stale {
		t.Errorf("Open(resealed) = (stale %v, %v), want (false, nil)", stale, err)
	}
	if !rotated.VerifyMAC("p", []byte("data"), macOld) {
		t.Error("VerifyMAC(old mac) after rotation = false, want true while k1 is in the ring")
	}
	if newMAC := rotated.MAC("p", []byte("data")); !bytes.HasPrefix(newMAC, []byte{2, 'k', '2'}) {
		t.Errorf("MAC prefix = %q, want key k2", newMAC[:3])
	}

	retired := mustRing(t, testKey("k2", 2))
	if _, _, err := retired.Open(sealedOld, []byte("u")); !errors.Is(err, ErrUnsealable) {
		t.Errorf("Open(old) after removing k1: got %v, want ErrUnsealable", err)
	}
	if retired.VerifyMAC("p", []byte("data"), macOld) {
		t.Error("VerifyMAC(old mac) after removing k1 = true, want false")
	}
}

func TestMAC(t *testing.T) {
	k := mustRing(t, testKey("k1", 1))
	mac := k.MAC("remember-device", []byte("payload"))
	tests := []struct {
		name    string
		purpose string
		data    string
		mac     []byte
		want    bool
	}{
		{"valid", "remember-device", "payload", mac, true},
		{"other purpose", "other", "payload", mac, false},
		{"other data", "remember-device", "payload!", mac, false},
		{"flipped tag", "remember-device", "payload", flipLast(mac), false},
		{"truncated", "remember-device", "payload", mac[:len(mac)-1], false},
		{"extended", "remember-device", "payload", append(bytes.Clone(mac), 0), false},
		{"unknown id", "remember-device", "payload", append([]byte{2, 'k', '9'}, mac[3:]...), false},
		{"empty", "remember-device", "payload", nil, false},
		{"id length lies", "remember-device", "payload", append([]byte{250}, mac[1:]...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.VerifyMAC(tt.purpose, []byte(tt.data), tt.mac); got != tt.want {
				t.Errorf("VerifyMAC = %v, want %v", got, tt.want)
			}
		})
	}
	if other := mustRing(t, testKey("k1", 2)); other.VerifyMAC("remember-device", []byte("payload"), mac) {
		t.Error("VerifyMAC with another ring's key of the same id = true, want false")
	}
}

func flipLast(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func TestNewKeyringRefuses(t *testing.T) {
	tests := []struct {
		name string
		keys []Key
		want string
	}{
		{"no keys", nil, "at least one key"},
		{"short key", []Key{{ID: "k1", Bytes: make([]byte, 16)}}, "16 bytes"},
		{"empty id", []Key{testKey("", 1)}, "key id"},
		{"id with space", []Key{testKey("k 1", 1)}, "only letters"},
		{"long id", []Key{testKey(strings.Repeat("k", 65), 1)}, "1 to 64"},
		{"duplicate id", []Key{testKey("k1", 1), testKey("k1", 2)}, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeyring(tt.keys...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewKeyring: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewKeyringCopiesBytes(t *testing.T) {
	key := testKey("k1", 1)
	k := mustRing(t, key)
	sealed := k.Seal([]byte("x"), nil)
	clear(key.Bytes)
	if _, _, err := k.Open(sealed, nil); err != nil {
		t.Errorf("Open after the caller wiped its key slice: %v", err)
	}
}

func TestLogValueHidesKeyMaterial(t *testing.T) {
	key := testKey("k1", 0xAB)
	k := mustRing(t, testKey("k2", 0xCD), key)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("loaded", "keyring", k, "key", key)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %v", k, k, k, key, key)
	for _, leak := range []string{"abab", "ABAB", "q6ur", "zc3N", "171 171", "205 205"} {
		if strings.Contains(out, leak) {
			t.Errorf("output contains key material %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"REDACTED", "k1", "k2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := mustRing(b, testKey("k1", 1))
	sealed := k.Seal(make([]byte, 20), []byte("user-1"))
	for b.Loop() {
		if _, _, err := k.Open(sealed, []byte("user-1")); err != nil {
			b.Fatal(err)
		}
	}
}
