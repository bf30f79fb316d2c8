package saml

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// Type is the providers[] type of a SAML provider.
const Type = "saml"

const (
	// metadataTimeout bounds fetching idp_metadata_url at start.
	metadataTimeout = 15 * time.Second
	// maxMetadataBytes bounds the fetched metadata document.
	maxMetadataBytes = 1 << 20
)

// Section is what a providers[] entry of type saml says beyond the keys
// every provider has (id, type, label, match, jit, group_map): the YAML
// keys below. The configuration decodes an entry's remaining keys into
// it, refusing any other; SetDefaults, Validate and Open are the one
// place these keys are interpreted, so `gatehouse check-config` and
// `gatehouse serve` cannot judge them differently.
type Section struct {
	// IDPMetadataFile is the IdP's metadata, pinned in a file.
	IDPMetadataFile string `yaml:"idp_metadata_file"`
	// IDPMetadataURL is fetched once at start instead; it needs
	// IDPCertFile.
	IDPMetadataURL string `yaml:"idp_metadata_url"`
	// IDPCertFile (PEM) holds the only IdP signing certificates trusted.
	IDPCertFile string `yaml:"idp_cert_file"`
	SPCertFile  string `yaml:"sp_cert_file"`
	SPKeyFile   string `yaml:"sp_key_file"`
	// AllowIDPInitiated accepts responses that answer no request.
	AllowIDPInitiated bool `yaml:"allow_idp_initiated"`
	// AllowSHA1 accepts signatures over SHA-1 (collisions are practical).
	AllowSHA1 bool `yaml:"allow_sha1"`
	// ClockSkew is this provider's leeway on the assertion's times.
	ClockSkew time.Duration `yaml:"clock_skew"`
}

// NewSection returns an empty section, ready to decode into.
func NewSection() *Section { return &Section{} }

// SetDefaults fills what the admin may leave out: the clock skew.
func (s *Section) SetDefaults() {
	if s.ClockSkew == 0 {
		s.ClockSkew = DefaultClockSkew
	}
}

// Validate reports every problem at once as "<key>.<field>: what is wrong;
// the fix", key being the entry's path (providers[0]). It does no I/O:
// the files are read, and the metadata URL fetched, by Open. id and
// publicURL are the provider's; the SAML endpoints built from them are
// always valid once public_url is.
func (s *Section) Validate(key, id string, publicURL *url.URL) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case (s.IDPMetadataFile == "") == (s.IDPMetadataURL == ""):
		add("idp_metadata_file", "set exactly one of idp_metadata_file (pinned metadata) and idp_metadata_url (with idp_cert_file)")
	case s.IDPMetadataURL != "" && s.IDPCertFile == "":
		add("idp_cert_file", "required with idp_metadata_url: metadata fetched over the network is trusted only with a pinned certificate")
	}
	if s.IDPMetadataURL != "" && !secureURL(s.IDPMetadataURL) {
		add("idp_metadata_url", "must be an https:// URL (plain http only on a loopback address, for tests)")
	}
	if s.SPCertFile == "" || s.SPKeyFile == "" {
		add("sp_cert_file", "sp_cert_file and sp_key_file are required for type saml")
	}
	if err := checkClockSkew(s.ClockSkew); err != nil {
		add("clock_skew", "%v", err)
	}
	return errors.Join(errs...)
}

// checkClockSkew is the clock_skew rule, shared with Config.
func checkClockSkew(d time.Duration) error {
	if d < 0 || d > maxClockSkew {
		return fmt.Errorf("must be 0s..%s, got %s", maxClockSkew, d)
	}
	return nil
}

func secureURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return u.Scheme == "http" && (host == "localhost" || ip != nil && ip.IsLoopback())
}

// MetadataPath is the route of the SP metadata, under public_url: give
// the IdP administrator publicURL + MetadataPath(id).
func MetadataPath(id string) string { return "/.gatehouse/saml/" + url.PathEscape(id) + "/metadata" }

// ACSPath is where the IdP posts its response.
func ACSPath(id string) string { return "/.gatehouse/saml/" + url.PathEscape(id) + "/acs" }

// Open reads the metadata (from the file, or fetched once from the URL
// and checked against the pinned certificates), the SP key pair and the
// pinned certificates, and returns the provider as a login: the verified
// assertion's identity mapped to federation.Claims (subject choice,
// AuthnContext read for IdP MFA), the user found by env.Rule, refusals
// worded for the user, and the SP metadata. It validates the section
// first, with the same rules as Validate.
func (s *Section) Open(ctx context.Context, env federation.Env) (auth.RedirectLogin, error) {
	if err := s.Validate("providers["+env.ID+"]", env.ID, env.PublicURL); err != nil {
		return nil, err
	}
	if env.PublicURL == nil {
		return nil, errors.New("saml: no public URL")
	}
	cfg := Config{ID: env.ID, ACSURL: env.PublicURL.JoinPath(ACSPath(env.ID)).String(),
		MetadataURL:       env.PublicURL.JoinPath(MetadataPath(env.ID)).String(),
		AllowIDPInitiated: s.AllowIDPInitiated, AllowSHA1: s.AllowSHA1, ClockSkew: s.ClockSkew}
	// The local files first: when the metadata URL cannot be reached
	// (check-config --offline), they have been judged already.
	var err error
	if s.IDPCertFile != "" {
		if cfg.PinnedCerts, err = readCerts(s.IDPCertFile); err != nil {
			return nil, fmt.Errorf("idp_cert_file: %w", err)
		}
	}
	if cfg.SPCert, cfg.SPKey, err = readKeyPair(s.SPCertFile, s.SPKeyFile); err != nil {
		return nil, err
	}
	if cfg.IDPMetadata, err = s.metadata(ctx, env.Client); err != nil {
		return nil, err
	}
	c, err := New(cfg, env.Transactions, env.Now)
	if err != nil {
		return nil, err
	}
	return federation.NewLogin(&provider{c: c, id: env.ID, label: env.Label}, env), nil
}

// metadata reads the pinned file, or fetches the URL once (its
// certificates are then checked against idp_cert_file by New).
func (s *Section) metadata(ctx context.Context, client *http.Client) ([]byte, error) {
	if s.IDPMetadataFile != "" {
		b, err := os.ReadFile(s.IDPMetadataFile)
		if err != nil {
			return nil, fmt.Errorf("idp_metadata_file: %w", err)
		}
		return b, nil
	}
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.IDPMetadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("idp_metadata_url: %s answered %s", s.IDPMetadataURL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes))
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	return b, nil
}

// readKeyPair loads the SP pair. The key signs requests and decrypts
// assertions, so it is read under the key file's mode rule (auth/secret)
// rather than by tls.LoadX509KeyPair, which reads any file it can.
func readKeyPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := secret.KeyPair(certFile, keyFile, "sp_cert_file", "sp_key_file")
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("sp_cert_file: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("sp_key_file: not a signing key")
	}
	return cert, signer, nil
}

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}
