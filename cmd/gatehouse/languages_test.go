package main

import (
	"net"
	"testing"
)

// TestBrowserEveryPageInEachLanguage: in Chromium, every gateway page a
// user meets, in English, Spanish and Hindi, is in that language with
// no message id showing, and passes axe-core (languages.mjs).
func TestBrowserEveryPageInEachLanguage(t *testing.T) {
	e := newE2E(t)
	_, port, _ := net.SplitHostPort(e.addr)
	e.base = "http://localhost:" + port // passkeys need a host name
	pw := e.start("policy: {methods: {password: true, passkey: true}, mfa: {mode: required, methods: [totp, webauthn]}}\n")
	e.node("languages.mjs", e.base, e2eUser, pw)
}
