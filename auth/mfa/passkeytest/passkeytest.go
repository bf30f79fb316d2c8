// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options the gateway sends as a browser and an ES256
// authenticator would, and lets a test lie where an attacker would (the
// origin a phishing page runs on, another relying party id, an old
// counter), so each check the gateway makes can be shown refusing. The
// browser tests use Chromium's own virtual authenticator instead; this is
// for the attacks a real browser never lets a page make.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Key is one credential on a software authenticator.
type Key struct {
	ID     []byte
	User   []byte // the user handle it was made for
	priv   *ecdsa.PrivateKey
	Count  uint32 // the signature counter, advanced before each signature
	rpID   string
	NoUV   bool // answer without user verification
	Backup bool // flags BE and BS (a synced passkey)
}

// Ceremony is where an answer claims to come from: the page's origin and
// the relying party id the authenticator scopes the key to. A browser
// sets both from the page; a test may set them to anything.
type Ceremony struct {
	Origin string
	RPID   string
}

var b64 = base64.RawURLEncoding

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Create answers creation options (the JSON the gateway sends) with a
// new key, as PublicKeyCredential.toJSON writes the answer. An empty
// c.RPID takes the options' own.
func Create(options []byte, c Ceremony) (*Key, []byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, fmt.Errorf("passkeytest: creation options: %w", err)
	}
	rpID := c.RPID
	if rpID == "" {
		rpID = o.PublicKey.RP.ID
	}
	user, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeytest: user id: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	k := &Key{ID: make([]byte, 32), User: user, priv: priv, rpID: rpID}
	_, _ = rand.Read(k.ID)
	clientData := k.clientData("webauthn.create", o.PublicKey.Challenge, c.Origin)
	// COSE_Key, EC2 on P-256 for ES256 (RFC 9053): kty 2, alg -7, crv 1.
	point, err := priv.PublicKey.Bytes() // 0x04 | X | Y
	if err != nil {
		return nil, nil, err
	}
	x, y := point[1:33], point[33:]
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		return nil, nil, err
	}
	attested := make([]byte, 16, 16+2+len(k.ID)+len(cose)) // AAGUID zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.ID)))
	attested = append(append(attested, k.ID...), cose...)
	authData := k.authData(rpID, 0x40, attested) // AT: attested credential data follows
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	answer, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(clientData), "attestationObject": b64.EncodeToString(attObj),
			"transports": []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return k, answer, err
}

// PKCS8 is the key's private half, for loading into a browser's
// virtual authenticator (the DevTools WebAuthn domain's addCredential).
func (k *Key) PKCS8() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k.priv) }

// Get answers request options with an assertion by k. An empty c.RPID
// takes the key's own.
func (k *Key) Get(options []byte, c Ceremony) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: request options: %w", err)
	}
	return k.Sign(o.PublicKey.Challenge, c)
}

// Sign is an assertion over challenge (base64url, as the options carry
// it), with the counter advanced first: set Count to n-1 to sign n.
func (k *Key) Sign(challenge string, c Ceremony) ([]byte, error) {
	rpID := k.rpID
	if c.RPID != "" {
		rpID = c.RPID
	}
	k.Count++
	clientData := k.clientData("webauthn.get", challenge, c.Origin)
	authData := k.authData(rpID, 0, nil)
	h := sha256.Sum256(clientData)
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, sha256Of(append(authData, h[:]...)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(clientData), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.User),
		},
		"clientExtensionResults": map[string]any{},
	})
}

func sha256Of(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func (k *Key) clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// authData is rpID's hash, flags (UP, UV unless NoUV, BE and BS with
// Backup, plus extra) and the counter, then rest.
func (k *Key) authData(rpID string, extra byte, rest []byte) []byte {
	rp := sha256.Sum256([]byte(rpID))
	flags := 0x01 | extra
	if !k.NoUV {
		flags |= 0x04
	}
	if k.Backup {
		flags |= 0x08 | 0x10
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.Count)
	return append(out, rest...)
}
