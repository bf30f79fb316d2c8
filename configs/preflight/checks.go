package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
)

// tls loads the pair as the listener does (configs.TLS.Certificate: the
// key under auth/secret's mode rule, then X509KeyPair), naming the file
// at fault (both, when both cannot be read), and refuses a certificate
// outside its validity period: browsers would refuse it.
func (c *checker) tls() {
	t := c.cfg.TLS
	if t.CertFile == "" || t.KeyFile == "" {
		return // both or neither: validation says so
	}
	certPEM, certErr := os.ReadFile(t.CertFile)
	keyPEM, keyErr := secret.ReadPrivateFile(t.KeyFile)
	if certErr != nil {
		c.add(fmt.Errorf("tls.cert_file: %w", certErr))
	}
	if keyErr != nil {
		c.add(fmt.Errorf("tls.key_file: %w", keyErr))
	}
	if certErr != nil || keyErr != nil {
		return
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		c.add(fmt.Errorf("tls.cert_file: %s: %w", t.CertFile, err))
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		c.add(fmt.Errorf("tls.key_file: %s: %w", t.KeyFile, err))
	}
	now := c.opts.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.add(fmt.Errorf("tls.cert_file: %s expired on %s; renew it", t.CertFile, leaf.NotAfter.UTC().Format("2006-01-02 15:04Z")))
	case now.Before(leaf.NotBefore):
		c.add(fmt.Errorf("tls.cert_file: %s is not valid before %s; check the clock or the certificate", t.CertFile, leaf.NotBefore.UTC().Format("2006-01-02 15:04Z")))
	}
}

// firstCertificate is the leaf of a PEM chain, the certificate the
// listener presents.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return nil, errors.New("no PEM certificate in it")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// keyFile loads the key ring as serve does, without the creation serve
// may do: a missing file beside a SQLite directory is a note (serve
// makes it) when it could be made, and a problem otherwise.
func (c *checker) keyFile() {
	path := c.cfg.Secrets.KeyFile
	_, err := secret.LoadKeyring(path, false)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && c.cfg.CreatesKeyFile():
		folder, dbFolder := filepath.Dir(path), filepath.Dir(c.cfg.Directory.DSN)
		if _, statErr := os.Stat(folder); statErr != nil && filepath.Clean(folder) != filepath.Clean(dbFolder) && path != configs.DefaultKeyFile {
			// serve makes the key file, never its folder (auth/secret),
			// except the database's folder, which the directory makes
			// first, and the embedded default's (data/).
			c.add(fmt.Errorf("secrets.key_file: %w", &secret.MissingFolderError{Folder: folder}))
			return
		}
		made, err := creatable(path)
		if err != nil {
			c.add(fmt.Errorf("secrets.key_file: %s does not exist and serve could not create it: %w", path, err))
			return
		}
		c.note("secrets.key_file: %s does not exist; serve creates it on first start (mode 0600)%s", path, made)
	default:
		c.add(fmt.Errorf("secrets.key_file: %w", err))
	}
}

// network loads the guard's lists (auth/network.Check); a Tor list URL is
// fetched only online.
func (c *checker) network(ctx context.Context) {
	if c.cfg.Network.Validate("network") != nil {
		return
	}
	client := c.client
	if !c.online {
		client = nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	c.add(network.Check(ctx, c.cfg.Network, client))
	if client != nil && c.cfg.Network.TorExitList.URL != "" {
		c.note("network.tor_exit_list.url: fetched and parsed")
	}
}

// directory judges the directory's files as sqldir.Open would, pings
// PostgreSQL online, and says whether the SQLite database exists or
// serve would create it.
func (c *checker) directory(ctx context.Context) {
	d := c.cfg.Directory
	if d.Validate("directory") != nil {
		return
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	path, err := sqldir.Check(ctx, d, c.online)
	switch {
	case err != nil:
		c.add(fmt.Errorf("%w%s", err, offlineHint(c.online && d.Driver == "postgres")))
		return
	case d.Driver == "postgres" && c.online:
		c.note("directory: PostgreSQL answers")
	}
	if path == "" {
		return
	}
	made, err := creatable(path)
	switch {
	case err != nil:
		c.add(fmt.Errorf("directory.dsn: %w", err))
	case made != "":
		c.note("directory.dsn: %s does not exist; serve creates it on first start%s", path, made)
	}
}

// offlineHint tells how to leave a network check out.
func offlineHint(network bool) string {
	if network {
		return " (check-config --offline leaves the network out)"
	}
	return ""
}

// sessionStore builds the Redis client as serve does (reading
// password_file) and, online, pings it. serve itself never refuses to
// start for an unreachable store: it starts unready.
func (c *checker) sessionStore(ctx context.Context) {
	if c.cfg.Session.Store != configs.StoreRedis {
		return
	}
	st, err := redis.Open(c.cfg.Session.Redis)
	if err != nil {
		c.add(err)
		return
	}
	defer st.Close()
	if !c.online {
		return
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	addrs := strings.Join(c.cfg.Session.Redis.Addrs, ", ")
	if err := st.Ping(ctx); err != nil {
		c.add(fmt.Errorf("session.redis.addrs: Redis at %s does not answer: %w%s", addrs, err, offlineHint(true)))
		return
	}
	c.note("session.redis: Redis at %s answers", addrs)
}

// fieldFirst is a provider's error that starts with its field
// ("client_secret_file: open ..."), as each method's Open words a file
// it cannot use.
var fieldFirst = regexp.MustCompile(`^[a-z_]+(/[a-z_]+)?: `)

// providers opens each provider as serve does (auth/oidc, auth/saml,
// auth/apilogin read their own files), with transactions kept in memory
// and thrown away. Offline, whatever needs the network (OIDC discovery,
// a SAML metadata URL) is left out; the files are read first.
func (c *checker) providers(ctx context.Context) {
	if len(c.cfg.Providers) == 0 {
		return
	}
	tx := memory.New(c.opts.Now)
	defer tx.Close()
	shared := federation.Env{Transactions: tx, Client: c.client, Now: c.opts.Now}
	for i, p := range c.cfg.Providers {
		err := c.openProvider(ctx, p, shared)
		switch {
		case err == nil:
			if c.online {
				c.note("providers[%d] (%s): opened", i, p.ID)
			}
		case errors.Is(err, errOffline):
		case fieldFirst.MatchString(err.Error()):
			c.add(fmt.Errorf("providers[%d].%w", i, err))
		default:
			c.add(fmt.Errorf("providers[%d]: %w", i, err))
		}
	}
}

func (c *checker) openProvider(ctx context.Context, p configs.Provider, shared federation.Env) error {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	env := p.Env(c.cfg.PublicURLParsed, shared)
	switch m := p.Method.(type) {
	case configs.RedirectMethod:
		_, err := m.Open(ctx, env)
		return err
	case configs.PasswordMethod:
		_, err := m.OpenPassword(ctx, env)
		return err
	}
	return fmt.Errorf("type %q cannot be opened", p.Type)
}
