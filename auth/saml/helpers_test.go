package saml

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// testClock is the one clock a test runs on: the connector's and
// crewjam's (crewsaml.TimeNow), moved forward explicitly, never slept on.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pinClock installs a clock at start as crewjam's global TimeNow and puts
// the old one back when the test ends. Tests that call it must not be
// parallel. Call it before starting servers, so every reader of the
// global starts after the write.
func pinClock(t testing.TB, start time.Time) *testClock {
	t.Helper()
	c := &testClock{now: start}
	old := crewsaml.TimeNow
	crewsaml.TimeNow = c.Now
	t.Cleanup(func() { crewsaml.TimeNow = old })
	return c
}

// newNonces is a real in-memory session store on the test clock.
func newNonces(t testing.TB, c *testClock) *memory.Store {
	t.Helper()
	s := memory.New(c.Now)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseKeyPEM(t *testing.T, b []byte) crypto.Signer {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block in key file")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("parse key: %v", err)
	}
	return k.(crypto.Signer)
}

// wantKind fails unless err is an *Error of kind.
func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, kind) {
		t.Fatalf("got error %v, want an *Error wrapping %v", err, kind)
	}
	t.Logf("refused as expected: %v", err)
}
