//go:build unix

package redis

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// sentinelMaster is the master name the test sentinels monitor.
const sentinelMaster = "gh"

// TestSentinelConformance runs the suite through a real sentinel: the
// Store must find the master by name, not by address.
func TestSentinelConformance(t *testing.T) {
	server := redisTool(t, "redis-server")
	dir := t.TempDir()
	master := startNode(t, server, dir, freePort(t))
	sentinel := startSentinel(t, server, dir, master)
	storetest.RunTests(t, func(t *testing.T, _ func() time.Time) session.Backend {
		return newStoreOn(t, Config{Addrs: []string{sentinel}, MasterName: sentinelMaster})
	})
}

// TestSentinelFailover: after the sentinel promotes the replica, the same
// Store writes to the new master and still reads what it wrote before.
func TestSentinelFailover(t *testing.T) {
	server := redisTool(t, "redis-server")
	dir := t.TempDir()
	ctx := t.Context()
	// Without the delay the master waits 5s for more replicas to sync.
	master := startNode(t, server, dir, freePort(t), "--repl-diskless-sync-delay", "0")
	host, port, _ := net.SplitHostPort(master)
	replica := startNode(t, server, dir, freePort(t), "--replicaof", host, port)
	rc := goredis.NewClient(&goredis.Options{Addr: replica})
	defer rc.Close()
	waitFor(t, "replica in sync", func() error { return wantInfo(ctx, rc, "replication", "master_link_status", "up") })
	// Started after the replica, the sentinel finds it in its first INFO.
	sentinel := startSentinel(t, server, dir, master)
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel})
	defer sc.Close()
	waitFor(t, "sentinel to see the replica", func() error { return knowsReplica(ctx, sc, replica) })

	s := newStoreOn(t, Config{Addrs: []string{sentinel}, MasterName: sentinelMaster}).(*Store)
	defer s.Close()
	r := testRecord(time.Now().Truncate(time.Millisecond))
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "session replicated", func() error {
		return exists(ctx, rc, s.sessionKey(r.ID), s.counterKey("k"))
	})

	start := time.Now()
	// A NOGOODSLAVE answer (the sentinel's view of the replica not yet
	// fresh enough) is retried.
	waitFor(t, "sentinel to start a failover", func() error { return sc.Failover(ctx, sentinelMaster).Err() })
	waitFor(t, "sentinel to report the replica as master", func() error { return reportsMaster(ctx, sc, replica) })
	// The Store moves on the +switch-master event; until it arrives, a
	// write may still reach the old master.
	probe := testRecord(time.Now().Truncate(time.Millisecond))
	probe.ID = "after-failover"
	waitFor(t, "Store to write to the new master", func() error {
		if err := s.Put(ctx, probe); err != nil {
			return err
		}
		return exists(ctx, rc, s.sessionKey(probe.ID))
	})
	t.Logf("Store followed the failover in %v", time.Since(start))

	got, err := s.Get(ctx, r.ID, session.Touch{})
	if err != nil {
		t.Fatalf("Get after failover: %v", err)
	}
	if err := sameSession(got, r); err != nil {
		t.Error(err)
	}
	if n, err := s.Count(ctx, "k"); err != nil || n != 1 {
		t.Errorf("Count after failover = %d, %v; want 1, nil", n, err)
	}
	if rs, err := s.ListUser(ctx, r.UserID); err != nil || len(rs) != 2 {
		t.Errorf("ListUser after failover = %d records, %v; want 2, nil", len(rs), err)
	}
}

// startSentinel starts a sentinel monitoring master and returns its
// address once it reports that master. The sentinel rewrites its config
// file, so the file lives in the test's writable dir.
func startSentinel(t *testing.T, bin, dir, master string) string {
	t.Helper()
	port := freePort(t)
	host, mport, _ := net.SplitHostPort(master)
	conf := filepath.Join(dir, "sentinel-"+port+".conf")
	text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %q\n"+
		"sentinel monitor %[3]s %s %s 1\n"+
		"sentinel down-after-milliseconds %[3]s 1000\n"+
		"sentinel failover-timeout %[3]s 2000\n", port, dir, sentinelMaster, host, mport)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, "sentinel-"+port, bin, conf, "--sentinel")
	addr := "127.0.0.1:" + port
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer sc.Close()
	waitFor(t, "sentinel to report master "+sentinelMaster, func() error { return reportsMaster(t.Context(), sc, master) })
	return addr
}

// reportsMaster checks SENTINEL GET-MASTER-ADDR-BY-NAME.
func reportsMaster(ctx context.Context, sc *goredis.SentinelClient, want string) error {
	a, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result()
	if err != nil {
		return err
	}
	if len(a) != 2 || net.JoinHostPort(a[0], a[1]) != want {
		return fmt.Errorf("got master %v, want %s", a, want)
	}
	return nil
}

// knowsReplica checks that the sentinel lists addr as a replica with a
// working link, which SENTINEL FAILOVER needs to pick it.
func knowsReplica(ctx context.Context, sc *goredis.SentinelClient, addr string) error {
	rs, err := sc.Replicas(ctx, sentinelMaster).Result()
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r["name"] == addr && r["flags"] == "slave" && r["master-link-status"] == "ok" {
			return nil
		}
	}
	return fmt.Errorf("got replicas %v, want %s with a working link", rs, addr)
}

func wantInfo(ctx context.Context, c *goredis.Client, section, field, want string) error {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return err
	}
	if got := infoField(info, field); got != want {
		return fmt.Errorf("got %s:%s, want %s", field, got, want)
	}
	return nil
}

func exists(ctx context.Context, c *goredis.Client, keys ...string) error {
	n, err := c.Exists(ctx, keys...).Result()
	if err != nil {
		return err
	}
	if int(n) != len(keys) {
		return fmt.Errorf("%d of %v exist, want all", n, keys)
	}
	return nil
}
