package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

// MACPurpose keys the hash the directory keeps of a key's secret.
const MACPurpose = "apikey"

// CacheTTL bounds how long a replica trusts a verified key without asking
// the directory: a revocation made where no invalidation event reaches
// (the CLI on another machine) is honoured everywhere within it.
const CacheTTL = time.Second

// touchEvery bounds last-used writes to one per key per minute.
const touchEvery = time.Minute

// Store is what the authenticator reads and writes.
type Store interface {
	APIKey(ctx context.Context, id string) (*directory.APIKey, error)
	UserByID(ctx context.Context, id string) (*directory.User, error)
	TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error
}

// MACer verifies the stored hash (auth/secret.Keyring).
type MACer interface {
	VerifyMAC(purpose string, data, mac []byte) bool
}

// Counter counts uses per window in the shared session store.
type Counter interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	IncrBy(ctx context.Context, key string, by int64, window time.Duration) (int64, error)
	Count(ctx context.Context, key string) (int64, error)
}

// Policies gives the policy in force.
type Policies interface {
	Policy() *policy.Versioned
}

// Auditor records refusals.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options configure an Authenticator.
type Options struct {
	Store    Store
	Keys     MACer
	Counter  Counter
	Policies Policies
	Audit    Auditor
	Log      *slog.Logger
	Hub      *nearcache.Hub // the invalidation channel; revocations evict at once
	// ClientIP returns the request's client address as the pipeline
	// resolved it (trusted proxies applied).
	ClientIP func(*http.Request) netip.Addr
	// FailLimit failed verifications per client address per FailWindow
	// are allowed before that address is refused (guessing secrets).
	FailLimit  int64
	FailWindow time.Duration
	Now        func() time.Time
}

// verified is what a replica remembers of a key it has checked.
type verified struct {
	secretSum [32]byte // SHA-256 of the secret, compared on every hit
	key       directory.APIKey
	user      directory.User
	identity  auth.Identity // built once per verification, not per request
	networks  []netip.Prefix
}

// keyMethods is every key credential's Methods (read-only, shared).
var keyMethods = []string{auth.MethodAPIKey}

// tunnelRecheck bounds a WebSocket opened with a key: its credential's
// deadline is at most this far off, so it is authenticated again.
const tunnelRecheck = time.Minute

// Authenticator reads API keys (auth.Authenticator).
type Authenticator struct {
	o       Options
	cache   *nearcache.Cache[*verified]
	limits  *limiter
	touched sync.Map // key id → unix seconds of the last write
	// Lookups counts directory reads of keys (tests: garbage is refused
	// before any).
	Lookups atomic.Int64
}

// New returns an Authenticator.
func New(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Authenticator{o: o, cache: nearcache.NewCache[*verified](o.Hub, nearcache.APIKey, 100000), limits: newLimiter(o.Counter)}
}

// Evict drops a key here at once (the replica that revoked it).
func (a *Authenticator) Evict(id string) { a.cache.Evict(id) }

// Forget drops every cached key (a revocation somewhere, learnt from the
// directory without knowing which key): each is read again once.
func (a *Authenticator) Forget() { a.cache.Clear() }

// inQuery reports a key in the URL's query string, decoded or not: any
// name or value holding a well-formed key (the checksum must match, so an
// ordinary "gk_" in a search term is not mistaken for one).
func inQuery(r *http.Request) bool {
	q := r.URL.RawQuery
	if q == "" || !strings.Contains(q, Prefix) && !strings.Contains(strings.ToLower(q), "gk%5f") {
		return false
	}
	if holdsKey(q) {
		return true
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		// What a lenient upstream might still decode: check the pieces.
		if u, err := url.QueryUnescape(q); err == nil {
			return holdsKey(u)
		}
		return false
	}
	for k, vs := range vals {
		if holdsKey(k) {
			return true
		}
		for _, v := range vs {
			if holdsKey(v) {
				return true
			}
		}
	}
	return false
}

// holdsKey reports whether s contains a well-formed key anywhere.
func holdsKey(s string) bool {
	for i := strings.Index(s, Prefix); i >= 0; {
		if len(s)-i >= TokenLen {
			if _, _, err := Parse(s[i : i+TokenLen]); err == nil {
				return true
			}
		}
		j := strings.Index(s[i+1:], Prefix)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// token finds the key a request carries; "" when none. Every place it
// may travel must agree.
func token(r *http.Request) (string, error) {
	var found string
	add := func(t string) error {
		if found != "" && t != found {
			return errTwoKeys
		}
		found = t
		return nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok && Looks(strings.TrimSpace(t)) {
			add(strings.TrimSpace(t))
		}
	}
	if h := r.Header.Get("X-Api-Key"); h != "" {
		if err := add(strings.TrimSpace(h)); err != nil {
			return "", err
		}
	}
	// The CRM's own pair: the access key names the key, the secret key is
	// the key itself.
	ak, sk := r.Header.Get("X-Lsq-Accesskey"), strings.TrimSpace(r.Header.Get("X-Lsq-Secretkey"))
	if ak != "" || sk != "" {
		id, _, err := Parse(sk)
		if err != nil || strings.TrimPrefix(strings.TrimSpace(ak), Prefix) != id {
			return "", errPair
		}
		if err := add(sk); err != nil {
			return "", err
		}
	}
	return found, nil
}

var (
	errPair    = errors.New("x-LSQ-AccessKey must be the key id of the key in x-LSQ-SecretKey")
	errTwoKeys = errors.New("the request carries two different API keys")
)

func refused(status int, code, msg string) *auth.Refused {
	return &auth.Refused{Status: status, Code: code, Message: msg}
}

// Authenticate implements auth.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (auth.Credential, error) {
	if inQuery(r) {
		a.refuse(r, "", "", "in_query")
		return auth.Credential{}, refused(http.StatusBadRequest, "api_key_in_url",
			"API keys are never accepted in the URL, which ends up in logs; send it as Authorization: Bearer <key> or X-API-Key, and revoke this one")
	}
	tok, err := token(r)
	if err != nil {
		return auth.Credential{}, refused(http.StatusBadRequest, "bad_request", err.Error())
	}
	if tok == "" {
		return auth.Credential{}, auth.ErrNoCredentials
	}
	ctx := r.Context()
	ip := a.clientIP(r)
	id, secret, err := Parse(tok)
	if err != nil {
		// Garbage costs no store lookup, and no guess counts against the
		// address: a checksum failure is a typo, not a guess.
		return auth.Credential{}, refused(http.StatusUnauthorized, "invalid_api_key", "the API key is not well-formed")
	}
	v, err := a.verify(ctx, id, secret, ip)
	if err != nil {
		return auth.Credential{}, err
	}
	cur := a.o.Policies.Policy()
	if cur == nil {
		return auth.Credential{}, fmt.Errorf("apikey: no policy loaded")
	}
	kp := cur.Policy.APIKeys
	now := a.o.Now()
	switch {
	case !kp.KeysEnabled():
		a.refuse(r, id, v.user.ID, "disabled_by_policy")
		return auth.Credential{}, refused(http.StatusUnauthorized, "api_keys_disabled", "API keys are turned off by the login policy")
	case !v.key.RevokedAt.IsZero():
		a.refuse(r, id, v.user.ID, "revoked")
		return auth.Credential{}, refused(http.StatusUnauthorized, "invalid_api_key", "the API key was revoked")
	case !v.key.ExpiresAt.IsZero() && !now.Before(v.key.ExpiresAt):
		a.refuse(r, id, v.user.ID, "expired")
		return auth.Credential{}, refused(http.StatusUnauthorized, "invalid_api_key", "the API key has expired")
	case v.user.Disabled:
		a.refuse(r, id, v.user.ID, "user_disabled")
		return auth.Credential{}, refused(http.StatusUnauthorized, "invalid_api_key", "the API key's user is disabled")
	case !kp.RoleAllowed(v.user.Role):
		a.refuse(r, id, v.user.ID, "role")
		return auth.Credential{}, refused(http.StatusForbidden, "api_keys_not_allowed", "the login policy does not allow API keys for this user's role")
	}
	if rl := kp.RateLimit; rl.Requests > 0 {
		ok, retry, err := a.limits.allow(ctx, id, rl.Requests, rl.Window, now)
		if err != nil {
			return auth.Credential{}, fmt.Errorf("apikey: rate limit: %w", err)
		}
		if !ok {
			a.refuse(r, id, v.user.ID, "rate")
			return auth.Credential{}, &auth.Refused{Status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: fmt.Sprintf("more than %d requests in %s with this key", rl.Requests, rl.Window), RetryAfter: retry}
		}
	}
	a.touch(id, now, ip)
	deadline := v.key.ExpiresAt
	if deadline.IsZero() || deadline.After(now.Add(tunnelRecheck)) {
		deadline = now.Add(tunnelRecheck)
	}
	return auth.Credential{
		Kind:     auth.KindAPIKey,
		ID:       id,
		Identity: v.identity,
		Created:  v.key.CreatedAt,
		Deadline: deadline,
		Scopes:   v.key.Scopes,
		Networks: v.networks,
	}, nil
}

func (a *Authenticator) clientIP(r *http.Request) netip.Addr {
	if a.o.ClientIP != nil {
		return a.o.ClientIP(r)
	}
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap.Addr()
}

// verify checks the key: a cached entry whose secret matches answers at
// once; anything else (a miss, a wrong secret) is a possible guess, so the
// address's failure budget is checked first, the directory read, and a
// failure counted against the address.
func (a *Authenticator) verify(ctx context.Context, id, secret string, ip netip.Addr) (*verified, error) {
	sum := sha256.Sum256([]byte(secret))
	if v, ok := a.cache.Get(id, CacheTTL); ok && subtle.ConstantTimeCompare(sum[:], v.secretSum[:]) == 1 {
		return v, nil
	}
	guessKey := "apikey:fail:" + ip.String()
	if a.o.FailLimit > 0 {
		n, err := a.o.Counter.Count(ctx, guessKey)
		if err != nil {
			return nil, fmt.Errorf("apikey: failure budget: %w", err)
		}
		if n >= a.o.FailLimit {
			return nil, &auth.Refused{Status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: "too many invalid API keys from this address", RetryAfter: a.o.FailWindow}
		}
	}
	v, userID, err := a.lookup(ctx, id, secret, sum)
	if err != nil || v != nil {
		return v, err
	}
	a.o.Audit.Record(ctx, audit.Event{Event: audit.APIKeyRefused, UserID: userID, ClientIP: ip.String(),
		Detail: map[string]string{"key_id": id, "reason": "unknown"}})
	if a.o.FailLimit > 0 {
		if _, err := a.o.Counter.Incr(ctx, guessKey, a.o.FailWindow); err != nil {
			return nil, fmt.Errorf("apikey: failure budget: %w", err)
		}
	}
	return nil, refused(http.StatusUnauthorized, "invalid_api_key", "the API key is not valid")
}

// lookup reads the key and its owner from the directory; (nil, owner,
// nil) when the key does not exist or the secret does not match.
func (a *Authenticator) lookup(ctx context.Context, id, secret string, sum [32]byte) (*verified, string, error) {
	t := a.cache.Ticket()
	a.Lookups.Add(1)
	k, err := a.o.Store.APIKey(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("apikey: %w", err)
	}
	if !a.o.Keys.VerifyMAC(MACPurpose, []byte(secret), k.Hash) {
		return nil, k.UserID, nil
	}
	u, err := a.o.Store.UserByID(ctx, k.UserID)
	if err != nil {
		return nil, "", fmt.Errorf("apikey: owner: %w", err)
	}
	v := &verified{secretSum: sum, key: *k, user: *u, identity: auth.Identity{UserID: u.ID, Username: u.Username, Email: u.Email,
		DisplayName: u.DisplayName, Role: u.Role, Template: u.Template, Groups: u.Groups, Methods: keyMethods}}
	v.key.Hash = nil
	for _, c := range k.AllowedCIDRs {
		p, err := policy.ParsePrefix(c)
		if err != nil {
			// Stored by an older release or by hand: fail closed.
			return nil, "", fmt.Errorf("apikey: key %s: allowed_cidrs: %w", id, err)
		}
		v.networks = append(v.networks, p)
	}
	a.cache.Put(t, id, u.ID, v)
	return v, "", nil
}

func (a *Authenticator) refuse(r *http.Request, id, userID, reason string) {
	d := map[string]string{"reason": reason}
	if id != "" {
		d["key_id"] = id
	}
	a.o.Audit.Record(r.Context(), audit.Event{Event: audit.APIKeyRefused, UserID: userID, ClientIP: a.clientIP(r).String(), Detail: d})
}

// touch records the use at most once a minute per key, off the request's
// path.
func (a *Authenticator) touch(id string, now time.Time, ip netip.Addr) {
	last, _ := a.touched.Load(id)
	if l, ok := last.(int64); ok && now.Unix()-l < int64(touchEvery/time.Second) {
		return
	}
	a.touched.Store(id, now.Unix())
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.o.Store.TouchAPIKey(ctx, id, now, ip.String()); err != nil {
			a.o.Log.Warn("record api key use", "key_id", id, "error", err)
		}
	}()
}
