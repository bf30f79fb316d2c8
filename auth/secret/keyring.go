// Package secret holds the keys that protect data at rest (TOTP seeds in
// the directory) and sign small tokens (remember-this-device cookies).
//
// A Keyring is an ordered set of AES-256 keys, each named by a short id;
// the first is active. Seal encrypts under the active key with AES-256-GCM
// and writes the key id into the output, so Open can pick the right key
// later. MAC signs with an HMAC-SHA256 subkey derived (HKDF) from the
// active key and a purpose string, and also names the key it used.
// Encryption and every MAC purpose get their own derived key, so no two
// uses ever share key material.
//
// # Rotation
//
// Add a new key line at the top of the keyring file and restart (or
// reload). New values are sealed and signed under the new key at once; old
// values still open, with Open reporting stale=true, and callers re-seal
// them the next time they use them (a user's TOTP seed at their next
// login). Old remember-device tokens keep verifying until they expire.
// Remove an old key only once nothing sealed under it remains: a value
// sealed under a removed key is lost (the user has to enrol again), and a
// token signed with it stops verifying.
//
// Key material never appears in errors or logs: Keyring and Key implement
// slog.LogValuer and fmt.Stringer and show key ids only.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the length of every key: AES-256.
const KeySize = 32

// sealVersion is the first byte of every sealed value, so the format can
// change later without guessing.
const sealVersion = 1

// maxIDLen keeps the id short enough to fit its one-byte length prefix
// with room to spare.
const maxIDLen = 64

// ErrUnsealable means a sealed value cannot be opened: its key is not in
// the ring, it was altered, it belongs to another owner (different
// associated data), or it is not a sealed value at all. The causes are
// deliberately not told apart.
var ErrUnsealable = errors.New("secret: cannot open sealed value")

// Key is one key as written in the keyring file.
type Key struct {
	ID    string
	Bytes []byte // KeySize bytes
}

// String shows the id only.
func (k Key) String() string { return "secret.Key{" + k.ID + " REDACTED}" }

// GoString keeps %#v from printing the bytes.
func (k Key) GoString() string { return k.String() }

// LogValue shows the id only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("bytes", "REDACTED"))
}

// entry is a key ready to use: the AEAD built once, and the raw bytes kept
// (copied) only to derive MAC subkeys from.
type entry struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// Keyring is an immutable set of keys; safe for concurrent use.
type Keyring struct {
	keys []*entry // keys[0] is active
	byID map[string]*entry
}

// NewKeyring builds a ring from keys; the first is active. It copies the
// key bytes, so the caller may wipe its slices afterwards.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secret: keyring needs at least one key")
	}
	k := &Keyring{byID: make(map[string]*entry, len(keys))}
	for i, key := range keys {
		e, err := newEntry(key)
		if err != nil {
			return nil, fmt.Errorf("secret: key %d: %w", i+1, err)
		}
		if _, dup := k.byID[e.id]; dup {
			return nil, fmt.Errorf("secret: key %d: duplicate id %q", i+1, e.id)
		}
		k.keys = append(k.keys, e)
		k.byID[e.id] = e
	}
	return k, nil
}

func newEntry(key Key) (*entry, error) {
	if err := checkID(key.ID); err != nil {
		return nil, err
	}
	if len(key.Bytes) != KeySize {
		return nil, fmt.Errorf("id %q: key is %d bytes, want %d", key.ID, len(key.Bytes), KeySize)
	}
	raw := append([]byte(nil), key.Bytes...)
	sealKey, err := hkdf.Key(sha256.New, raw, nil, "gatehouse/seal/v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &entry{id: key.ID, raw: raw, aead: aead}, nil
}

// checkID allows ids that survive a text file, a log line and a URL
// unquoted.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("key id must be 1 to %d characters", maxIDLen)
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("key id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

// ActiveID names the key new values are sealed and signed with.
func (k *Keyring) ActiveID() string { return k.keys[0].id }

// IDs lists the key ids, active first.
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, e := range k.keys {
		ids[i] = e.id
	}
	return ids
}

// Seal encrypts plaintext under the active key. ad (associated data) is
// not stored but must be presented again to Open: passing the owner's user
// id stops a sealed seed copied onto another user's row from opening.
//
// Output: version byte | len(id) | id | 12-byte nonce | ciphertext+tag.
// The header is authenticated too. Nonces are random, so one key must not
// seal more than 2^32 values; rotate long before that.
func (k *Keyring) Seal(plaintext, ad []byte) []byte {
	e := k.keys[0]
	header := append([]byte{sealVersion, byte(len(e.id))}, e.id...)
	out := make([]byte, 0, len(header)+len(plaintext)+e.aead.Overhead())
	out = append(out, header...)
	return e.aead.Seal(out, nil, plaintext, joinAD(header, ad))
}

// joinAD authenticates the header with the caller's ad. The header is
// self-delimiting, so header||ad is unambiguous.
func joinAD(header, ad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(ad)), header...), ad...)
}

// Open decrypts a value made by Seal with the same ad. stale reports that
// the value was sealed under a key that is no longer active: the caller
// should Seal it again and store the result.
func (k *Keyring) Open(sealed, ad []byte) (plaintext []byte, stale bool, err error) {
	if len(sealed) < 2 || sealed[0] != sealVersion {
		return nil, false, ErrUnsealable
	}
	n := int(sealed[1])
	if len(sealed) < 2+n {
		return nil, false, ErrUnsealable
	}
	e, ok := k.byID[string(sealed[2:2+n])]
	if !ok {
		return nil, false, ErrUnsealable
	}
	plaintext, err = e.aead.Open(nil, nil, sealed[2+n:], joinAD(sealed[:2+n], ad))
	if err != nil {
		return nil, false, ErrUnsealable
	}
	return plaintext, e != k.keys[0], nil
}

// MAC signs data with a subkey derived from the active key and purpose
// (so a MAC made for one purpose never verifies for another). Output:
// len(id) | id | 32-byte HMAC-SHA256.
func (k *Keyring) MAC(purpose string, data []byte) []byte {
	e := k.keys[0]
	out := make([]byte, 0, 1+len(e.id)+sha256.Size)
	out = append(out, byte(len(e.id)))
	out = append(out, e.id...)
	return append(out, e.mac(purpose, data)...)
}

// VerifyMAC checks a MAC made by MAC with any key still in the ring, in
// constant time.
func (k *Keyring) VerifyMAC(purpose string, data, mac []byte) bool {
	if len(mac) < 1 {
		return false
	}
	n := int(mac[0])
	if len(mac) != 1+n+sha256.Size {
		return false
	}
	e, ok := k.byID[string(mac[1:1+n])]
	if !ok {
		return false
	}
	return hmac.Equal(mac[1+n:], e.mac(purpose, data))
}

func (e *entry) mac(purpose string, data []byte) []byte {
	// hkdf.Key fails only for an impossible output length; 32 is fine.
	sub, err := hkdf.Key(sha256.New, e.raw, nil, "gatehouse/mac/v1/"+purpose, sha256.Size)
	if err != nil {
		panic("secret: hkdf: " + err.Error())
	}
	h := hmac.New(sha256.New, sub)
	h.Write(data)
	return h.Sum(nil)
}

// String shows the key ids only.
func (k *Keyring) String() string {
	return "secret.Keyring{" + strings.Join(k.IDs(), ",") + " REDACTED}"
}

// GoString keeps %#v from printing key bytes.
func (k *Keyring) GoString() string { return k.String() }

// LogValue shows "REDACTED" and the key ids, active first.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("keys", "REDACTED"),
		slog.String("active", k.ActiveID()),
		slog.String("ids", strings.Join(k.IDs(), ",")),
	)
}
