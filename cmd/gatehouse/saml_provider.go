package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/saml"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session"
)

// mfaContexts are AuthnContextClassRef values that say the IdP used more
// than a password (ADFS's multipleauthn, and the SAML 2.0 classes).
var mfaContexts = []string{
	"http://schemas.microsoft.com/claims/multipleauthn",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
}

func openSAML(ctx context.Context, a *app, p configs.Provider, tx session.Nonces) (*federatedLogin, error) {
	meta, err := idpMetadata(ctx, p)
	if err != nil {
		return nil, err
	}
	var pinned []*x509.Certificate
	if p.IDPCertFile != "" {
		if pinned, err = readCerts(p.IDPCertFile); err != nil {
			return nil, fmt.Errorf("idp_cert_file: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(p.SPCertFile, p.SPKeyFile)
	if err != nil {
		return nil, fmt.Errorf("sp_cert_file/sp_key_file: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("sp_cert_file: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("sp_key_file: not a signing key")
	}
	base := a.cfg.PublicURLParsed.JoinPath("/.gatehouse/saml", p.ID)
	c, err := saml.New(saml.Config{ID: p.ID, ACSURL: base.JoinPath("acs").String(), MetadataURL: base.JoinPath("metadata").String(),
		IDPMetadata: meta, PinnedCerts: pinned, SPCert: cert, SPKey: signer, AllowIDPInitiated: p.AllowIDPInitiated, AllowSHA1: p.AllowSHA1, ClockSkew: p.ClockSkew}, tx, a.now)
	if err != nil {
		return nil, err
	}
	return &federatedLogin{cfg: p, proto: "saml", dir: a.dir, meta: c.Metadata,
		start: c.StartWithBinding,
		finish: func(r *http.Request, binding string) (federation.Claims, string, error) {
			res, err := c.ACSWithBinding(r, binding)
			if err != nil {
				return federation.Claims{}, "", samlRefusal(p, err)
			}
			subject := res.NameID
			if res.NameIDFormat == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient" || subject == "" {
				subject = res.UPN // transient NameIDs change per login: never a stable key
			}
			if subject == "" {
				subject = res.Email
			}
			return federation.Claims{Provider: p.ID, Method: auth.MethodSAML, Subject: subject, Email: res.Email,
				EmailVerified: res.Email != "", UPN: res.UPN, Name: res.Name, Groups: res.Groups,
				MFA: slices.Contains(mfaContexts, res.AuthnContext)}, res.Redirect, nil
		},
	}, nil
}

// samlRefusal turns a refused response into one page for every kind (the
// audit log has the kind); anything else is internal (503).
func samlRefusal(p configs.Provider, err error) error {
	var se *saml.Error
	if !errors.As(err, &se) {
		return err
	}
	reason := "invalid_response"
	for _, k := range []struct {
		err    error
		reason string
	}{{saml.ErrUnsolicited, "unsolicited"}, {saml.ErrReplay, "replay"}, {saml.ErrAudience, "audience"}, {saml.ErrNoIdentity, "no_identity"}} {
		if errors.Is(err, k.err) {
			reason = k.reason
		}
	}
	msg := fmt.Sprintf("The sign-in response from %s could not be accepted. Please start again from the login page.", p.Label)
	var bad crewsaml.ErrBadStatus
	if errors.As(err, &bad) {
		msg, reason = fmt.Sprintf("%s did not complete the sign-in.", p.Label), "idp_status"
	}
	return &auth.Refusal{Status: http.StatusUnauthorized, Code: "federated_" + reason, Message: msg,
		Err: &auth.Failure{Method: auth.MethodSAML, Reason: reason, Err: fmt.Errorf("%w: %w", auth.ErrInvalidCredentials, err)}}
}

// idpMetadata reads the pinned file, or fetches the URL once at start (its
// certificates are then checked against idp_cert_file by saml.New).
func idpMetadata(ctx context.Context, p configs.Provider) ([]byte, error) {
	if p.IDPMetadataFile != "" {
		b, err := os.ReadFile(p.IDPMetadataFile)
		if err != nil {
			return nil, fmt.Errorf("idp_metadata_file: %w", err)
		}
		return b, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.IDPMetadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("idp_metadata_url: %s answered %s", p.IDPMetadataURL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	return b, nil
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
