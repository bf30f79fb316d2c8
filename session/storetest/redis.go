package storetest

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisAddrEnv names the variable that points tests at a Redis server.
const RedisAddrEnv = "GATEHOUSE_TEST_REDIS_ADDR"

// RedisAddr returns the address of the Redis server for tests, from
// GATEHOUSE_TEST_REDIS_ADDR or 127.0.0.1:6379, after checking that it
// answers PING. An unreachable server skips the test, except under CI=true
// where it fails it: CI must not go green by testing nothing.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(RedisAddrEnv)
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 2 * time.Second, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s unreachable (set %s): %v", addr, RedisAddrEnv, err)
		}
		t.Skipf("redis at %s unreachable; set %s to a running server: %v", addr, RedisAddrEnv, err)
	}
	return addr
}

// RedisPrefix returns a key prefix unique to this test, "gh-test:<random>:",
// and deletes every key under it when the test ends.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	addr := RedisAddr(t)
	prefix := "gh-test:" + rand.Text() + ":"
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleanup %s: %v", iter.Val(), err)
				return
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup scan %s*: %v", prefix, err)
		}
	})
	return prefix
}
