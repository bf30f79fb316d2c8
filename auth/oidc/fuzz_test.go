package oidc_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/oidc"
)

// statePlaceholder in a fuzz input is replaced by the state of a freshly
// started login, so the fuzzer also reaches the code past the state
// check: the iss and error handling, the exchange, the token checks.
const statePlaceholder = "STATE"

// issuerPlaceholder is replaced by the provider's issuer, query-escaped,
// whose port changes from run to run.
const issuerPlaceholder = "ISSUER"

// FuzzCallbackQuery feeds arbitrary callback queries to Callback. It must
// never panic and never succeed: without a live state it must fail with
// ErrState, and with one it still lacks a code the provider issued.
// Seeds are in testdata/fuzz/FuzzCallbackQuery.
func FuzzCallbackQuery(f *testing.F) {
	h := corp(f)
	f.Fuzz(func(t *testing.T, raw string) {
		live := strings.Contains(raw, statePlaceholder)
		if live {
			authURL, err := h.c.Start(t.Context(), "/")
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			u, err := url.Parse(authURL)
			if err != nil {
				t.Fatalf("parse auth URL: %v", err)
			}
			raw = strings.ReplaceAll(raw, statePlaceholder, u.Query().Get("state"))
		}
		raw = strings.ReplaceAll(raw, issuerPlaceholder, url.QueryEscape(h.p.Issuer))
		q, _ := url.ParseQuery(raw) // keep what parsed, as net/http does
		res, err := h.c.Callback(t.Context(), q)
		if err == nil {
			t.Fatalf("Callback(%q) succeeded: %+v", raw, res)
		}
		if !live && !errors.Is(err, oidc.ErrState) {
			t.Fatalf("Callback(%q) without a live state: got %v, want ErrState", raw, err)
		}
		h.noLeak(t, err)
	})
}
