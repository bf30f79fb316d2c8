package redis

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

func TestUniversalOptions(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		cfg         Config
		wantCluster bool
		check       func(*testing.T, *goredis.UniversalOptions)
	}{
		{name: "standalone", cfg: Config{Addrs: []string{"r:6379"}, DB: 3}, check: func(t *testing.T, o *goredis.UniversalOptions) {
			if o.DB != 3 || o.MasterName != "" {
				t.Errorf("got DB %d MasterName %q, want 3 and none", o.DB, o.MasterName)
			}
		}},
		{name: "sentinel", cfg: Config{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster"}, check: func(t *testing.T, o *goredis.UniversalOptions) {
			if o.MasterName != "mymaster" {
				t.Errorf("got MasterName %q, want mymaster", o.MasterName)
			}
		}},
		{name: "cluster", cfg: Config{Addrs: []string{"c1:6379"}, Cluster: true}, wantCluster: true},
		{name: "password file", cfg: Config{Addrs: []string{"r:6379"}, PasswordFile: pwFile}, check: func(t *testing.T, o *goredis.UniversalOptions) {
			if o.Password != "s3cret" {
				t.Errorf("got password of %d bytes, want the file's first line", len(o.Password))
			}
		}},
		{name: "tls", cfg: Config{Addrs: []string{"r:6379"}, TLS: true}, check: func(t *testing.T, o *goredis.UniversalOptions) {
			if o.TLSConfig == nil || o.TLSConfig.MinVersion != tls.VersionTLS12 {
				t.Errorf("got TLSConfig %+v, want MinVersion TLS 1.2", o.TLSConfig)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.SetDefaults()
			o, err := universalOptions(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !o.ContextTimeoutEnabled {
				t.Error("got ContextTimeoutEnabled false, want request deadlines honoured")
			}
			c := goredis.NewUniversalClient(o)
			defer c.Close()
			if _, isCluster := c.(*goredis.ClusterClient); isCluster != tt.wantCluster {
				t.Errorf("got %T, want cluster client %v", c, tt.wantCluster)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name            string
		cfg             Config
		wantUnavailable bool
		wantText        string
	}{
		{name: "several addrs without cluster or sentinel", cfg: Config{Addrs: []string{"a:1", "b:2"}}, wantText: "session.redis.addrs"},
		{name: "missing password file", cfg: Config{Addrs: []string{"a:1"}, PasswordFile: "/nonexistent/pw"}, wantText: "password_file"},
		{name: "nothing listening", cfg: Config{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}, wantUnavailable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(t.Context(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New: got nil error")
			}
			if got := errors.Is(err, session.ErrUnavailable); got != tt.wantUnavailable {
				t.Errorf("got errors.Is(ErrUnavailable) %v, want %v: %v", got, tt.wantUnavailable, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("got %q, want it to mention %q", err, tt.wantText)
			}
		})
	}
}

func TestNewConnects(t *testing.T) {
	cfg := Config{Addrs: []string{storetest.RedisAddr(t)}, KeyPrefix: storetest.RedisPrefix(t)}
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	r := testRecord(time.Now())
	if err := s.Put(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), r.ID, session.Touch{}); err != nil {
		t.Errorf("Get: %v", err)
	}
	if !strings.HasPrefix(s.sessionKey("x"), cfg.KeyPrefix) {
		t.Errorf("got key %q, want it under %q", s.sessionKey("x"), cfg.KeyPrefix)
	}
}
