// Package redis is the shared session backend: sessions, rate-limit
// counters, one-time nonces and watermarks in Redis, so every gateway
// replica sees the same state. One go-redis UniversalClient covers
// standalone, Sentinel and Cluster deployments.
//
// Key layout, all under the configured prefix:
//
//	s:<id>      HASH  d sealed data, u user id, c created, t last seen,
//	                  x expires (unix ms), m meta JSON, i index expiry;
//	                  PEXPIREAT x
//	u:<userID>  HASH  session id → expiry written with it; expires no
//	                  earlier than the user's longest-lived session
//	c:<key>     STRING counter (Incr, Reserve), PEXPIRE window from the
//	                   first increment; its PEXPIRETIME names the window
//	n:<key>     STRING nonce value, SET NX PX ttl
//	w:<key>     STRING watermark, raised only by SetIfGreater, PX ttl
//
// Every Lua script touches exactly one key, and multi-key writes are plain
// pipelines rather than MULTI, so the layout works on Redis Cluster. The
// scripts need Redis 7.0 (PEXPIRETIME).
//
// Errors: a missing key is session.ErrNotFound; everything else wraps
// session.ErrUnavailable, so the gateway fails closed when Redis is down.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/session"
)

var _ session.Backend = (*Store)(nil)

// Store is a Redis session.Backend.
type Store struct {
	c      goredis.UniversalClient
	prefix string
}

// New connects to the deployment cfg describes and checks it answers PING,
// so a wrong address or password fails at startup rather than at the first
// login. Nothing is left open when it returns an error.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.c.Close()
		return nil, err
	}
	return s, nil
}

// Open builds the store without contacting Redis (New also pings). The
// gateway opens it this way, so that it starts while Redis is down —
// unready, answering 503 — and becomes ready by itself when Redis returns,
// as it does after an outage at run time.
func Open(cfg Config) (*Store, error) {
	cfg.SetDefaults()
	if err := cfg.Validate("session.redis"); err != nil {
		return nil, err
	}
	opts, err := universalOptions(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithClient(goredis.NewUniversalClient(opts), cfg.KeyPrefix), nil
}

// NewWithClient wraps an existing client; tests use it to add hooks or
// short timeouts. The Store owns c from then on: Close closes it.
func NewWithClient(c goredis.UniversalClient, prefix string) *Store {
	return &Store{c: c, prefix: prefix}
}

// universalOptions maps cfg onto go-redis, which picks the client shape:
// MasterName → Sentinel failover client, IsClusterMode → cluster client,
// otherwise a single-node client.
func universalOptions(cfg Config) (*goredis.UniversalOptions, error) {
	password := cfg.Password
	if cfg.PasswordFile != "" {
		// The password opens the session store to whoever reads it: the
		// key file's mode rule (auth/secret).
		b, err := secret.ReadPrivateFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("session.redis.password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	o := &goredis.UniversalOptions{
		Addrs:         cfg.Addrs,
		MasterName:    cfg.MasterName,
		IsClusterMode: cfg.Cluster,
		Username:      cfg.Username,
		Password:      password,
		DB:            cfg.DB,
		DialTimeout:   cfg.DialTimeout,
		ReadTimeout:   cfg.ReadTimeout,
		WriteTimeout:  cfg.ReadTimeout,
		PoolSize:      cfg.PoolSize,
		// Request deadlines must bound Redis calls too, or a hung server
		// holds every request for the full socket timeout.
		ContextTimeoutEnabled: true,
		// Fail fast when Redis is down (go-redis defaults add up to
		// seconds per call): one command retry still replaces a pooled
		// connection that a Redis restart or failover broke, and the
		// pool's own probe reconnects within a second once Redis is back.
		MaxRetries:    1,
		DialerRetries: 1,
	}
	if cfg.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// Close closes the client and its connections.
func (s *Store) Close() error {
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("redis close: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return storeErr("ping", s.c.Ping(ctx).Err())
}

// storeErr wraps err so callers can tell an outage (fail closed) from a
// missing record; redis.Nil, the "no such key" reply, becomes ErrNotFound.
func storeErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.Nil):
		return session.ErrNotFound
	}
	return fmt.Errorf("redis %s: %w: %w", op, session.ErrUnavailable, err)
}

func (s *Store) sessionKey(id string) string  { return s.prefix + "s:" + id }
func (s *Store) userKey(userID string) string { return s.prefix + "u:" + userID }
func (s *Store) counterKey(key string) string { return s.prefix + "c:" + key }
func (s *Store) nonceKey(key string) string   { return s.prefix + "n:" + key }
func (s *Store) markKey(key string) string    { return s.prefix + "w:" + key }
func (s *Store) valueKey(key string) string   { return s.prefix + "v:" + key }

// dueKey is the expiry index: a sorted set of session ids scored by
// their Expires (ms) when last indexed. Touches do not update it (the
// scripts touch one key only), so scores are lower bounds the sweeper
// corrects with Reschedule.
func (s *Store) dueKey() string { return s.prefix + "due" }

// slogLogger carries go-redis's own messages (pool dial failures,
// reconnects) into the gateway's structured log instead of plain text on
// stderr, which broke JSON log streams.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// SetLogger routes go-redis's messages (process-wide: the library has one
// logger) into log.
func SetLogger(log *slog.Logger) { goredis.SetLogger(slogLogger{log: log}) }
