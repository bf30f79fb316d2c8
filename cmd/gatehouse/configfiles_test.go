package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// configFilesDir holds the files testdata/config's cases name (an OIDC
// client secret, a SAML IdP certificate, an SP key pair). They are made
// when the test runs — no key material lives in the repository — and
// the folder is git-ignored.
const configFilesDir = "testdata/config/files"

// makeConfigFiles writes fresh test material into configFilesDir.
func makeConfigFiles(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(configFilesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(configFilesDir, name), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("google-secret", []byte(rand.Text()+"\n"), 0o600)
	certFor := func(cn string) ([]byte, []byte) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	}
	idpCert, _ := certFor("adfs.test signing")
	write("adfs-signing.pem", idpCert, 0o644)
	spCert, spKey := certFor("gatehouse sp")
	write("sp.crt", spCert, 0o644)
	write("sp.key", spKey, 0o600)
}
