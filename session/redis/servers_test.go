//go:build unix

package redis

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/session"
)

// The Cluster and Sentinel tests start their own redis-server processes on
// free loopback ports: a deployment the test shapes (three masters, a
// master the sentinel fails over) cannot be the shared server on :6379.

// redisTool returns the path of a Redis binary. Missing, it skips the
// test, except under CI=true where testing nothing must not pass.
func redisTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install -y redis-server, which ships redis-server and redis-cli): %v", name, err)
		}
		t.Skipf("%s not installed; %s starts its own Redis processes: %v", name, t.Name(), err)
	}
	return bin
}

// startProcess runs bin with its output in dir/<name>.log, and kills it
// when the test ends, showing the log's tail if the test failed.
func startProcess(t *testing.T, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log (tail):\n%s", name, b[max(0, len(b)-2000):])
		}
	})
}

// startNode starts a redis-server on port with extra arguments, and
// returns its address once it answers PING.
func startNode(t *testing.T, bin, dir, port string, extra ...string) string {
	t.Helper()
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no"}, extra...)
	startProcess(t, dir, "redis-"+port, bin, args...)
	addr := "127.0.0.1:" + port
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	waitFor(t, "redis-server on "+addr+" to answer", func() error { return c.Ping(t.Context()).Err() })
	return addr
}

// clusterPorts picks n free ports whose cluster bus ports (port+10000) are
// free too. It holds every listener until the end so no port is picked
// twice, not even as another node's bus port.
func clusterPorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 200 {
			t.Fatalf("found only %d of %d ports with a free port+10000", len(ports), n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		p := l.Addr().(*net.TCPAddr).Port
		if p+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		held = append(held, bus)
		ports = append(ports, strconv.Itoa(p))
	}
	return ports
}

// infoField returns a field of INFO or CLUSTER INFO output, whose lines
// read "field:value".
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// newStoreOn is a conformance backend on a started deployment, under a
// fresh prefix so subtests sharing the servers start empty.
func newStoreOn(t *testing.T, cfg Config) session.Backend {
	t.Helper()
	cfg.KeyPrefix = "gh-test:" + rand.Text() + ":"
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg.Addrs, err)
	}
	return s
}

// sameSession compares what a Get returns with what was Put.
func sameSession(got, want session.Record) error {
	if got.ID != want.ID || got.UserID != want.UserID || string(got.Data) != string(want.Data) ||
		!got.Expires.Equal(want.Expires) {
		return fmt.Errorf("got %s/%s data %q expires %v, want %s/%s data %q expires %v",
			got.ID, got.UserID, got.Data, got.Expires, want.ID, want.UserID, want.Data, want.Expires)
	}
	return nil
}
