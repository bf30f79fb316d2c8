package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// benchReplica starts a replica on the given session store with alice
// logged in, and returns it with her cookie value.
func benchReplica(b *testing.B, store string) (*replica, string) {
	up := startUpstream(b)
	cfg := sqliteConfig(b, up, "")
	switch store {
	case "redis":
		cfg += fmt.Sprintf("session: {store: redis, redis: {addrs: [%s], key_prefix: %q}}\n", storetest.RedisAddr(b), storetest.RedisPrefix(b))
	case "redis-nocache":
		cfg += fmt.Sprintf("session: {store: redis, cache_ttl: 0s, redis: {addrs: [%s], key_prefix: %q}}\n", storetest.RedisAddr(b), storetest.RedisPrefix(b))
	}
	r := startReplica(b, cfg, nil)
	r.addUser(b, "alice", alicePW, "sales", "north")
	br := newBrowser(b, r.URL)
	br.Login(b, "alice", alicePW)
	return r, br.Cookie("gatehouse").Value
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
// handler to a real upstream over loopback HTTP.
func BenchmarkServeUpstream(b *testing.B) {
	for _, store := range benchStores {
		b.Run(store, func(b *testing.B) {
			r, cookie := benchReplica(b, store)
			req := httptest.NewRequest("GET", r.URL+"/accounts", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Cookie", "gatehouse="+cookie)
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
