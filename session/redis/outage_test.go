//go:build unix

package redis

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
)

// redisServer is a throwaway redis-server this test owns, so it can kill it.
type redisServer struct {
	bin, port string
	cmd       *exec.Cmd
}

func startRedisServer(t *testing.T, bin, port string) *redisServer {
	t.Helper()
	s := &redisServer{bin: bin, port: port}
	s.start(t)
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + s.port }

func (s *redisServer) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "--port", s.port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	waitFor(t, "redis-server to answer", func() error { return c.Ping(t.Context()).Err() })
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// waitFor polls for a server to come up (not for an expiry), for 10s.
func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

func redisServerBinary(t *testing.T) string {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not installed (apt-get install -y redis-server): %v", err)
		}
		t.Skipf("redis-server not installed; this test starts and kills its own: %v", err)
	}
	return bin
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestRedisOutageAndRecovery: with Redis hung or down, every operation
// fails promptly with ErrUnavailable (the gateway fails closed), and the
// same Store works again once Redis is back.
func TestRedisOutageAndRecovery(t *testing.T) {
	srv := startRedisServer(t, redisServerBinary(t), freePort(t))
	ctx := t.Context()
	const timeout = 200 * time.Millisecond
	s, err := New(ctx, Config{Addrs: []string{srv.addr()}, DialTimeout: timeout, ReadTimeout: timeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	r := testRecord(time.Now())
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, r.ID, session.Touch{}); err != nil {
		t.Fatalf("Get before outage: %v", err)
	}

	// A hung server (as behind a network partition) costs the read
	// timeout per try; a dead one is refused at once.
	signal(t, srv, syscall.SIGSTOP)
	failsPromptly(t, "hung", s, r, 4*timeout+time.Second)
	signal(t, srv, syscall.SIGCONT)
	recovers(t, s, r)

	srv.stop()
	failsPromptly(t, "down", s, r, time.Second)
	srv.start(t)
	recovers(t, s, r)
	if _, err := s.Get(ctx, r.ID, session.Touch{}); err != nil {
		t.Errorf("Get of a session Put after recovery: %v", err)
	}
}

func signal(t *testing.T, srv *redisServer, sig syscall.Signal) {
	t.Helper()
	if err := srv.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal redis-server: %v", err)
	}
}

func failsPromptly(t *testing.T, state string, s *Store, r session.Record, limit time.Duration) {
	t.Helper()
	for name, op := range storeOps(s, r) {
		start := time.Now()
		err := op(t.Context())
		if !errors.Is(err, session.ErrUnavailable) {
			t.Errorf("%s with Redis %s: got %v, want ErrUnavailable", name, state, err)
		}
		if d := time.Since(start); d > limit {
			t.Errorf("%s with Redis %s took %v, want under %v", name, state, d, limit)
		}
	}
}

// recovers polls each operation: go-redis stops dialling after repeated
// failures and probes once a second, so recovery is prompt, not instant.
func recovers(t *testing.T, s *Store, r session.Record) {
	t.Helper()
	for name, op := range storeOps(s, r) {
		waitFor(t, name+" after recovery", func() error { return op(t.Context()) })
	}
}

// storeOps exercises each kind of call: plain commands, scripts, pipelines.
// ErrNotFound counts as success: it means Redis answered, and a restarted
// Redis has lost its data.
func storeOps(s *Store, r session.Record) map[string]func(context.Context) error {
	touch := session.Touch{Now: time.Now(), After: time.Minute, Idle: time.Hour, Absolute: time.Hour}
	answered := func(err error) error {
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		return err
	}
	return map[string]func(context.Context) error{
		"Put":  func(ctx context.Context) error { return s.Put(ctx, r) },
		"Ping": s.Ping,
		"Get": func(ctx context.Context) error {
			_, err := s.Get(ctx, r.ID, session.Touch{})
			return answered(err)
		},
		"Get with Touch": func(ctx context.Context) error {
			_, err := s.Get(ctx, r.ID, touch)
			return answered(err)
		},
		"Delete":   func(ctx context.Context) error { return s.Delete(ctx, "other") },
		"ListUser": func(ctx context.Context) error { _, err := s.ListUser(ctx, r.UserID); return err },
		"Incr":     func(ctx context.Context) error { _, err := s.Incr(ctx, "k", time.Minute); return err },
		"Count":    func(ctx context.Context) error { _, err := s.Count(ctx, "k"); return err },
		"PutOnce": func(ctx context.Context) error {
			_, err := s.PutOnce(ctx, "n", nil, time.Minute)
			return err
		},
		"Take": func(ctx context.Context) error {
			_, err := s.Take(ctx, "n")
			return answered(err)
		},
	}
}
