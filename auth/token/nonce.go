package token

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// noncePeriod is how long one server nonce is handed out; a proof with
// the previous period's nonce is still accepted, so a nonce lives between
// one and two periods.
const noncePeriod = 5 * time.Minute

// nonces are DPoP-Nonce values (RFC 9449 §8) derived from the key ring
// and the clock, so every replica hands out and accepts the same ones
// without sharing state.
type nonces struct {
	keys Keys
	now  func() time.Time

	mu     sync.Mutex
	period int64
	cur    string
	prev   string
}

func (n *nonces) derive(period int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(period))
	mac := n.keys.MAC("dpop-nonce", b[:])
	return base64.RawURLEncoding.EncodeToString(mac[len(mac)-24:])
}

// current returns this period's nonce and the previous one.
func (n *nonces) current() (cur, prev string) {
	p := n.now().Unix() / int64(noncePeriod/time.Second)
	n.mu.Lock()
	defer n.mu.Unlock()
	if p != n.period || n.cur == "" {
		n.period, n.cur, n.prev = p, n.derive(p), n.derive(p-1)
	}
	return n.cur, n.prev
}

// checkNonce is the proof verifier's nonce check: when the policy asks
// for nonces, a proof must carry the current or the previous one.
func (s *Service) checkNonce(got string) (string, bool) {
	cur := s.o.Policies.Policy()
	if cur == nil || !cur.Policy.Mobile.DPoPNonce {
		return "", true
	}
	c, p := s.nonces.current()
	ok := got != "" && (subtle.ConstantTimeCompare([]byte(got), []byte(c)) == 1 || subtle.ConstantTimeCompare([]byte(got), []byte(p)) == 1)
	return c, ok
}

// Nonce is the nonce to offer in a response (DPoP-Nonce), "" when the
// policy does not use them.
func (s *Service) Nonce() string {
	cur := s.o.Policies.Policy()
	if cur == nil || !cur.Policy.Mobile.DPoPNonce {
		return ""
	}
	c, _ := s.nonces.current()
	return c
}
