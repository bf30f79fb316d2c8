package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// certFiles writes a self-signed certificate valid from notBefore to
// notAfter and its key, generated now, into dir.
func certFiles(t *testing.T, dir, name string, notBefore, notAfter time.Time) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{"crm.example.com"}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeMode(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	writeMode(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), 0o600)
	return certPath, keyPath
}

// validCert is a certificate good for a day either side of now.
func validCert(t *testing.T, dir, name string) (string, string) {
	return certFiles(t, dir, name, time.Now().Add(-24*time.Hour), time.Now().Add(24*time.Hour))
}

func writeMode(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// keyRing is an at-rest key file's content, as an operator makes it.
func keyRing() string {
	k := make([]byte, 32)
	rand.Read(k)
	return "k1 " + base64.StdEncoding.EncodeToString(k) + "\n"
}

// webhookSecret is an upstream_notify secret file's content.
func webhookSecret() string {
	k := make([]byte, 32)
	rand.Read(k)
	return "whsec_" + base64.StdEncoding.EncodeToString(k) + "\n"
}

// preflightConfig writes a configuration of the sections given, over a
// base that passes (SQLite under dir/data, the memory store, a key file
// of its own), and returns its path. A section given replaces the
// base's.
func preflightConfig(t *testing.T, dir string, sections map[string]string) string {
	t.Helper()
	all := map[string]string{
		"listen":     "127.0.0.1:0",
		"public_url": "https://crm.example.com",
		"shutdown":   "{drain_delay: 0s}",
		"directory":  "{driver: sqlite, dsn: " + filepath.Join(dir, "data", "gh.db") + "}",
		"secrets":    "{key_file: " + writeMode(t, filepath.Join(dir, "gatehouse.keys"), keyRing(), 0o600) + "}",
	}
	for k, v := range sections {
		all[k] = v
	}
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range all {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s: %s\n", k, all[k])
	}
	return writeMode(t, filepath.Join(dir, "gatehouse.yaml"), b.String(), 0o600)
}

// serveOnce runs `gatehouse serve` on cfg as main does and returns its
// exit status and log once it ends; one that starts is stopped after
// wait.
func serveOnce(t *testing.T, cfg string, wait time.Duration) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	stderr := &syncBuffer{}
	code := run(ctx, []string{"serve", "--config", cfg}, strings.NewReader(""), io.Discard, stderr, nil)
	return code, stderr.String()
}

// fileCase is a configuration one of whose files is wrong in one way.
type fileCase struct {
	name string
	// sections are the configuration's sections that name the file,
	// written under dir, a folder of the case's own.
	sections func(t *testing.T, dir string) map[string]string
	// want is what both commands must say: the key, and what is wrong.
	want []string
	root bool // the case means nothing to root, who reads any file
}

func fileCases() []fileCase {
	dirAsFile := func(t *testing.T, dir, name string) string { // a file no one can read as one
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tlsPair := func(cert, key string) map[string]string {
		return map[string]string{"tls": "{cert_file: " + cert + ", key_file: " + key + "}"}
	}
	oidc := func(secretFile string) map[string]string {
		return map[string]string{"providers": "[{id: corp, type: oidc, issuer: 'https://login.corp.example', client_id: gatehouse, client_secret_file: " + secretFile + "}]"}
	}
	const idpURL = "https://adfs.corp.example/FederationMetadata/2007-06/FederationMetadata.xml"
	return []fileCase{
		{name: "tls cert_file missing", sections: func(t *testing.T, dir string) map[string]string {
			_, key := validCert(t, dir, "tls")
			return tlsPair(filepath.Join(dir, "none.crt"), key)
		}, want: []string{"tls.cert_file: open ", "no such file"}},
		{name: "tls key_file missing", sections: func(t *testing.T, dir string) map[string]string {
			cert, _ := validCert(t, dir, "tls")
			return tlsPair(cert, filepath.Join(dir, "none.key"))
		}, want: []string{"tls.key_file: open ", "no such file"}},
		{name: "tls cert_file unreadable", sections: func(t *testing.T, dir string) map[string]string {
			_, key := validCert(t, dir, "tls")
			return tlsPair(dirAsFile(t, dir, "folder.crt"), key)
		}, want: []string{"tls.cert_file: read ", "is a directory"}},
		{name: "tls key_file does not match cert_file", sections: func(t *testing.T, dir string) map[string]string {
			cert, _ := validCert(t, dir, "one")
			_, key := validCert(t, dir, "other")
			return tlsPair(cert, key)
		}, want: []string{"tls.key_file: ", "private key does not match public key"}},
		{name: "tls cert_file expired", sections: func(t *testing.T, dir string) map[string]string {
			return tlsPair(certFiles(t, dir, "old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)))
		}, want: []string{"tls.cert_file: ", "expired on"}},
		{name: "tls cert_file not PEM", sections: func(t *testing.T, dir string) map[string]string {
			_, key := validCert(t, dir, "tls")
			return tlsPair(writeMode(t, filepath.Join(dir, "junk.crt"), "not a certificate\n", 0o644), key)
		}, want: []string{"tls.cert_file: ", "no PEM certificate"}},
		{name: "key_file group-readable", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"secrets": "{key_file: " + writeMode(t, filepath.Join(dir, "k"), keyRing(), 0o640) + "}"}
		}, want: []string{"secrets.key_file: ", "mode 0640", "chmod 600"}},
		{name: "key_file unreadable", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"secrets": "{key_file: " + dirAsFile(t, dir, "keys") + "}"}
		}, want: []string{"secrets.key_file: ", "not a regular file"}},
		{name: "key_file mode 000", root: true, sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"secrets": "{key_file: " + writeMode(t, filepath.Join(dir, "k"), keyRing(), 0) + "}"}
		}, want: []string{"secrets.key_file: ", "permission denied"}},
		{name: "key_file wrong", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"secrets": "{key_file: " + writeMode(t, filepath.Join(dir, "k"), "k1 not-base64\n", 0o600) + "}"}
		}, want: []string{"secrets.key_file: ", "line 1", "not valid standard base64"}},
		{name: "key_file in a folder that does not exist", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"secrets": "{key_file: " + filepath.Join(dir, "no-such-folder", "gatehouse.keys") + "}"}
		}, want: []string{"secrets.key_file: ", "does not exist; the gateway creates the key file, never its folders"}},
		{name: "key_file missing beside postgres", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"directory": "{driver: postgres, dsn: 'postgres://gatehouse@127.0.0.1:1/gatehouse'}",
				"secrets": "{key_file: " + filepath.Join(dir, "none.keys") + "}"}
		}, want: []string{"secrets.key_file: ", "no such file"}},
		{name: "key_file cannot be created", sections: func(t *testing.T, dir string) map[string]string {
			file := writeMode(t, filepath.Join(dir, "file"), "", 0o600)
			return map[string]string{"secrets": "{key_file: " + filepath.Join(file, "gatehouse.keys") + "}"}
		}, want: []string{"secrets.key_file: ", "not a directory"}},
		{name: "deny_file missing", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"network": "{deny_file: " + filepath.Join(dir, "none.txt") + "}"}
		}, want: []string{"network.deny_file: ", "no such file"}},
		{name: "deny_file wrong", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"network": "{deny_file: " + writeMode(t, filepath.Join(dir, "deny.txt"), "10.0.0.0/8\nnot-a-cidr\n", 0o644) + "}"}
		}, want: []string{"network.deny_file: ", "line 2"}},
		{name: "tor_exit_list file missing", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"network": "{tor_exit_list: {file: " + filepath.Join(dir, "none") + "}}"}
		}, want: []string{"network.tor_exit_list.file: ", "no such file"}},
		{name: "tor_exit_list file wrong", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"network": "{tor_exit_list: {file: " + writeMode(t, filepath.Join(dir, "tor"), "198.51.100.7\nnot an address\n", 0o644) + "}}"}
		}, want: []string{"network.tor_exit_list.file: ", "line 2"}},
		{name: "anonymous_ip_db missing", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"network": "{anonymous_ip_db: {file: " + filepath.Join(dir, "none.mmdb") + "}}"}
		}, want: []string{"network.anonymous_ip_db.file: ", "no such file"}},
		{name: "anonymous_ip_db corrupt", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"network": "{anonymous_ip_db: {file: " + writeMode(t, filepath.Join(dir, "x.mmdb"), "not a MaxMind database", 0o644) + "}}"}
		}, want: []string{"network.anonymous_ip_db.file: ", "invalid MaxMind DB"}},
		{name: "upstream_notify secret_file group-readable", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"upstream_notify": "{url: 'http://127.0.0.1:1/hook', secret_file: " + writeMode(t, filepath.Join(dir, "whsec"), webhookSecret(), 0o640) + "}"}
		}, want: []string{"upstream_notify.secret_file: ", "mode 0640"}},
		{name: "upstream_notify secret_file missing", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"upstream_notify": "{url: 'http://127.0.0.1:1/hook', secret_file: " + filepath.Join(dir, "none") + "}"}
		}, want: []string{"upstream_notify.secret_file: ", "no such file"}},
		{name: "access service_token_file group-readable", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"access": "{service_token_file: " + writeMode(t, filepath.Join(dir, "tok"), strings.Repeat("t", 40), 0o640) + "}"}
		}, want: []string{"access.service_token_file: ", "mode 0640", "chmod 600"}},
		{name: "oidc client_secret_file missing", sections: func(t *testing.T, dir string) map[string]string {
			return oidc(filepath.Join(dir, "none"))
		}, want: []string{"providers[0].client_secret_file: ", "no such file"}},
		{name: "saml sp_key_file does not match sp_cert_file", sections: func(t *testing.T, dir string) map[string]string {
			cert, _ := validCert(t, dir, "sp")
			_, key := validCert(t, dir, "other")
			idp, _ := validCert(t, dir, "idp")
			return map[string]string{"providers": fmt.Sprintf("[{id: adfs, type: saml, idp_metadata_url: '%s', idp_cert_file: %s, sp_cert_file: %s, sp_key_file: %s}]", idpURL, idp, cert, key)}
		}, want: []string{"providers[0].sp_cert_file/sp_key_file: ", "private key does not match public key"}},
		{name: "saml idp_cert_file missing", sections: func(t *testing.T, dir string) map[string]string {
			cert, key := validCert(t, dir, "sp")
			return map[string]string{"providers": fmt.Sprintf("[{id: adfs, type: saml, idp_metadata_url: '%s', idp_cert_file: %s, sp_cert_file: %s, sp_key_file: %s}]", idpURL, filepath.Join(dir, "none.pem"), cert, key)}
		}, want: []string{"providers[0].idp_cert_file: ", "no such file"}},
		{name: "api ca_file not PEM", sections: func(t *testing.T, dir string) map[string]string {
			secret := writeMode(t, filepath.Join(dir, "api-secret"), strings.Repeat("s", 40), 0o600)
			ca := writeMode(t, filepath.Join(dir, "ca.pem"), "not a certificate", 0o644)
			return map[string]string{"providers": "[{id: corp-api, type: api, url: 'https://api.corp.example/check', secret_file: " + secret + ", ca_file: " + ca + "}]"}
		}, want: []string{"providers[0].ca_file: ", "no PEM certificate"}},
		{name: "redis password_file missing", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"session": "{store: redis, redis: {addrs: ['127.0.0.1:1'], password_file: " + filepath.Join(dir, "none") + "}}"}
		}, want: []string{"session.redis.password_file: ", "no such file"}},
		{name: "directory dsn_file missing", sections: func(t *testing.T, dir string) map[string]string {
			return map[string]string{"directory": "{driver: postgres, dsn_file: " + filepath.Join(dir, "none") + "}"}
		}, want: []string{"directory.dsn_file: ", "no such file"}},
		{name: "sqlite folder open to others", sections: func(t *testing.T, dir string) map[string]string {
			open := filepath.Join(dir, "open")
			if err := os.Mkdir(open, 0o755); err != nil {
				t.Fatal(err)
			}
			os.Chmod(open, 0o755)
			return map[string]string{"directory": "{driver: sqlite, dsn: " + filepath.Join(open, "gh.db") + "}"}
		}, want: []string{"directory.dsn: ", "open to other users"}},
	}
}

// TestCheckConfigSeesWhatServeSees is the point of the start-up check:
// for every kind of file a configuration names, a file that is missing,
// unreadable, too open or wrong is refused by `gatehouse check-config`
// and by `gatehouse serve` alike, both naming its key, serve before it
// listens, and neither creates anything on the way.
func TestCheckConfigSeesWhatServeSees(t *testing.T) {
	for _, c := range fileCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			dir := t.TempDir()
			cfg := preflightConfig(t, dir, c.sections(t, dir))
			code, out := cli(t, "", "check-config", "--offline", "--config", cfg)
			if code != 1 || strings.Contains(out, "configuration ok") {
				t.Errorf("check-config --offline: exit %d, want 1\n%s", code, out)
			}
			serveCode, serveOut := serveOnce(t, cfg, 20*time.Second)
			if serveCode != 1 {
				t.Errorf("serve: exit %d, want 1\n%s", serveCode, serveOut)
			}
			if strings.Contains(serveOut, "listening") {
				t.Errorf("serve listened before refusing:\n%s", serveOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("check-config does not say %q:\n%s", w, out)
				}
				if !strings.Contains(serveOut, w) {
					t.Errorf("serve does not say %q:\n%s", w, serveOut)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Errorf("the data folder was created")
			}
		})
	}
}

// secretFileCase is a configuration naming one file that holds a secret
// (a key, a password, a token), under key.
type secretFileCase struct {
	key string
	// sections are the configuration's sections naming the secret file,
	// written under dir, and the file's path; every other file they name
	// is good.
	sections func(t *testing.T, dir string) (map[string]string, string)
}

// secretFileCases are every key whose file holds a secret: each is read
// under auth/secret's mode rule (0600, or 0640 when root owns it).
func secretFileCases() []secretFileCase {
	const idpURL = "https://adfs.corp.example/FederationMetadata/2007-06/FederationMetadata.xml"
	apiProvider := func(secretFile, extra string) map[string]string {
		return map[string]string{"providers": "[{id: corp-api, type: api, url: 'https://api.corp.example/check', secret_file: " + secretFile + extra + "}]"}
	}
	return []secretFileCase{
		{"secrets.key_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "k"), keyRing(), 0o600)
			return map[string]string{"secrets": "{key_file: " + p + "}"}, p
		}},
		{"tls.key_file", func(t *testing.T, dir string) (map[string]string, string) {
			cert, key := validCert(t, dir, "tls")
			return map[string]string{"tls": "{cert_file: " + cert + ", key_file: " + key + "}"}, key
		}},
		{"upstream_notify.secret_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "whsec"), webhookSecret(), 0o600)
			return map[string]string{"upstream_notify": "{url: 'http://127.0.0.1:1/hook', secret_file: " + p + "}"}, p
		}},
		{"access.service_token_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "tok"), rand.Text()+rand.Text()+"\n", 0o600)
			return map[string]string{"access": "{service_token_file: " + p + "}"}, p
		}},
		{"providers[0].client_secret_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "oidc-secret"), rand.Text()+"\n", 0o600)
			return map[string]string{"providers": "[{id: corp, type: oidc, issuer: 'https://login.corp.example', client_id: gatehouse, client_secret_file: " + p + "}]"}, p
		}},
		{"providers[0].secret_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "api-secret"), rand.Text()+rand.Text()+"\n", 0o600)
			return apiProvider(p, ""), p
		}},
		{"providers[0].client_key_file", func(t *testing.T, dir string) (map[string]string, string) {
			apiSecret := writeMode(t, filepath.Join(dir, "api-secret"), rand.Text()+rand.Text()+"\n", 0o600)
			cert, key := validCert(t, dir, "client")
			return apiProvider(apiSecret, ", client_cert_file: "+cert+", client_key_file: "+key), key
		}},
		{"providers[0].sp_key_file", func(t *testing.T, dir string) (map[string]string, string) {
			cert, key := validCert(t, dir, "sp")
			idp, _ := validCert(t, dir, "idp")
			return map[string]string{"providers": fmt.Sprintf("[{id: adfs, type: saml, idp_metadata_url: '%s', idp_cert_file: %s, sp_cert_file: %s, sp_key_file: %s}]", idpURL, idp, cert, key)}, key
		}},
		{"directory.dsn_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "dsn"), "postgres://gatehouse:"+rand.Text()+"@127.0.0.1:1/gatehouse\n", 0o600)
			return map[string]string{"directory": "{driver: postgres, dsn_file: " + p + "}"}, p
		}},
		{"session.redis.password_file", func(t *testing.T, dir string) (map[string]string, string) {
			p := writeMode(t, filepath.Join(dir, "redis-password"), rand.Text()+"\n", 0o600)
			return map[string]string{"session": "{store: redis, redis: {addrs: ['127.0.0.1:1'], password_file: " + p + "}}"}, p
		}},
	}
}

// TestSecretFileOthersCanRead: a file holding a secret that every local
// user can read (0644, what a plain `echo secret > file` leaves) is
// refused by check-config and by serve, before it listens, each naming
// the key, the file and the chmod that fixes it; the same file at 0600
// passes. Every secret-bearing key is here, so a new one read with
// os.ReadFile shows up as a missing row. 0644 rather than 0640: the
// tests may run as root, and the rule lets a root-owned file be 0640 for
// a service user in its group.
func TestSecretFileOthersCanRead(t *testing.T) {
	for _, c := range secretFileCases() {
		t.Run(c.key, func(t *testing.T) {
			dir := t.TempDir()
			sections, secretFile := c.sections(t, dir)
			cfg := preflightConfig(t, dir, sections)
			if err := os.Chmod(secretFile, 0o644); err != nil {
				t.Fatal(err)
			}
			want := []string{": " + c.key + ": ", secretFile + " has mode 0644, readable by group or others", "chmod 600 " + secretFile}
			code, out := cli(t, "", "check-config", "--offline", "--config", cfg)
			if code != 1 || strings.Contains(out, "configuration ok") {
				t.Errorf("check-config --offline on a 0644 %s: exit %d, want 1\n%s", c.key, code, out)
			}
			serveCode, serveOut := serveOnce(t, cfg, 20*time.Second)
			if serveCode != 1 || strings.Contains(serveOut, "listening") {
				t.Errorf("serve on a 0644 %s: exit %d, want 1 before listening\n%s", c.key, serveCode, serveOut)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("check-config does not say %q:\n%s", w, out)
				}
				if !strings.Contains(serveOut, w) {
					t.Errorf("serve does not say %q:\n%s", w, serveOut)
				}
			}

			if err := os.Chmod(secretFile, 0o600); err != nil {
				t.Fatal(err)
			}
			if code, out := cli(t, "", "check-config", "--offline", "--config", cfg); code != 0 || !strings.Contains(out, "configuration ok") {
				t.Errorf("check-config --offline on a 0600 %s: exit %d, want ok\n%s", c.key, code, out)
			}
		})
	}
}

// TestCheckConfigReportsEverythingAtOnce: a configuration error, a
// decode error and several file problems come in one run, each with its
// key and line.
func TestCheckConfigReportsEverythingAtOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := preflightConfig(t, dir, map[string]string{
		"listen":  "nowhere",
		"login":   "{lockout_window: soon}",
		"sesion":  "{store: redis}",
		"tls":     "{cert_file: " + filepath.Join(dir, "none.crt") + ", key_file: " + filepath.Join(dir, "none.key") + "}",
		"network": "{deny_file: " + filepath.Join(dir, "none.txt") + "}",
		"secrets": "{key_file: " + writeMode(t, filepath.Join(dir, "k"), keyRing(), 0o644) + "}",
	})
	code, out := cli(t, "", "check-config", "--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{
		`: listen: "nowhere" is not host:port`,
		`: login.lockout_window: want a duration such as 30s, 15m or 12h, got "soon"`,
		": sesion: unknown key; did you mean session?",
		": network.deny_file: stat ",
		": secrets.key_file: ", "mode 0644",
		": tls.cert_file: open ", ": tls.key_file: open ",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(out, "line 4: network.deny_file") {
		t.Errorf("a file's problem is not given the line of its key:\n%s", out)
	}
}

// TestCheckConfigGoodFiles: a configuration naming a good file of every
// kind passes check-config, and serve starts on it.
func TestCheckConfigGoodFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := validCert(t, dir, "tls")
	mmdb, err := filepath.Abs("../../auth/network/anonip/testdata/GeoIP2-Anonymous-IP-Test.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	apiSecret := writeMode(t, filepath.Join(dir, "api-secret"), strings.Repeat("s", 40), 0o600)
	ca, _ := validCert(t, dir, "ca")
	clientCert, clientKey := validCert(t, dir, "client")
	cfg := preflightConfig(t, dir, map[string]string{
		"tls": "{cert_file: " + cert + ", key_file: " + key + "}",
		"network": fmt.Sprintf("{deny_file: %s, tor_exit_list: {file: %s}, anonymous_ip_db: {file: %s}}",
			writeMode(t, filepath.Join(dir, "deny.txt"), "192.0.2.0/24\n", 0o644), writeMode(t, filepath.Join(dir, "tor"), "198.51.100.7\n", 0o644), mmdb),
		"upstream_notify": "{url: 'http://127.0.0.1:1/hook', secret_file: " + writeMode(t, filepath.Join(dir, "whsec"), webhookSecret(), 0o600) + "}",
		"access":          "{service_token_file: " + writeMode(t, filepath.Join(dir, "tok"), strings.Repeat("t", 40), 0o600) + "}",
		"providers": fmt.Sprintf("[{id: corp-api, type: api, url: 'https://api.corp.example/check', secret_file: %s, ca_file: %s, client_cert_file: %s, client_key_file: %s}]",
			apiSecret, ca, clientCert, clientKey),
	})
	if code, out := cli(t, "", "check-config", "--config", cfg); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("check-config: exit %d\n%s", code, out)
	}
	code, out := serveOnce(t, cfg, 5*time.Second)
	if code != 0 || !strings.Contains(out, "gatehouse listening") {
		t.Fatalf("serve on a configuration check-config passed: exit %d\n%s", code, out)
	}
}

// TestCheckConfigCreatesNothing: check-config judges a key file and a
// SQLite database that serve would create, says so, and creates neither
// them nor their folders.
func TestCheckConfigCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "new.keys")
	cfg := preflightConfig(t, dir, map[string]string{"secrets": "{key_file: " + keys + "}"})
	code, out := cli(t, "", "check-config", "--config", cfg)
	if code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, w := range []string{"note: secrets.key_file: " + keys + " does not exist; serve creates it", "note: directory.dsn: "} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "gatehouse.yaml" && e.Name() != "gatehouse.keys" { // the base's own key file, unused here
			t.Errorf("check-config created %s", filepath.Join(dir, e.Name()))
		}
	}
}

// TestCheckConfigOffline: Redis and PostgreSQL on a closed port pass
// check-config --offline; without it both are named as failing.
func TestCheckConfigOffline(t *testing.T) {
	dir := t.TempDir()
	redisAddr, pgPort := fmt.Sprintf("127.0.0.1:%d", freePort(t)), freePort(t)
	cfg := preflightConfig(t, dir, map[string]string{
		"session":   "{store: redis, redis: {addrs: ['" + redisAddr + "'], dial_timeout: 500ms}}",
		"directory": fmt.Sprintf("{driver: postgres, dsn: 'postgres://gatehouse@127.0.0.1:%d/gatehouse?connect_timeout=2'}", pgPort),
	})
	if code, out := cli(t, "", "check-config", "--offline", "--config", cfg); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("--offline: exit %d\n%s", code, out)
	}
	code, out := cli(t, "", "check-config", "--config", cfg)
	if code != 1 || strings.Contains(out, "configuration ok") {
		t.Fatalf("online: exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{"session.redis.addrs: Redis at " + redisAddr + " does not answer", "directory.dsn: PostgreSQL does not answer", "--offline"} {
		if !strings.Contains(out, w) {
			t.Errorf("online output lacks %q:\n%s", w, out)
		}
	}
}

// TestCheckConfigOnline: with a real Redis and PostgreSQL the online
// check passes and says that both answered.
func TestCheckConfigOnline(t *testing.T) {
	redisAddr := storetest.RedisAddr(t)
	dsn := directorytest.PostgresDSN(t)
	dir := t.TempDir()
	cfg := preflightConfig(t, dir, map[string]string{
		"session":   "{store: redis, redis: {addrs: ['" + redisAddr + "']}}",
		"directory": "{driver: postgres, dsn: '" + dsn + "'}",
	})
	code, out := cli(t, "", "check-config", "--config", cfg)
	if code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, w := range []string{"note: session.redis: Redis at " + redisAddr + " answers", "note: directory: PostgreSQL answers"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
