package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// directoryRetry is how often a gateway that started without its
// directory tries again.
const directoryRetry = 2 * time.Second

// acceptor accepts on one listener for one http.Server after another: the
// placeholder that answers while the directory is down, then the gateway.
// Each server gets a view whose Close stops only that server, so the
// address is never released between the two (no connection refused, no
// second process able to take the port).
type acceptor struct {
	ln    net.Listener
	conns chan net.Conn
}

func newAcceptor(ln net.Listener) *acceptor {
	a := &acceptor{ln: ln, conns: make(chan net.Conn)}
	go func() {
		defer close(a.conns)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener closed: every view's Accept ends
			}
			a.conns <- c
		}
	}()
	return a
}

// view is a net.Listener over the acceptor for one server.
type view struct {
	a      *acceptor
	closed chan struct{}
	once   sync.Once
}

func (a *acceptor) view() *view { return &view{a: a, closed: make(chan struct{})} }

func (v *view) Accept() (net.Conn, error) {
	select {
	case c, ok := <-v.a.conns:
		if !ok {
			return nil, net.ErrClosed
		}
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	}
}

func (v *view) Close() error   { v.once.Do(func() { close(v.closed) }); return nil }
func (v *view) Addr() net.Addr { return v.a.ln.Addr() }

// unreadyHandler answers while the gateway cannot start its pipeline:
// alive (healthz), not ready (readyz names the component), and every
// other request refused with 503 — never waved through to the upstream.
func unreadyHandler(component string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.gatehouse/healthz", func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /.gatehouse/readyz", func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": map[string]string{component: "unreachable"}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		web.JSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable",
			"message": "The gateway is starting and cannot reach its " + component + " yet; try again shortly."})
	})
	return mux
}

// openWhileUnready serves the placeholder on the acceptor and opens the
// app again every directoryRetry until the directory answers (or ctx
// ends). Only an unreachable directory is waited for: a configuration it
// cannot use is still an error at once.
func openWhileUnready(ctx context.Context, e *env, cfgPath string, cfg *configs.Config, acc *acceptor, first error) (*app, error) {
	log := newLogger(e.stderr, cfg.Log)
	log.Warn("directory unreachable at start; serving 503 (readyz names it) until it answers", "driver", cfg.Directory.Driver, "error", first)
	hs := &http.Server{Handler: unreadyHandler("directory"), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	v := acc.view()
	go serveOn(hs, v, cfg.TLS)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	t := time.NewTicker(directoryRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		a, err := openApp(ctx, e, cfgPath, true, nil)
		switch {
		case err == nil:
			log.Info("directory reachable; starting the gateway")
			return a, nil
		case !errors.Is(err, directory.ErrUnavailable):
			return nil, err
		}
		log.Debug("directory still unreachable", "error", err)
	}
}
