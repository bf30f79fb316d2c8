package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
	"github.com/gatehouse-auth/gatehouse/auth/network/tor"
)

// Check loads every list the configuration names, as New does — the Tor
// exit list from its file, the anonymous-IP database, the deny file —
// and reports every failure, not only the first, each as
// "network.<key>: ...". It keeps nothing. A Tor list from a URL is
// fetched only when client is set (nil: offline), and its failure, which
// New only logs, is reported too: `gatehouse check-config` runs Check,
// and serve runs it offline before New.
func Check(ctx context.Context, cfg Config, client *http.Client) error {
	var errs []error
	if t := cfg.TorExitList; t.File != "" || t.URL != "" && client != nil {
		key := "network.tor_exit_list.file"
		if t.File == "" {
			key = "network.tor_exit_list.url"
		}
		if err := tor.NewLoader(t.source(), client, nil, nil).Load(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	if f := cfg.AnonymousIPDB.File; f != "" {
		db, err := anonip.Open(f, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("network.anonymous_ip_db.file: %w", err))
		} else {
			db.Close()
		}
	}
	if cfg.DenyFile != "" {
		g := &Guard{log: slog.New(slog.DiscardHandler), cfg: cfg}
		if _, err := g.reloadDeny(); err != nil {
			errs = append(errs, fmt.Errorf("network.deny_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// source is the loader's view of the section.
func (t TorExitList) source() tor.Source {
	return tor.Source{File: t.File, URL: t.URL, Refresh: t.Refresh, MaxAge: t.MaxAge}
}
