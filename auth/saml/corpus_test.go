package saml

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
)

// corpusCase is one entry of testdata/corpus/cases.json (see its README).
type corpusCase struct {
	ID           string   `json:"id"`
	Response     string   `json:"response"`
	Encoding     string   `json:"encoding"`
	IDPMetadata  string   `json:"idp_metadata"`
	SPEntityID   string   `json:"sp_entity_id"`
	ACSURL       string   `json:"acs_url"`
	RequestIDs   []string `json:"request_ids"`
	Now          string   `json:"now"`
	SPKey        string   `json:"sp_key"`
	Expect       string   `json:"expect"`
	ExpectNameID string   `json:"expect_nameid"`
	ForbidNameID string   `json:"forbid_nameid"`
	Note         string   `json:"note"`
}

const corpusDir = "testdata/corpus"

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	var f struct{ Cases []corpusCase }
	if err := json.Unmarshal(readFile(t, filepath.Join(corpusDir, "cases.json")), &f); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("cases.json: no cases")
	}
	return f.Cases
}

// samlResponse is the case's response as the browser would POST it.
func (c corpusCase) samlResponse(t *testing.T) string {
	b := bytes.TrimSpace(readFile(t, filepath.Join(corpusDir, c.Response)))
	if c.Encoding == "xml" {
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

// TestCorpus drives every real-world and attack case through the
// validation core ACS uses (verify, then identity extraction) with the
// case's own IdP metadata, SP, outstanding ids and clock.
func TestCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.ID, func(t *testing.T) {
			res, err := runCase(t, c)
			t.Logf("%s: got %v", c.Note, err)
			checkCase(t, c, res, err)
		})
	}
}

// TestIdPErrorStatus: a real ADFS error response is a refusal whose cause
// the caller can read, to tell the user the IdP said no.
func TestIdPErrorStatus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		if c.ID != "adfs/lightsaml-error-invalidnameidpolicy" {
			continue
		}
		_, err := runCase(t, c)
		var status crewsaml.ErrBadStatus
		if !errors.Is(err, ErrInvalidResponse) || !errors.As(err, &status) || !strings.HasSuffix(status.Status, ":Requester") {
			t.Fatalf("got %v, want ErrInvalidResponse with the IdP's Requester status", err)
		}
		return
	}
	t.Fatal("case adfs/lightsaml-error-invalidnameidpolicy not in the corpus")
}

func runCase(t *testing.T, c corpusCase) (Result, error) {
	now, err := time.Parse(time.RFC3339, c.Now)
	if err != nil {
		t.Fatalf("now: %v", err)
	}
	clock := pinClock(t, now)
	vc := verifierConfig{
		IDPMetadata: readFile(t, filepath.Join(corpusDir, c.IDPMetadata)),
		EntityID:    c.SPEntityID, ACSURL: c.ACSURL, Now: clock.Now, Skew: DefaultClockSkew,
		// The corpus judges XML-DSig handling, much of it signed with
		// SHA-1 by real ADFS; SHA-1 refusal is tested on its own.
		AllowSHA1: true,
	}
	if c.SPKey != "" {
		vc.Key = parseKeyPEM(t, readFile(t, filepath.Join(corpusDir, c.SPKey)))
	}
	v, err := newVerifier(vc)
	if err != nil {
		return Result{}, err // refused at configuration time: fails closed
	}
	a, err := v.verify(c.samlResponse(t), c.RequestIDs)
	if err != nil {
		return Result{}, err
	}
	return resultFrom(a)
}

func checkCase(t *testing.T, c corpusCase, res Result, err error) {
	t.Helper()
	accepted := err == nil
	switch {
	case c.Expect == "accept" && !accepted:
		t.Fatalf("got refusal %v, want accept", err)
	case c.Expect == "reject" && accepted:
		t.Fatalf("got accept (nameid %q), want reject", res.NameID)
	}
	if !accepted {
		return
	}
	if c.ExpectNameID != "" && res.NameID != c.ExpectNameID {
		t.Errorf("got NameID %q, want %q", res.NameID, c.ExpectNameID)
	}
	if f := c.ForbidNameID; f != "" && (res.NameID == f || res.UPN == f || res.Email == f) {
		t.Errorf("got identity %+v, which holds forbidden %q", res, f)
	}
}
