package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// A Ticket is what the session cookie carries: a public id (the store key)
// and a secret only the cookie holds. 128 bits of id make collisions
// irrelevant; 256 bits of secret are the session's actual strength
// (ASVS 7.2.3 asks for at least 128).
type Ticket struct {
	ID     string // 32 hex characters
	Secret [32]byte
}

const (
	idBytes      = 16
	ticketPrefix = "v1."
)

// ErrMalformed means a cookie value is not a ticket this gateway issued.
var ErrMalformed = errors.New("session: malformed ticket")

// NewTicket draws a fresh id and secret from the CSPRNG.
func NewTicket() Ticket {
	var raw [idBytes]byte
	var t Ticket
	rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	rand.Read(t.Secret[:])
	t.ID = hex.EncodeToString(raw[:])
	return t
}

// Encode renders the ticket as a cookie value: "v1." + base64url(id||secret).
func (t Ticket) Encode() string { return t.EncodeAs(ticketPrefix) }

// EncodeAs renders the ticket under another prefix: one-time values that
// share the ticket's shape and sealing (OAuth codes, refresh tokens) carry
// their own, so none of them can ever be taken for a session cookie.
func (t Ticket) EncodeAs(prefix string) string {
	var raw [idBytes + 32]byte
	hex.Decode(raw[:idBytes], []byte(t.ID))
	copy(raw[idBytes:], t.Secret[:])
	return prefix + base64.RawURLEncoding.EncodeToString(raw[:])
}

// ParseTicket decodes a cookie value. It accepts only the exact shape
// Encode produces, so a tampered or foreign cookie fails here, before any
// store lookup.
func ParseTicket(v string) (Ticket, error) { return ParseTicketAs(ticketPrefix, v) }

// ParseTicketAs decodes what EncodeAs(prefix) produced, as strictly.
func ParseTicketAs(prefix, v string) (Ticket, error) {
	if len(v) != len(prefix)+(idBytes+32)*4/3 || v[:len(prefix)] != prefix {
		return Ticket{}, ErrMalformed
	}
	var raw [idBytes + 32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(v[len(prefix):]))
	if err != nil || n != len(raw) {
		return Ticket{}, ErrMalformed
	}
	var t Ticket
	t.ID = hex.EncodeToString(raw[:idBytes])
	copy(t.Secret[:], raw[idBytes:])
	return t, nil
}

// aead derives the per-session AES-256-GCM key from the secret. The id is
// the HKDF salt and the GCM additional data, so a sealed blob moved to
// another id does not open.
func (t Ticket) aead() (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, t.Secret[:], []byte(t.ID), "gatehouse session v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext for storage under t.ID.
func (t Ticket) Seal(plaintext []byte) ([]byte, error) {
	a, err := t.aead()
	if err != nil {
		return nil, fmt.Errorf("seal session: %w", err)
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plaintext, []byte(t.ID)), nil
}

// Open decrypts what Seal produced; any tampering, or a secret that is not
// the one the session was sealed with, gives ErrMalformed.
func (t Ticket) Open(sealed []byte) ([]byte, error) {
	a, err := t.aead()
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, ErrMalformed
	}
	pt, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], []byte(t.ID))
	if err != nil {
		return nil, ErrMalformed
	}
	return pt, nil
}
