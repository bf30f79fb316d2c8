package secret

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
)

// maxPrivateFile bounds ReadPrivateFile: a secret is a line or two.
const maxPrivateFile = 64 << 10

// ReadPrivateFile reads a small secret file other than the keyring (a
// webhook signing secret, say) under the keyring's rule for who may read
// it: 0600 or stricter and owned by the service's user or root, or 0640 when root owns it and the service runs
// as a member of its group (a Kubernetes Secret with fsGroup). The check
// is made on the open file, so a swap between check and read cannot
// slip past it. Errors name the file, never its content.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if err := modeError(path, fi, os.Geteuid()); err != nil {
		return nil, err
	}
	if fi.Size() > maxPrivateFile {
		return nil, fmt.Errorf("%s is %d bytes, more than a secret should be (%d)", path, fi.Size(), maxPrivateFile)
	}
	return io.ReadAll(io.LimitReader(f, maxPrivateFile))
}

// KeyPair is tls.LoadX509KeyPair with the key read by ReadPrivateFile:
// a TLS, SAML or client key any local user could read is refused. The
// errors name the configuration keys (certKey, keyKey) of the files at
// fault, "certKey/keyKey" when the two do not belong together.
func KeyPair(certFile, keyFile, certKey, keyKey string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certKey, err)
	}
	keyPEM, err := ReadPrivateFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", keyKey, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s/%s: %w", certKey, keyKey, err)
	}
	return pair, nil
}
