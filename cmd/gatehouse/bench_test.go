package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// benchReplica starts a replica on the given session store with alice
// logged in, and returns it with her cookie value.
func benchReplica(b *testing.B, store string) (*replica, string) {
	up := benchUpstream(b)
	// The access log (on by default) is measured by the load script;
	// here it would fill the replica's in-memory stderr.
	cfg := sqliteConfig(b, up, "log: {access: false}\n")
	switch store {
	case "redis":
		cfg += fmt.Sprintf("session: {store: redis, redis: {addrs: [%s], key_prefix: %q}}\n", storetest.RedisAddr(b), storetest.RedisPrefix(b))
	case "redis-nocache":
		cfg += fmt.Sprintf("session: {store: redis, cache_ttl: 0s, redis: {addrs: [%s], key_prefix: %q}}\n", storetest.RedisAddr(b), storetest.RedisPrefix(b))
	case "memory-rules500":
		cfg += rules500()
	case "apikey-redis":
		cfg += fmt.Sprintf("session: {store: redis, redis: {addrs: [%s], key_prefix: %q}}\npolicy: {api_keys: {rate_limit: {requests: 100000000, window: 1h}}}\n",
			storetest.RedisAddr(b), storetest.RedisPrefix(b))
	}
	r := startReplica(b, cfg, nil)
	r.addUser(b, "alice", alicePW, "sales", "north")
	br := newBrowser(b, r.URL)
	br.Login(b, "alice", alicePW)
	return r, br.Cookie("gatehouse").Value
}

// rules500 is a policy with 500 route rules as a CRM would have them
// (literal, {id} and subtree patterns over many prefixes), the last of
// which matches the benchmark's request and is granted to sales; the same
// rules as bench/load.sh's gatehouse-memory-rules target.
func rules500() string {
	var sb strings.Builder
	sb.WriteString("policy:\n  access:\n    routes:\n")
	features := []string{"leads.view", "leads.create", "leads.update", "leads.delete", "leads.import", "leads.export", "reports", "dashboards"}
	for i := range 166 {
		f := features[i%len(features)]
		fmt.Fprintf(&sb, "      - {route: \"GET /m%d/items/{id}\", feature: %s}\n", i, f)
		fmt.Fprintf(&sb, "      - {route: \"POST /m%d/items/new\", feature: %s}\n", i, f)
		fmt.Fprintf(&sb, "      - {route: \"/m%d/export/\", feature: leads.export}\n", i)
	}
	sb.WriteString("      - {route: \"GET /admin/settings\", feature: admin}\n")
	sb.WriteString("      - {route: \"GET /accounts\", feature: leads.view}\n")
	return sb.String()
}

// lastSeen is the headers of the last request a bench upstream served.
var lastSeen atomic.Pointer[http.Header]

// benchUpstream answers like bench/upstream and, unlike the tests'
// upstream, keeps only the last request's headers: recording every
// request would make the benchmark measure its own garbage.
func benchUpstream(b *testing.B) *upstream {
	u := &upstream{Server: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastSeen.Store(&r.Header)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "crm:"+r.Header.Get("X-Gatehouse-User"))
	}))}
	b.Cleanup(u.Close)
	return u
}

// benchBare serves through a bare httputil.ReverseProxy tuned like the
// gateway's, adding extra to every request.
func benchBare(b *testing.B, extra http.Header) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			for k, v := range extra {
				pr.Out.Header[k] = v
			}
		},
		Transport:  proxy.NewTransport(),
		BufferPool: &proxy.BufferPool{},
	}
	req := httptest.NewRequest("GET", "http://gatehouse.test/accounts", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		rp.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

var benchStores = []string{"memory", "redis", "redis-nocache"}

// BenchmarkAuthenticate is the per-request authentication path: cookie →
// session (local cache or one store round trip) → expiry checks.
func BenchmarkAuthenticate(b *testing.B) {
	for _, store := range benchStores {
		b.Run(store, func(b *testing.B) {
			r, cookie := benchReplica(b, store)
			limits := r.gateway.SessionLimits()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.sessions.Load(ctx, cookie, limits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServeUpstream is a whole proxied request through the gateway's
// handler to a real upstream over loopback HTTP. "bare" is the same
// request through a bare httputil.ReverseProxy tuned like the gateway's
// (bench/bareproxy): the difference is what authentication costs.
func BenchmarkServeUpstream(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchBare(b, nil) })
	// bare-headers adds a fixed copy of what the gateway sends (identity
	// headers and an assertion of the same size) and no authentication:
	// the upstream's share of the difference.
	// bare-assertion and bare-identity split it: the signed assertion
	// alone, and the plain identity headers without it.
	for _, variant := range []string{"bare-headers", "bare-assertion", "bare-identity"} {
		b.Run(variant, func(b *testing.B) {
			r, cookie := benchReplica(b, "memory")
			req := httptest.NewRequest("GET", r.URL+"/accounts", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Cookie", "gatehouse="+cookie)
			r.gateway.ServeHTTP(httptest.NewRecorder(), req)
			sent := http.Header{}
			for k, v := range *lastSeen.Load() {
				keep := strings.HasPrefix(k, "X-Gatehouse-")
				switch variant {
				case "bare-assertion":
					keep = k == proxy.HeaderAssertion
				case "bare-identity":
					keep = keep && k != proxy.HeaderAssertion
				}
				if keep {
					sent[k] = v
				}
			}
			if len(sent) == 0 || variant == "bare-headers" && len(sent) < 7 {
				b.Fatalf("upstream saw %d gateway headers", len(sent))
			}
			benchBare(b, sent)
		})
	}
	for _, store := range append(benchStores, "memory-rules500", "apikey-redis") {
		b.Run(store, func(b *testing.B) {
			r, cookie := benchReplica(b, store)
			hdr := "Cookie"
			if store == "apikey-redis" {
				hdr, cookie = "X-API-Key", createKey(b, r, "--user", "alice")
			}
			if store == "memory-rules500" && len(r.watcher.Policy().Policy.Access.Routes) != 500 {
				b.Fatalf("%d route rules", len(r.watcher.Policy().Policy.Access.Routes))
			}
			req := httptest.NewRequest("GET", r.URL+"/accounts", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if hdr == "Cookie" {
				req.Header.Set("Cookie", "gatehouse="+cookie)
			} else {
				req.Header.Set(hdr, cookie)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r.gateway.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkAPIKeyAuthenticate is the key authenticator alone: "hit" is a
// key this replica verified less than a second ago (the usual case),
// "miss" reads the directory and checks the MAC every time.
func BenchmarkAPIKeyAuthenticate(b *testing.B) {
	for _, mode := range []string{"hit", "miss"} {
		b.Run(mode, func(b *testing.B) {
			r, _ := benchReplica(b, "apikey-redis")
			key := createKey(b, r, "--user", "alice")
			id, _, _ := apikey.Parse(key)
			req := httptest.NewRequest("GET", r.URL+"/accounts", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("X-API-Key", key)
			req = proxy.WithCaller(req, &proxy.Caller{IP: netip.MustParseAddr("127.0.0.1")})
			b.ReportAllocs()
			for b.Loop() {
				if mode == "miss" {
					r.keyAuth.Evict(id)
				}
				if _, err := r.keyAuth.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoginRefused compares the cost of a refused login for an
// unknown user and for a wrong password: they should match (ASVS 6.3.8),
// since both run one argon2id verify. Reported, not asserted.
func BenchmarkLoginRefused(b *testing.B) {
	for _, user := range []string{"alice", "nobody"} {
		b.Run(user, func(b *testing.B) {
			up := startUpstream(b)
			r := startReplica(b, sqliteConfig(b, up, "login: {account_attempts: 1000, ip_attempts: 100000}\n"), nil)
			r.addUser(b, "alice", alicePW, "sales")
			form := url.Values{"username": {user}, "password": {"wrong password"}}.Encode()
			for b.Loop() {
				req := httptest.NewRequest("POST", r.URL+"/.gatehouse/login", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				r.gateway.ServeHTTP(w, req)
				if w.Code != http.StatusUnauthorized {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkDeviceAuthenticate is the mobile app's access-token
// authenticator alone on a memory or Redis store: open the token, the
// device session from the near cache, the DPoP proof (signature, then jti
// single use in the store). Proofs are signed before the timer starts.
func BenchmarkDeviceAuthenticate(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			cfg := sqliteConfig(b, benchUpstream(b), mobileConfig)
			if store == "redis" {
				cfg += fmt.Sprintf("session: {store: redis, redis: {addrs: [%s], key_prefix: %q}}\n", storetest.RedisAddr(b), storetest.RedisPrefix(b))
			}
			r := startReplica(b, cfg, nil)
			r.addUser(b, "alice", alicePW, "sales")
			app := mobileLogin(b, r, nil, "alice", alicePW)
			auth := r.tokens.Authenticator()
			target := r.URL + "/accounts"
			proofs := make([]string, b.N)
			for i := range proofs {
				p, err := app.Proof("GET", target, app.Access)
				if err != nil {
					b.Fatal(err)
				}
				proofs[i] = p
			}
			req := httptest.NewRequest("GET", target, nil)
			req.Header.Set("Authorization", "DPoP "+app.Access)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				req.Header.Set("Dpop", proofs[i])
				if _, err := auth.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStartToReady is a whole start on SQLite and the memory store:
// open the directory (migrations on a new file), seed, build the gateway,
// listen, until /readyz answers 200. ns/op is the start-up time.
func BenchmarkStartToReady(b *testing.B) {
	up := benchUpstream(b)
	for b.Loop() {
		r := startReplica(b, sqliteConfig(b, up, "log: {access: false}\n"), nil)
		for {
			resp, err := http.Get(r.URL + "/.gatehouse/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		r.stop()
	}
}

// BenchmarkMemory reports the heap a replica holds at idle and with 100k
// sessions in the memory store (the *-heap-MB metrics). It measures once
// per process, in a fresh heap: replicas started by earlier rounds stay
// referenced until the benchmark ends and would be counted too.
func BenchmarkMemory(b *testing.B) {
	memoryOnce.Do(func() {
		r := startReplica(b, sqliteConfig(b, benchUpstream(b), "log: {access: false}\n"), nil)
		idle := heapInUse()
		limits := r.gateway.SessionLimits()
		ctx := context.Background()
		for i := range 100_000 {
			s := &session.Session{Identity: auth.Identity{UserID: fmt.Sprintf("u%d", i%5000), Username: "user", Role: "sales", Methods: []string{"password"}},
				ClientIP: "192.0.2.1", Agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/156"}
			if _, err := r.sessions.Create(ctx, s, limits); err != nil {
				b.Fatal(err)
			}
		}
		full := heapInUse()
		memoryResult = [3]float64{idle / 1e6, full / 1e6, (full - idle) / 100_000}
		r.stop()
	})
	for b.Loop() {
	}
	b.ReportMetric(memoryResult[0], "idle-heap-MB")
	b.ReportMetric(memoryResult[1], "100k-sessions-heap-MB")
	b.ReportMetric(memoryResult[2], "bytes/session")
}

var (
	memoryOnce   sync.Once
	memoryResult [3]float64
)

func heapInUse() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse)
}
