//go:build unix

package redis

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// TestClusterConformance runs the suite on a real three-master Redis
// Cluster: a script naming keys of two slots, or a MULTI across slots,
// would fail here with CROSSSLOT, which a standalone server never reports.
func TestClusterConformance(t *testing.T) {
	addrs := startCluster(t)
	storetest.RunTests(t, func(t *testing.T, _ func() time.Time) session.Backend {
		return newStoreOn(t, Config{Addrs: addrs, Cluster: true})
	})
}

// TestClusterUserIndexAcrossNodes makes sure the suite above exercised the
// cross-slot paths: one user's sessions and index land on several masters,
// and ListUser, DeleteUser and Delete still find them all.
func TestClusterUserIndexAcrossNodes(t *testing.T) {
	addrs := startCluster(t)
	ctx := t.Context()
	s := newStoreOn(t, Config{Addrs: addrs, Cluster: true}).(*Store)
	defer s.Close()
	now := time.Now().Truncate(time.Millisecond)
	const n = 12
	for i := range n {
		r := testRecord(now)
		r.ID = "s" + strconv.Itoa(i)
		if err := s.Put(ctx, r); err != nil {
			t.Fatalf("Put(%s): %v", r.ID, err)
		}
	}
	if got := mastersHolding(t, s); got < 2 {
		t.Fatalf("keys of one user on %d master(s), want them spread over several", got)
	}
	if rs, err := s.ListUser(ctx, "u1"); err != nil || len(rs) != n {
		t.Fatalf("ListUser = %d records, %v; want %d, nil", len(rs), err, n)
	}
	if err := s.Delete(ctx, "s0"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, err := s.DeleteUser(ctx, "u1"); err != nil || got != n-1 {
		t.Fatalf("DeleteUser = %d, %v; want %d, nil", got, err, n-1)
	}
	if got := mastersHolding(t, s); got != 0 {
		t.Errorf("after DeleteUser keys remain on %d master(s), want none", got)
	}
}

// mastersHolding counts the masters that hold keys under s's prefix.
func mastersHolding(t *testing.T, s *Store) int {
	t.Helper()
	cc, ok := s.c.(*goredis.ClusterClient)
	if !ok {
		t.Fatalf("got %T, want a cluster client", s.c)
	}
	var n atomic.Int32 // ForEachMaster calls fn concurrently
	err := cc.ForEachMaster(t.Context(), func(ctx context.Context, c *goredis.Client) error {
		keys, err := c.Keys(ctx, s.prefix+"*").Result()
		if len(keys) > 0 {
			n.Add(1)
		}
		return err
	})
	if err != nil {
		t.Fatalf("scan masters: %v", err)
	}
	return int(n.Load())
}

// startCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli, and returns their addresses once every node reports
// cluster_state:ok, i.e. sees all 16384 slots served.
func startCluster(t *testing.T) []string {
	t.Helper()
	server, cli := redisTool(t, "redis-server"), redisTool(t, "redis-cli")
	dir := t.TempDir()
	var addrs []string
	for _, port := range clusterPorts(t, 3) {
		addrs = append(addrs, startNode(t, server, dir, port,
			"--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+port+".conf")))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		waitFor(t, "cluster_state:ok on "+addr, func() error {
			info, err := c.ClusterInfo(t.Context()).Result()
			if err != nil {
				return err
			}
			if got := infoField(info, "cluster_state"); got != "ok" {
				return fmt.Errorf("got cluster_state:%s", got)
			}
			return nil
		})
		c.Close()
	}
	return addrs
}
