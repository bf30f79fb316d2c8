package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com/).
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// NewID returns a fresh event id: "evt_" and 128 random bits.
func NewID() string { return "evt_" + rand.Text() }

// Signature is the webhook-signature value of one delivery: for each key,
// "v1," and the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>",
// space-separated, the current key first.
func Signature(keys [][]byte, id string, ts time.Time, body []byte) string {
	content := make([]byte, 0, len(id)+len(body)+24)
	content = append(content, id...)
	content = append(content, '.')
	content = strconv.AppendInt(content, ts.Unix(), 10)
	content = append(content, '.')
	content = append(content, body...)
	sigs := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write(content)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// Sign sets the three Standard Webhooks headers on a delivery made at
// ts (the CRM's events, and auth/sms's texts).
func Sign(h http.Header, keys [][]byte, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Signature(keys, id, ts, body))
}
