package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// allocated reports the bytes f allocates (all goroutines; only an upper
// bound matters here).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestXMLBomb(t *testing.T) {
	const bound = 32 << 20
	for _, tt := range []struct {
		name string
		doc  func(t *testing.T, genuine string) string
	}{
		{"billion laughs (corpus)", func(t *testing.T, _ string) string {
			return string(readFile(t, filepath.Join(corpusDir, "malicious/rubysaml_attackxee.xml")))
		}},
		{"external entity", func(t *testing.T, _ string) string {
			return `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` +
				`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`
		}},
		{"DOCTYPE before a genuine response", func(t *testing.T, genuine string) string {
			return `<!DOCTYPE samlp:Response>` + genuine
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			doc := tt.doc(t, decode(t, r.response(t, id, samltest.Options{})))
			var err error
			if n := allocated(func() { _, err = r.post(encode(doc), relay) }); n > bound {
				t.Errorf("allocated %d bytes, want under %d", n, bound)
			}
			wantKind(t, err, ErrInvalidResponse)
			if strings.Contains(err.Error(), "root:") {
				t.Fatal("the error quotes a local file")
			}
		})
	}
}

// endless is an unbounded request body; it counts what was read.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	e.n += len(p)
	return len(p), nil
}

func TestOversizedDeflatedRequest(t *testing.T) {
	r := newRig(t)
	t.Run("body beyond the cap is not read to the end", func(t *testing.T) {
		body := &endless{}
		req := httptest.NewRequest(http.MethodPost, r.cfg.ACSURL, io.MultiReader(strings.NewReader("SAMLResponse="), body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := r.c.ACS(req)
		wantKind(t, err, ErrInvalidResponse)
		if body.n > 2*maxFormBytes {
			t.Errorf("read %d bytes of the body, want about %d", body.n, maxFormBytes)
		}
	})
	t.Run("SAMLResponse beyond the cap", func(t *testing.T) {
		relay, _ := r.begin(t)
		_, err := r.post(strings.Repeat("A", maxResponseBytes+4), relay)
		wantKind(t, err, ErrInvalidResponse)
	})
	bomb := deflated(t, 16<<20)
	t.Run("deflate bomb as SAMLResponse is never inflated", func(t *testing.T) {
		relay, _ := r.begin(t)
		var err error
		if n := allocated(func() { _, err = r.post(bomb, relay) }); n > 8<<20 {
			t.Errorf("allocated %d bytes for a %d-byte bomb of 16 MiB, want under 8 MiB", n, len(bomb))
		}
		wantKind(t, err, ErrInvalidResponse)
	})
	t.Run("Redirect-binding response on GET", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, r.cfg.ACSURL+"?SAMLResponse="+url.QueryEscape(bomb), nil)
		_, err := r.c.ACS(req)
		wantKind(t, err, ErrInvalidResponse)
	})
}

// deflated is n bytes of '<' deflated and base64-encoded, as a
// Redirect-binding message would be.
func deflated(t *testing.T, n int) string {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	chunk := bytes.Repeat([]byte("<"), 1<<20)
	for range n / len(chunk) {
		_, _ = w.Write(chunk)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestArtifactBindingRefused(t *testing.T) {
	r := newRig(t)
	relay, _ := r.begin(t)
	form := url.Values{"SAMLart": {"AAQAAMh48/1oXIM+sDo7Dh2qMp1HM4IF5DaRNmDj6RdUmllwn9jJHyEgIi8="}, "RelayState": {relay}}
	req := httptest.NewRequest(http.MethodPost, r.cfg.ACSURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err := r.c.ACS(req)
	wantKind(t, err, ErrInvalidResponse)
}

// TestMalformedAssertionDoesNotPanic: crewjam dereferences these without
// checking; an IdP-signed assertion lacking one must be a refusal.
func TestMalformedAssertionDoesNotPanic(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*crewsaml.Assertion)
	}{
		{"no Subject", func(a *crewsaml.Assertion) { a.Subject = nil }},
		{"no Conditions", func(a *crewsaml.Assertion) { a.Conditions = nil }},
		{"no SubjectConfirmationData", func(a *crewsaml.Assertion) { a.Subject.SubjectConfirmations[0].SubjectConfirmationData = nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			relay, id := r.begin(t)
			_, err := r.post(r.response(t, id, samltest.Options{Edit: tt.edit}), relay)
			wantKind(t, err, ErrInvalidResponse)
		})
	}
}

// flaky wraps the real store and fails on demand, as Redis does when down.
type flaky struct {
	Transactions
	failTake, failPut bool
}

var errDown = errors.New("store down")

func (f *flaky) Take(ctx context.Context, key string) ([]byte, error) {
	if f.failTake {
		return nil, errDown
	}
	return f.Transactions.Take(ctx, key)
}

func (f *flaky) PutOnce(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	if f.failPut {
		return false, errDown
	}
	return f.Transactions.PutOnce(ctx, key, v, ttl)
}

func TestStoreOutageFailsClosed(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failTake bool
	}{{"pending login unreadable", true}, {"replay cache unwritable", false}} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			f := &flaky{Transactions: r.store}
			r.c.tx = f
			relay, id := r.begin(t)
			f.failTake, f.failPut = tt.failTake, !tt.failTake
			res, err := r.post(r.response(t, id, samltest.Options{}), relay)
			var e *Error
			if !errors.Is(err, errDown) || errors.As(err, &e) || res.NameID != "" {
				t.Fatalf("got %+v, %v; want the outage, not a login or a refusal", res, err)
			}
			if _, err := r.c.Start(context.Background(), "/"); !tt.failTake && !errors.Is(err, errDown) {
				t.Errorf("Start with the store down: got %v, want the outage", err)
			}
		})
	}
}

// FuzzACS feeds arbitrary SAMLResponse values to the ACS of a provider
// that allows IdP-initiated login, so every input reaches the verifier.
// It must never panic, and never log anyone in without a signature.
func FuzzACS(f *testing.F) {
	r := newRig(f, func(c *Config) { c.AllowIDPInitiated = true })
	f.Add(r.response(f, "", samltest.Options{}))
	f.Add(r.response(f, "", samltest.Options{Sign: samltest.SignNothing}))
	f.Fuzz(func(t *testing.T, samlResponse string) {
		res, err := r.post(samlResponse, "")
		if err == nil && res.AssertionID == "" {
			t.Fatalf("accepted with no assertion: %+v", res)
		}
		if err == nil && len(samlResponse) > maxResponseBytes {
			t.Fatalf("accepted a %d-byte response", len(samlResponse))
		}
	})
}
