package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/auth/apilogin"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/watch"
	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/auth/mfa"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
	"github.com/gatehouse-auth/gatehouse/auth/reset"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"github.com/gatehouse-auth/gatehouse/auth/sms"
	"github.com/gatehouse-auth/gatehouse/auth/token"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/accessapi"
	"github.com/gatehouse-auth/gatehouse/proxy/account"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/proxy/console"
	"github.com/gatehouse-auth/gatehouse/proxy/demo"
	"github.com/gatehouse-auth/gatehouse/proxy/login"
	"github.com/gatehouse-auth/gatehouse/proxy/oauth"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

// Intervals of the background work. The poll interval bounds how long a
// policy change or a disabled user takes to reach every replica.
const (
	pollInterval  = time.Second
	keyReload     = 10 * time.Second
	sweepInterval = 10 * time.Second
	assertionTTL  = 5 * time.Minute
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("serve")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if err := startupCheck(ctx, e, *cfgPath); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *cfgPath, true, nil)
	if err != nil && !errors.Is(err, directory.ErrUnavailable) {
		return err
	}
	if err != nil {
		// The directory is down: start anyway, unready, as a run-time
		// outage is handled, and become the gateway when it answers.
		cfg, cerr := configs.Load(*cfgPath, e.vars)
		if cerr != nil {
			return cerr
		}
		ln, lerr := net.Listen("tcp", cfg.Listen)
		if lerr != nil {
			return fmt.Errorf("listen: %w", lerr)
		}
		defer ln.Close()
		acc := newAcceptor(ln)
		if a, err = openWhileUnready(ctx, e, *cfgPath, cfg, acc, err); err != nil {
			if ctx.Err() != nil {
				return nil // stopped before the directory ever answered
			}
			return err
		}
		defer a.Close()
		srv, err := newServer(ctx, a, ln.Addr().String())
		if err != nil {
			return err
		}
		return srv.serve(ctx, acc.view())
	}
	defer a.Close()
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv, err := newServer(ctx, a, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	return srv.serve(ctx, ln)
}

// server is one running gateway replica: the handler, its background
// work, and the demo upstream when configured.
type server struct {
	a        *app
	gateway  *proxy.Gateway
	watcher  *watch.Watcher
	guard    *network.Guard
	sessions *session.Manager
	hub      *nearcache.Hub
	keyAuth  *apikey.Authenticator
	ops      *admin.Service // the admin operations the routes and jobs share
	tokens   *token.Service
	webhooks *webhook.Sender // nil: upstream_notify is off
	resets   *reset.Service  // nil: no email relay, no "Forgot password?"
	issuer   *assertion.Issuer
	demo     *http.Server
	metrics  *http.Server
	cancel   context.CancelFunc
	done     chan struct{}
}

// newServer wires a replica. listenAddr is where it will be reachable (the
// demo upstream fetches the JWKS from there).
func newServer(ctx context.Context, a *app, listenAddr string) (_ *server, err error) {
	cfg, log := a.cfg, a.log
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	seeded, warning, err := watch.Seed(ctx, a.dir, cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("seed login policy: %w", err)
	}
	if seeded {
		a.audit.Record(ctx, audit.Event{Event: audit.PolicySeeded, Actor: "seed"})
	}
	if warning != "" {
		log.Warn(warning)
	}
	tplSeeded, err := watch.SeedTemplates(ctx, a.dir, access.DefaultTemplates())
	if err != nil {
		return nil, fmt.Errorf("seed permission templates: %w", err)
	}
	if tplSeeded {
		a.audit.Record(ctx, audit.Event{Event: audit.TemplatesSeeded, Actor: "seed"})
	}
	if seeded, err := watch.SeedAccessPolicies(ctx, a.dir); err != nil {
		return nil, fmt.Errorf("seed access policies: %w", err)
	} else if seeded {
		a.audit.Record(ctx, audit.Event{Event: audit.AccessPoliciesSeeded, Actor: "seed"})
	}
	if err := bootstrapAdmin(ctx, a); err != nil {
		return nil, err
	}
	s := &server{a: a, done: make(chan struct{})}
	if s.guard, err = network.New(ctx, cfg.Network, log, &http.Client{Timeout: 30 * time.Second}, a.now); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil { // nothing half-built survives an error
			s.guard.Close()
			if s.demo != nil {
				s.demo.Close()
			}
		}
	}()
	// The hub runs from background(); until its first heartbeat returns,
	// every request reads the store.
	s.hub = nearcache.NewHub(a.store, nearcache.Options{Now: a.now, Logger: log})
	s.sessions = session.NewManager(a.store, session.Options{Now: a.now, Hub: s.hub, CacheTTL: cfg.Session.CacheTTL, TouchFraction: cfg.Session.TouchFraction})
	// Every hook is registered before the first poll, so disabled users,
	// revocations and lists already in the directory are applied at start
	// too (a revocation recorded while every replica was restarting must
	// not be marked seen without being carried out).
	s.watcher = s.newWatcher()
	if err := s.watcher.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("read login policy: %w", err)
	}
	keys, err := loadKeyring(cfg)
	if err != nil {
		return nil, err
	}
	ring := signing.New(a.dir, keys, a.now)
	s.issuer = assertion.NewIssuer(ring, cfg.PublicURLParsed.String(), assertionTTL, a.now)
	if err := s.issuer.Reload(ctx); err != nil {
		return nil, err
	}
	if old := ring.Unsealed(); len(old) > 0 {
		log.Warn("signing keys stored in clear (or under an old secrets key) could not be sealed in place; replace them: gatehouse keys rotate, then gatehouse keys retire KID once the new key signs", "kids", old)
	}
	upstream := cfg.UpstreamURL
	if upstream == nil {
		if upstream, err = s.startDemo(cfg.PublicURLParsed, listenAddr); err != nil {
			return nil, err
		}
	}
	// Changing a factor ends the user's other sessions (ASVS 7.4.3).
	endOthers := mfa.EndOtherSessions(s.endOtherSessions("factor_changed"))
	mfaOpts := []mfa.Option{endOthers, mfa.WithProduct(cfg.Branding.Brand().Name)}
	// The SMTP relay sends reset links and, when the policy allows them,
	// second-factor codes.
	var mail email.Sender
	if cfg.Email.Enabled() {
		if mail, err = email.NewSender(&cfg.Email); err != nil {
			return nil, err
		}
		mfaOpts = append(mfaOpts, mfa.WithEmail(mail))
	}
	if cfg.SMS.Enabled() {
		texts, err := sms.NewSender(&cfg.SMS, log)
		if err != nil {
			return nil, err
		}
		mfaOpts = append(mfaOpts, mfa.WithSMS(texter{texts}, cfg.SMS.CheckNumber, cfg.SMS.MaxPerHour))
	}
	// Passkeys are bound to public_url's host; with an IP address there
	// (the embedded default) browsers refuse them, so they stay off and
	// check-config refuses a policy that allows them.
	if rp, err := mfa.RelyingParty(cfg.PublicURLParsed, cfg.Branding.Brand().Name); err == nil {
		mfaOpts = append(mfaOpts, mfa.WithPasskeys(rp))
	}
	second := mfa.New(a.dir, keys, a.store, mfa.Limits{Attempts: cfg.Login.AccountAttempts, Window: cfg.Login.LockoutWindow}, "Gatehouse", a.now, mfaOpts...)
	providers, err := openProviders(ctx, a, a.store)
	if err != nil {
		return nil, err
	}
	hasher := password.NewHasher(password.Default, cfg.Login.MaxConcurrentHashes)
	limits := password.Limits{AccountAttempts: cfg.Login.AccountAttempts, IPAttempts: cfg.Login.IPAttempts, Window: cfg.Login.LockoutWindow, Now: a.now}
	accessAPI := accessapi.New(s.watcher, cfg.Access.ServiceToken, log)
	s.keyAuth = apikey.New(apikey.Options{Store: a.dir, Keys: keys, Counter: a.store, Policies: s.watcher, Audit: a.audit, Log: log,
		Hub: s.hub, ClientIP: func(r *http.Request) netip.Addr { return proxy.CallerOf(r).IP },
		FailLimit: int64(cfg.Login.IPAttempts), FailWindow: cfg.Login.LockoutWindow, Now: a.now})
	s.watcher.OnAPIKeysRevoked(s.keyAuth.Forget)
	s.tokens = token.New(token.Options{Public: cfg.PublicURLParsed, Clients: cfg.Mobile.Clients, Sessions: s.sessions,
		Store: a.store, Devices: a.dir, Keys: keys, Policies: s.watcher, Audit: a.audit, Log: log, Now: a.now,
		Network: func(ip netip.Addr, role, userID string) bool { return s.guard.Check(ip, false, role, userID).Allow }})
	s.gateway = proxy.New(proxy.Options{
		Logger:         log,
		PublicURL:      cfg.PublicURLParsed,
		Upstream:       upstream,
		TrustedProxies: cfg.TrustedProxyPrefixes,
		Sessions:       s.sessions,
		Authenticators: []auth.Authenticator{s.keyAuth, s.tokens.Authenticator()},
		Policy:         s.watcher,
		Audit:          a.audit,
		Assertions:     s.issuer,
		Network:        s.guard,
		AccessLog:      accessLogWriter(a),
		AccessJSON:     cfg.Log.Format == "json",
		Version:        version,
		Providers:      providerIDs(cfg),
		Brand:          cfg.Branding.Brand(),
		Ready: []proxy.Check{
			{Name: "session_store", Ping: a.store.Ping},
			{Name: "directory", Ping: a.dir.Ping},
		},
		Status: []proxy.Status{
			{Name: "invalidation", Detail: s.hub.Detail, Metrics: s.hub.WriteMetrics},
			{Name: "directory_push", Detail: s.watcher.PushState, Metrics: s.watcher.WriteMetrics},
			{Name: "access_api", Metrics: accessAPI.WriteMetrics},
		},
	})
	// Security events reach the metrics through the audit stream, so a
	// counter cannot disagree with the audit log.
	a.audit.Observe(s.gateway.ObserveEvent)
	if err := s.newWebhookSender(); err != nil {
		return nil, err
	}
	local := password.NewAuthenticator(a.dir, hasher, a.store, limits)
	var apiIDs []string
	for _, p := range providers.password {
		if l, ok := p.Login.(*apilogin.Login); ok {
			// One budget per account and address, whichever method checks.
			l.SetLockout(lockout.New(a.store, limits.Window), limits.AccountAttempts, limits.IPAttempts)
		}
		apiIDs = append(apiIDs, p.ID)
	}
	router := &apilogin.Router{Local: local, Providers: providers.password, Links: a.dir, Policy: func() *policy.Policy {
		if v := s.watcher.Policy(); v != nil {
			return &v.Policy
		}
		return nil
	}}
	// One service for every admin operation the gateway's routes make:
	// the account page's self-service, the admin API and its pages.
	ops := admin.New(a.dir, a.audit, hasher, providerIDs(cfg), a.now).WithSessions(a.store).WithNetworkSources(networkSources(cfg))
	s.ops = ops
	// The console pages call the same operations as the API, under the
	// same rule and re-authentication counter.
	consoleOpts := console.Options{
		Admin:   ops,
		Reauth:  password.NewAuthenticator(a.dir, hasher, a.store, limits),
		MFA:     second,
		Counter: a.store,
		Now:     a.now,
		Network: networkExplainer{s.guard},
		// One user's sessions are a scan of the store's per-user
		// index: the memory store and Redis both keep one.
		Sessions: s.sessions,
		Keys:     s.keyAuth,
	}
	// "Forgot password?" exists only with an email relay to send links.
	var resetPages login.Resets
	if mail != nil {
		s.resets = reset.New(reset.Options{Users: a.dir, Passwords: resetPasswords{ops}, Keys: keys, Mail: mail,
			Store: a.store, Audit: a.audit, PublicURL: cfg.PublicURLParsed, Product: cfg.Branding.Brand().Name, Log: log, Now: a.now})
		resetPages = resets{s.resets}
	}
	s.gateway.Mount(
		login.New(s.gateway, login.Options{Password: router, PasswordProviders: apiIDs, MFA: second, Providers: providers.redirect, Starts: a.store, Passwords: passwordChanger{ops}, Resets: resetPages, Now: a.now,
			// The login form's password encryption; its key is made when
			// the policy first turns it on.
			Encryption: pwcrypt.New(pwcrypt.Options{Keys: a.dir, Keyring: keys, Nonces: a.store, Now: a.now}),
			// OIDC back-channel logout, for the providers that turn it on.
			Backchannel: &login.Backchannel{Users: a.dir, Revocations: a.dir, Sessions: s.sessions, Nonces: a.store, Values: a.store}}),
		account.New(s.gateway, second, account.Options{
			Keys:      selfKeys{svc: ops, mac: keys, auth: s.keyAuth},
			Reauth:    password.NewAuthenticator(a.dir, hasher, a.store, limits),
			Devices:   selfDevices{dir: a.dir, tokens: s.tokens},
			Data:      selfData{svc: ops},
			SignIns:   selfSignIns{svc: ops},
			Sessions:  s.sessions,
			Passwords: selfPasswords{ops: ops, dir: a.dir, endOthers: s.endOtherSessions("password_changed")},
			Now:       a.now,
		}),
		accessAPI,
		oauth.New(s.tokens, s.gateway),
		console.New(s.gateway, consoleOpts),
		console.NewPages(s.gateway, console.PageOptions{Options: consoleOpts, Providers: providerIDs(cfg)}),
	)
	if cfg.ForwardAuth.Enabled {
		s.gateway.Mount(proxy.ForwardAuth{AllowedHosts: cfg.ForwardAuth.AllowedHosts})
	}
	if cfg.MetricsListen != "" {
		if err := s.startMetrics(cfg.MetricsListen); err != nil {
			return nil, err
		}
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	go s.background(bg)
	return s, nil
}

// newWatcher polls the directory and applies what changed: the policy and
// the users' network lists to the guard, disabled users and revocations to
// the sessions.
func (s *server) newWatcher() *watch.Watcher {
	a, log := s.a, s.a.log
	w := watch.New(a.dir, log, pollInterval, a.now)
	w.OnPolicy(func(ctx context.Context, v *policy.Versioned) {
		if err := s.guard.SetPolicy(v); err != nil {
			log.Error("network rules of the new policy do not build; keeping the previous ones", "version", v.Version, "error", err)
		}
	})
	w.OnAllowlists(func(_ context.Context, lists map[string][]string) { s.guard.SetUserLists(lists) })
	// A hook that fails (the session store stalled) is retried by the
	// watcher at every poll, and the gateway refuses the sessions it was
	// meant to end until it succeeds (RevokedBefore).
	ended := func(ctx context.Context, userID, reason string, n int, err error) error {
		if err == nil && n > 0 {
			a.audit.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: "system", UserID: userID,
				Detail: map[string]string{"reason": reason, "count": fmt.Sprint(n)}})
		}
		return err
	}
	w.OnDisable(func(ctx context.Context, userID string) error {
		n, err := s.sessions.RevokeUser(ctx, userID)
		if err == nil {
			err = s.endDeviceRows(ctx, userID, a.now())
		}
		return ended(ctx, userID, "user_disabled", n, err)
	})
	w.OnRevoke(func(ctx context.Context, r directory.Revocation) error {
		n, err := s.sessions.RevokeUserBefore(ctx, r.UserID, r.At)
		if err == nil {
			err = s.endDeviceRows(ctx, r.UserID, r.At)
		}
		return ended(ctx, r.UserID, "revocation", n, err)
	})
	// A device revoked in the directory (CLI, another replica) loses its
	// session here; the store's delete evicts it on every replica.
	w.OnDevicesRevoked(func(ids []string) {
		if s.tokens == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.tokens.DevicesRevoked(ctx, ids); err != nil {
			log.Error("end revoked devices' sessions", "error", err)
		}
	})
	return w
}

// endOtherSessions ends every session of the user but keep (none kept
// when keep is empty), as RevokeUserExcept does, one at a time so that
// each end is audited with its session (or device) id and reason (a
// factor change, a password change): the upstream's webhook is told which.
func (s *server) endOtherSessions(reason string) func(ctx context.Context, userID, keep string) error {
	return func(ctx context.Context, userID, keep string) error {
		recs, err := s.sessions.List(ctx, userID)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID == keep {
				continue
			}
			if err := s.sessions.Revoke(ctx, r.ID); err != nil {
				return err
			}
			detail := map[string]string{"reason": reason, "session": r.ID}
			if r.Meta.Client != "" {
				detail = map[string]string{"reason": reason, "device": r.ID}
			}
			s.a.audit.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: "system", UserID: userID, Detail: detail})
		}
		return nil
	}
}

// endDeviceRows marks the user's devices that logged in before `before`
// revoked in the directory, after their sessions ended with the user's
// ("log out everywhere", a disabled user), so device lists tell the truth.
func (s *server) endDeviceRows(ctx context.Context, userID string, before time.Time) error {
	devs, err := s.a.dir.UserDevices(ctx, userID)
	if err != nil {
		return err
	}
	var ids []string
	for _, d := range devs {
		if d.RevokedAt.IsZero() && !d.FirstSeen.After(before) {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = s.a.dir.RevokeDevices(ctx, userID, ids, s.a.now(), token.ReasonLoggedOut)
	return err
}

// loadKeyring loads the at-rest key ring (TOTP seeds, signing keys,
// device cookies). A single SQLite-backed instance may make its own key
// on first start; replicas sharing PostgreSQL must be given one
// (check-config says so).
func loadKeyring(cfg *configs.Config) (*secret.Keyring, error) {
	if cfg.CreatesKeyFile() && cfg.Secrets.KeyFile == configs.DefaultKeyFile {
		// The embedded default (data/gatehouse.keys) is the one key file
		// whose folder serve makes: the quick start's. A configured path
		// must name an existing folder (auth/secret never makes one).
		if err := os.MkdirAll(filepath.Dir(configs.DefaultKeyFile), 0o700); err != nil {
			return nil, fmt.Errorf("secrets.key_file: %w", err)
		}
	}
	keys, err := secret.LoadKeyring(cfg.Secrets.KeyFile, cfg.CreatesKeyFile())
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return keys, nil
}

// background runs the directory poll, key reloads and cache sweeps.
func (s *server) background(ctx context.Context) {
	defer close(s.done)
	// The webhook sender finishes (or hands back) the delivery in flight
	// before the directory closes.
	var senders sync.WaitGroup
	defer senders.Wait()
	if s.webhooks != nil {
		senders.Go(func() { s.webhooks.Run(ctx) })
	}
	go s.watcher.Run(ctx)
	go s.guard.Run(ctx)
	go s.hub.Run(ctx)
	// PostgreSQL pushes directory changes; on SQLite Listen returns at
	// once and polling alone keeps the view current, as it always did.
	go s.a.dir.Listen(ctx, s.watcher.Poke, s.watcher.SetPush)
	keys := time.NewTicker(keyReload)
	sweep := time.NewTicker(sweepInterval)
	prune := time.NewTicker(auditPruneInterval)
	defer keys.Stop()
	defer sweep.Stop()
	defer prune.Stop()
	s.pruneAudit(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			s.pruneAudit(ctx)
		case <-keys.C:
			if err := s.issuer.Reload(ctx); err != nil {
				s.a.log.Error("reload signing keys", "error", err)
			}
		case <-sweep.C:
			s.sessions.Sweep()
			s.issuer.Sweep()
			if _, err := s.gateway.EndDueSessions(ctx, s.sessions); err != nil && ctx.Err() == nil {
				// Retried at the next tick; a session due meanwhile is
				// still refused when presented (the pipeline checks it).
				s.a.log.Warn("end timed-out sessions", "error", err)
			}
		}
	}
}

// newWebhookSender starts counting the upstream notifications in the
// gateway's metrics and builds the replica's sender (background runs it).
func (s *server) newWebhookSender() error {
	a := s.a
	if a.notify == nil {
		return nil
	}
	m := s.gateway.WebhookMetrics()
	a.notify.SetMetrics(m)
	var err error
	s.webhooks, err = webhook.NewSender(a.dir, a.cfg.UpstreamNotify, webhook.SenderOptions{Now: a.now, Log: a.log, Metrics: m, Wake: a.notify.Wake()})
	return err
}

// auditPruneInterval is how often each replica applies
// log.audit_retention; every replica runs it, and a delete of rows
// another already deleted deletes nothing.
const auditPruneInterval = time.Hour

// pruneAudit deletes the audit events older than log.audit_retention.
func (s *server) pruneAudit(ctx context.Context) {
	keep := s.a.cfg.Log.AuditRetention
	if keep <= 0 {
		return
	}
	n, err := s.ops.PruneAudit(ctx, keep)
	switch {
	case err != nil:
		s.a.log.Error("apply log.audit_retention", "error", err)
	case n > 0:
		s.a.log.Info("audit events past log.audit_retention deleted", "events", n, "retention", keep.String())
	}
}

// startDemo runs the built-in demo CRM on a loopback port of its own, so
// requests reach it through the real reverse proxy.
func (s *server) startDemo(public *url.URL, gatewayAddr string) (*url.URL, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo upstream: %w", err)
	}
	jwks := "http://" + gatewayAddr + "/.gatehouse/jwks.json"
	if s.a.cfg.TLS.CertFile != "" {
		jwks = public.JoinPath("/.gatehouse/jwks.json").String()
	}
	s.demo = &http.Server{Handler: &demo.Handler{JWKSURL: jwks, Issuer: public.String(), Brand: s.a.cfg.Branding.Brand()}, ReadHeaderTimeout: 10 * time.Second}
	go s.demo.Serve(ln)
	s.a.log.Info("built-in demo CRM upstream started", "addr", ln.Addr().String())
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, nil
}

// startMetrics serves /metrics on its own listener, so it can be bound to
// an internal interface and never reaches the public one.
func (s *server) startMetrics(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.gateway.MetricsHandler())
	s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.metrics.Serve(ln)
	s.a.log.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

// serve accepts on ln until ctx ends, then drains in-flight requests.
func (s *server) serve(ctx context.Context, ln net.Listener) error {
	cfg := s.a.cfg
	hs := &http.Server{
		Handler:           s.gateway,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- serveOn(hs, ln, cfg.TLS) }()
	s.a.log.Info("gatehouse listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURLParsed.String(),
		"session_store", cfg.Session.Store, "directory", cfg.Directory.Driver, "version", version)
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		// Readiness fails first and the listener stays open for the
		// drain delay, so a load balancer (or Kubernetes, whose endpoint
		// update lags the SIGTERM) stops sending before connections are
		// refused; then in-flight requests get the timeout.
		s.gateway.Drain()
		s.a.log.Info("shutting down: readyz fails now; still serving for the drain delay", "drain_delay", cfg.Shutdown.DrainDelay)
		select {
		case err = <-errc:
		case <-time.After(cfg.Shutdown.DrainDelay):
			s.a.log.Info("drain delay over; finishing in-flight requests", "timeout", cfg.Shutdown.Timeout)
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
			defer cancel()
			err = hs.Shutdown(sctx)
		}
	}
	s.close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// serveOn serves hs on ln, over HTTPS when tls.cert_file is set. The
// pair comes from configs.TLS.Certificate rather than ServeTLS's file
// names, so the key is read under the same mode rule the start-up check
// applied.
func serveOn(hs *http.Server, ln net.Listener, t configs.TLS) error {
	if t.CertFile == "" {
		return hs.Serve(ln)
	}
	cert, err := t.Certificate()
	if err != nil {
		return err
	}
	hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	return hs.ServeTLS(ln, "", "")
}

func (s *server) close() {
	s.cancel()
	<-s.done
	// Reset emails go out after their answer: the request that asked
	// is done, but its link and audit event must still reach the relay
	// and the directory before the directory closes.
	if s.resets != nil {
		s.resets.Wait()
	}
	s.gateway.Close()
	s.guard.Close()
	for _, hs := range []*http.Server{s.demo, s.metrics} {
		if hs != nil {
			hs.Close()
		}
	}
}

// accessLogWriter is where access lines go: the log's stream, unless the
// configuration turns them off.
func accessLogWriter(a *app) io.Writer {
	if !a.cfg.Log.Access {
		return nil
	}
	return a.out
}

// bootstrapAdmin creates the first admin on an empty directory. On an
// interactive start it gets a random password, shown once on the
// terminal (never through the structured log) and valid for an hour; a
// start whose stderr is not a terminal (a container, a service manager)
// creates the admin with no password and says how to set one. Either
// way the admin must enrol 2FA at first login (review finding F12).
func bootstrapAdmin(ctx context.Context, a *app) error {
	svc := admin.New(a.dir, a.audit, password.NewHasher(password.Default, 1), nil, a.now)
	terminal := a.terminal()
	// Without a terminal the password goes to a file only the service's
	// user can read, beside the SQLite database (never to the log stream,
	// which is collected and kept); with PostgreSQL there is no data
	// directory of ours, so the admin gets no password at all.
	var file string
	if !terminal && a.cfg.Directory.Driver == "sqlite" {
		file = filepath.Join(filepath.Dir(a.cfg.Directory.DSN), "bootstrap-admin-password")
	}
	pw, created, err := svc.Bootstrap(ctx, terminal || file != "")
	if err != nil || !created {
		return err
	}
	switch {
	case terminal:
		fmt.Fprintf(a.out, "\n  Gatehouse created the first user.\n    username: admin\n    password: %s\n  It works for one hour and only this once: set your own with\n    gatehouse user set-password admin --password-stdin\n  and enrol two-factor authentication at the first login.\n\n", pw)
		a.log.Warn("empty directory: created user \"admin\"; its one-time password was printed to the terminal, not to the log, and expires in an hour")
	case file != "":
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = fmt.Fprintln(f, pw)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			a.log.Warn("empty directory: created user \"admin\", but its one-time password could not be written; set one with: gatehouse user set-password admin --password-stdin", "file", file, "error", err)
			return nil
		}
		a.log.Warn("empty directory: created user \"admin\"; its one-time password (valid for an hour) is in a file only this user can read: read it, delete the file, log in and enrol two-factor authentication", "file", file)
	default:
		a.log.Warn("empty directory: created user \"admin\" without a password, since no terminal is attached to show one; set it with: gatehouse user set-password admin --password-stdin")
	}
	return nil
}
