// Package preflight is the start-up validation `gatehouse check-config`
// and `gatehouse serve` share, so that whatever serve would refuse,
// check-config refuses first. It judges the configuration (decode and
// validation, package configs) and everything the configuration names,
// each by the code that will use it: the key file by auth/secret's
// loader, the TLS pair as the listener loads it, the network guard's
// lists by auth/network, each provider opened as serve opens it, the
// directory's files by sqldir, the Redis password file by session/redis.
//
// It has no side effects: no folder, database or key file is created
// and nothing is stored; what serve would create on its first start is
// said in a note instead. Every problem is reported at once, each with
// its key path and line (configs.Report).
//
// Online (check-config without --offline) it also asks the servers the
// configuration names: Redis and PostgreSQL are pinged, OIDC discovery
// runs, a SAML metadata URL and a Tor exit list URL are fetched. serve
// checks offline: a store that is down at start is no reason to refuse
// (the gateway starts unready and recovers), and it reaches the
// providers itself when it opens them.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/configs"
)

// DefaultTimeout bounds each network check.
const DefaultTimeout = 5 * time.Second

// Options say how far Check goes.
type Options struct {
	// Online asks the servers the configuration names; off, nothing
	// leaves the machine.
	Online bool
	// Timeout bounds each network check; 0 means DefaultTimeout.
	Timeout time.Duration
	// Client makes the HTTP requests of an online check; nil means a
	// client bounded by Timeout.
	Client *http.Client
	// Now is the clock certificates are judged by; nil means time.Now.
	Now func() time.Time
}

// Result is what a check found besides problems.
type Result struct {
	// Config is the configuration as loaded; nil when the file could not
	// be read or is not YAML. It is usable only when Check returned nil.
	Config *configs.Config
	// Valid reports that the configuration itself has no problem (its
	// files or servers still may).
	Valid bool
	// Notes say what serve will create on first start (the key file, the
	// SQLite database and its folder) and which servers answered.
	Notes []string
}

// errOffline is what an offline check's HTTP client answers: whatever
// needs the network is left out, not failed.
var errOffline = errors.New("preflight: offline")

type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) { return nil, errOffline }

// Check loads the configuration at path ("" is the embedded defaults)
// with the GATEHOUSE_* variables of env and judges it and what it names,
// as described in the package doc. The error holds every problem, one a
// line, each with its key path.
func Check(ctx context.Context, path string, env []string, opts Options) (Result, error) {
	cfg, rep, err := configs.Inspect(path, env)
	if err != nil {
		return Result{}, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &checker{cfg: cfg, rep: rep, opts: opts, client: &http.Client{Transport: offline{}}}
	valid := rep.Valid()
	// Nothing is asked over the network on behalf of a configuration
	// that is itself wrong.
	c.online = opts.Online && valid
	if c.online {
		c.client = opts.Client
		if c.client == nil {
			c.client = &http.Client{Timeout: opts.Timeout}
		}
	}
	// The files of every section are judged even when another section
	// has a problem, so that one run says everything; a section that is
	// wrong itself is not opened (its problem is reported already).
	c.tls()
	c.keyFile()
	c.network(ctx)
	c.directory(ctx)
	if valid {
		c.sessionStore(ctx)
		c.providers(ctx)
	}
	return Result{Config: cfg, Valid: valid, Notes: c.notes}, rep.Err()
}

// checker carries one check's state.
type checker struct {
	cfg    *configs.Config
	rep    *configs.Report
	opts   Options
	online bool
	client *http.Client // answers errOffline unless online
	notes  []string
}

func (c *checker) add(err error) {
	if err != nil {
		c.rep.Add(err)
	}
}

func (c *checker) note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

// bounded is ctx limited to one network check.
func (c *checker) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.Timeout)
}
