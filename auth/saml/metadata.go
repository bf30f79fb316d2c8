package saml

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"

	crewsaml "github.com/crewjam/saml"
)

// parseIDPMetadata reads the pinned IdP metadata and fails closed: it must
// describe an IdP and carry at least one signing certificate, and every
// certificate crewjam would trust must parse now rather than at the first
// login. (crewjam trusts KeyDescriptors with use="signing" or no use.)
func parseIDPMetadata(b []byte) (*crewsaml.EntityDescriptor, error) {
	if len(b) == 0 {
		return nil, errors.New("idp metadata: empty")
	}
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(b, &ed); err != nil {
		return nil, fmt.Errorf("idp metadata: want one EntityDescriptor: %w", err)
	}
	if ed.EntityID == "" {
		return nil, errors.New("idp metadata: entityID is empty")
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, errors.New("idp metadata: no IDPSSODescriptor")
	}
	if _, err := signingCerts(&ed); err != nil {
		return nil, fmt.Errorf("idp metadata: %w", err)
	}
	return &ed, nil
}

// signingCerts mirrors the set crewjam verifies against.
func signingCerts(ed *crewsaml.EntityDescriptor) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, d := range ed.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				cert, err := parseCertData(c.Data)
				if err != nil {
					return nil, err
				}
				certs = append(certs, cert)
			}
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no signing certificate in the IDPSSODescriptor")
	}
	return certs, nil
}

func parseCertData(data string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	return cert, nil
}

// Metadata returns the SP metadata to load into the IdP (an ADFS relying
// party trust): entity id, the POST-binding ACS, and the SP certificate as
// the signing key. crewjam also advertises an Artifact-binding ACS and the
// same certificate for encryption; both are dropped. Artifact resolution
// would make the gateway call out to the IdP on a browser's say-so, and
// XML encryption on offer is AES-CBC, so assertions are asked for signed
// over TLS instead. (An IdP that encrypts anyway to our certificate is
// still understood.)
func (c *Connector) Metadata() ([]byte, error) {
	ed := c.v.sp.Metadata()
	for i := range ed.SPSSODescriptors {
		d := &ed.SPSSODescriptors[i]
		d.KeyDescriptors = keep(d.KeyDescriptors, func(k crewsaml.KeyDescriptor) bool { return k.Use == "signing" })
		d.AssertionConsumerServices = keep(d.AssertionConsumerServices, func(e crewsaml.IndexedEndpoint) bool {
			return e.Binding == crewsaml.HTTPPostBinding
		})
	}
	b, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml %s: marshal metadata: %w", c.id, err)
	}
	return append([]byte(xml.Header), b...), nil
}

func keep[T any](in []T, ok func(T) bool) []T {
	var out []T
	for _, v := range in {
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}

// checkPinned refuses metadata whose signing certificates are not all
// among the pinned ones (nothing pinned: nothing to check).
func checkPinned(ed *crewsaml.EntityDescriptor, pinned []*x509.Certificate) error {
	if len(pinned) == 0 {
		return nil
	}
	certs, err := signingCerts(ed)
	if err != nil {
		return err
	}
	for _, c := range certs {
		if !slices.ContainsFunc(pinned, c.Equal) {
			return fmt.Errorf("idp metadata: signing certificate %q (serial %s) is not one of the pinned certificates (idp_cert_file)", c.Subject, c.SerialNumber)
		}
	}
	return nil
}
