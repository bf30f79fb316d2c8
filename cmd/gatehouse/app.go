package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
)

// app is the set of opened stores a command works with.
type app struct {
	cfg   *configs.Config
	log   *slog.Logger
	dir   *sqldir.DB
	audit *audit.Recorder
	// notify queues session ends for the upstream's webhook
	// (upstream_notify); nil when it is off. Every command has one, so an
	// admin command run from the CLI tells the CRM too.
	notify *webhook.Notifier
	store  session.Backend // nil unless opened with sessions
	now    func() time.Time
	out    io.Writer // the terminal: stderr, for things meant for the operator's eyes only
	// terminal reports whether out is an interactive terminal, the only
	// place a generated secret may be shown.
	terminal func() bool
}

// openApp loads the configuration and opens the directory, and the session
// store when withSessions is set. Nothing stays open on error.
func openApp(ctx context.Context, e *env, cfgPath string, withSessions bool, now func() time.Time) (*app, error) {
	cfg, err := configs.Load(cfgPath, e.vars)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	log := newLogger(e.stderr, cfg.Log)
	dir, err := sqldir.Open(ctx, cfg.Directory)
	if err != nil {
		return nil, fmt.Errorf("open directory (%s): %w", cfg.Directory.Driver, err)
	}
	a := &app{cfg: cfg, log: log, dir: dir, audit: audit.New(log, dir), now: now, out: e.stderr, terminal: e.terminal}
	if cfg.UpstreamNotify.Enabled() {
		a.notify = webhook.NewNotifier(dir, dir, log, now)
		a.audit.Observe(a.notify.Observe)
	}
	if withSessions {
		if a.store, err = openStore(ctx, cfg, now, log); err != nil {
			dir.Close()
			return nil, err
		}
	}
	return a, nil
}

// openStore opens the session store. Redis being down is not a reason to
// exit: the gateway starts unready (readyz 503, authenticated requests
// 503) and recovers by itself when Redis answers, as after a run-time
// outage; only a configuration it cannot use is an error.
func openStore(ctx context.Context, cfg *configs.Config, now func() time.Time, log *slog.Logger) (session.Backend, error) {
	if cfg.Session.Store == configs.StoreRedis {
		redis.SetLogger(log)
		st, err := redis.Open(cfg.Session.Redis)
		if err != nil {
			return nil, fmt.Errorf("open session store (redis): %w", err)
		}
		if err := st.Ping(ctx); err != nil {
			log.Warn("session store unreachable at start; serving 503 until it answers", "error", err)
		}
		return st, nil
	}
	return memory.New(now), nil
}

func (a *app) Close() {
	if a.store != nil {
		a.store.Close()
	}
	a.dir.Close()
}

func newLogger(w io.Writer, c configs.Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(c.Level))) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
