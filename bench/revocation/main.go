// Command revocation measures how long a revocation made on one gateway
// replica takes to be enforced by the others. It starts N `gatehouse
// serve` processes sharing a fresh PostgreSQL database and a Redis key
// prefix, logs a user in, and for each trial performs one action on
// replica 0 (or through the CLI, as an admin would) while polling every
// other replica every 5 ms with the same cookie until each refuses it:
//
//	logout       POST /.gatehouse/logout on replica 0
//	user-logout  gatehouse user logout (a directory revocation)
//	disable      gatehouse user disable (then enable, outside the timing)
//	policy       gatehouse policy set with an allowlist that excludes
//	             127.0.0.1 (then the old policy again, outside the timing)
//
// A trial's latency is the slowest replica's, measured from the moment
// the action completed (the HTTP response arrived, or the CLI exited:
// its write had committed by then). The CLI's own run time is reported
// apart. Usage: see bench/revocation.sh.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"
)

var (
	bin      = flag.String("bin", "", "gatehouse binary (required)")
	replicas = flag.Int("replicas", 3, "gateway processes")
	trials   = flag.Int("trials", 200, "trials per action")
	actions  = flag.String("actions", "logout,user-logout,disable,policy", "actions to time")
	pgURL    = flag.String("postgres", envOr("GATEHOUSE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL admin URL")
	redis    = flag.String("redis", envOr("GATEHOUSE_TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	poll     = flag.Duration("poll", 5*time.Millisecond, "poll interval")
	timeout  = flag.Duration("timeout", 5*time.Second, "give up on a trial after")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type bench struct {
	cfgs      []string
	dir       string
	urls      []string
	procs     []*exec.Cmd
	client    *http.Client
	password  string
	allowAll  string // policy files
	denyLocal string
}

func main() {
	log.SetFlags(0)
	flag.Parse()
	if *bin == "" {
		log.Fatal("revocation: -bin is required")
	}
	b := &bench{client: &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16},
	}}
	code := 0
	if err := b.run(); err != nil {
		log.Print("revocation: ", err)
		code = 1
	}
	b.cleanup()
	os.Exit(code)
}

var cleanups []func()

func (b *bench) cleanup() {
	for _, p := range b.procs {
		p.Process.Signal(os.Interrupt)
	}
	for _, p := range b.procs {
		p.Wait()
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func randHex(n int) string {
	k := make([]byte, n)
	rand.Read(k)
	return hex.EncodeToString(k)
}

func (b *bench) run() error {
	var err error
	if b.dir, err = os.MkdirTemp("", "gatehouse-revocation-"); err != nil {
		return err
	}
	if os.Getenv("REVOCATION_KEEP") == "" {
		cleanups = append(cleanups, func() { os.RemoveAll(b.dir) })
	} else {
		log.Printf("keeping %s", b.dir)
	}
	dsn, err := createDatabase()
	if err != nil {
		return err
	}
	prefix := "gatehouse:revbench:" + randHex(6) + ":"
	cleanups = append(cleanups, func() { dropPrefix(prefix) })

	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(b.dir, "gatehouse.keys")
	if err := os.WriteFile(keyFile, []byte("k1 "+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return err
	}
	base := "session:\n  store: redis\n  redis: {addrs: [" + *redis + "], key_prefix: \"" + prefix + "\"}\n" +
		"directory: {driver: postgres, dsn: \"" + dsn + "\"}\nsecrets: {key_file: " + keyFile + "}\n"
	for i := range *replicas {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		cfg := filepath.Join(b.dir, fmt.Sprintf("replica%d.yaml", i))
		// A benchmark's replicas stop at once; the drain delay is for load balancers.
		doc := "listen: " + addr + "\npublic_url: http://" + addr + "\nshutdown: {drain_delay: 0s}\n" + base
		if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
			return err
		}
		b.cfgs, b.urls = append(b.cfgs, cfg), append(b.urls, "http://"+addr)
	}
	b.password = randHex(16)
	if out, err := b.cli(b.password+"\n", "user", "add", "--username", "bench", "--email", "bench@example.test", "--role", "sales", "--password-stdin"); err != nil {
		return fmt.Errorf("user add: %v\n%s", err, out)
	}
	policy := "session: {absolute_lifetime: 12h, idle_timeout: 30m}\nmethods: {password: true}\nmfa: {mode: optional, federated: trust_idp}\n"
	b.allowAll = filepath.Join(b.dir, "allow.yaml")
	b.denyLocal = filepath.Join(b.dir, "deny.yaml")
	os.WriteFile(b.allowAll, []byte(policy+"network: {block_tor: login}\n"), 0o600)
	os.WriteFile(b.denyLocal, []byte(policy+"network: {block_tor: login, allow: [192.0.2.0/24]}\n"), 0o600)
	if out, err := b.cli("", "policy", "set", "--file", b.allowAll); err != nil {
		return fmt.Errorf("policy set: %v\n%s", err, out)
	}
	for i := range *replicas {
		cmd := exec.Command(*bin, "serve", "--config", b.cfgs[i])
		cmd.Env = cleanEnv()
		logf, _ := os.Create(filepath.Join(b.dir, fmt.Sprintf("replica%d.log", i)))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		b.procs = append(b.procs, cmd)
	}
	for _, u := range b.urls {
		if err := waitLive(b.client, u); err != nil {
			return err
		}
	}
	fmt.Printf("# %d replicas sharing PostgreSQL and Redis; %d trials per action; poll every %s\n", *replicas, *trials, *poll)
	fmt.Printf("# %-12s %8s %8s %8s %8s %8s   %s\n", "action", "p50", "p90", "p99", "max", "mean", "CLI run time p50 (not included)")
	for _, a := range strings.Split(*actions, ",") {
		lat, cli, err := b.measure(a)
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		line := fmt.Sprintf("  %-12s %8s %8s %8s %8s %8s", a, pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100), mean(lat))
		if len(cli) > 0 {
			line += "   " + pct(cli, 50).String()
		}
		fmt.Println(line)
	}
	return nil
}

// measure runs the trials of one action.
func (b *bench) measure(action string) (lat, cliTimes []time.Duration, err error) {
	var cookie string
	for i := range *trials {
		if cookie == "" {
			if cookie, err = b.freshSession(); err != nil {
				return nil, nil, fmt.Errorf("trial %d: %w", i, err)
			}
		} else if err := b.waitAccepted(cookie); err != nil {
			return nil, nil, fmt.Errorf("trial %d: %w", i, err)
		}
		start := time.Now()
		switch action {
		case "logout":
			req, _ := http.NewRequest("POST", b.urls[0]+"/.gatehouse/logout", nil)
			req.Header.Set("Cookie", cookie)
			resp, err := b.client.Do(req)
			if err != nil {
				return nil, nil, err
			}
			resp.Body.Close()
		case "user-logout":
			_, err = b.cli("", "user", "logout", "bench")
		case "disable":
			_, err = b.cli("", "user", "disable", "bench")
		case "policy":
			_, err = b.cli("", "policy", "set", "--file", b.denyLocal)
		default:
			return nil, nil, fmt.Errorf("unknown action")
		}
		if err != nil {
			return nil, nil, err
		}
		done := time.Now()
		if action != "logout" {
			cliTimes = append(cliTimes, done.Sub(start))
		}
		d, err := b.waitRefused(cookie, done)
		if err != nil {
			return nil, nil, fmt.Errorf("trial %d: %w", i, err)
		}
		lat = append(lat, d)
		switch action {
		case "disable":
			if _, err := b.cli("", "user", "enable", "bench"); err != nil {
				return nil, nil, err
			}
			cookie = "" // disabling ended the sessions
		case "policy":
			if _, err := b.cli("", "policy", "set", "--file", b.allowAll); err != nil {
				return nil, nil, err
			}
			if err := b.waitAccepted(cookie); err != nil {
				return nil, nil, err
			}
		default:
			cookie = ""
		}
	}
	return lat, cliTimes, nil
}

// waitRefused polls replicas 1.. until each refuses cookie, and returns
// the slowest one's time since from.
func (b *bench) waitRefused(cookie string, from time.Time) (time.Duration, error) {
	var wg sync.WaitGroup
	res := make([]time.Duration, len(b.urls))
	errs := make([]error, len(b.urls))
	for i := 1; i < len(b.urls); i++ {
		wg.Go(func() {
			for {
				if b.status(b.urls[i], cookie) != http.StatusOK {
					res[i] = time.Since(from)
					return
				}
				if time.Since(from) > *timeout {
					errs[i] = fmt.Errorf("%s still accepts the session after %s", b.urls[i], *timeout)
					return
				}
				time.Sleep(*poll)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return slices.Max(res), nil
}

func (b *bench) waitAccepted(cookie string) error {
	deadline := time.Now().Add(*timeout)
	for _, u := range b.urls {
		for code := b.status(u, cookie); code != http.StatusOK; code = b.status(u, cookie) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not accept the session (%d)", u, code)
			}
			time.Sleep(*poll)
		}
	}
	return nil
}

// freshSession logs in on replica 0 until every replica accepts the
// session. After "enable", a replica that has not yet heard of it ends a
// new session as a disabled user's; logging in again is then the user's
// only way back, so the bench does the same.
func (b *bench) freshSession() (string, error) {
	deadline := time.Now().Add(*timeout)
	for {
		cookie, err := b.login()
		if err != nil {
			return "", err
		}
		ok := true
		for _, u := range b.urls {
			if b.status(u, cookie) != http.StatusOK {
				ok = false
			}
		}
		if ok {
			return cookie, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no replica-wide session after %s of logins", *timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *bench) status(base, cookie string) int {
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (b *bench) login() (string, error) {
	form := url.Values{"username": {"bench"}, "password": {b.password}, "rd": {"/"}}
	resp, err := b.client.PostForm(b.urls[0]+"/.gatehouse/login", form)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse" && c.Value != "" {
			return "gatehouse=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("login: %d, no session cookie", resp.StatusCode)
}

func (b *bench) cli(stdin string, args ...string) (string, error) {
	cmd := exec.Command(*bin, append(args, "--config", b.cfgs[0])...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// cleanEnv drops GATEHOUSE_* variables, which would override the config.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GATEHOUSE_") {
			env = append(env, e)
		}
	}
	return env
}

func waitLive(c *http.Client, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get(base + "/.gatehouse/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && bytes.Contains(body, []byte(`"invalidation":"live"`)) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready with a live invalidation channel within 30s", base)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func createDatabase() (string, error) {
	u, err := url.Parse(*pgURL)
	if err != nil {
		return "", err
	}
	admin, err := sql.Open("pgx", *pgURL)
	if err != nil {
		return "", err
	}
	name := "gatehouse_revbench_" + randHex(6)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", fmt.Errorf("create database: %w", err)
	}
	cleanups = append(cleanups, func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	u.Path = "/" + name
	return u.String(), nil
}

func dropPrefix(prefix string) {
	c := goredis.NewClient(&goredis.Options{Addr: *redis})
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(10 * time.Microsecond)
}

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return (t / time.Duration(len(ds))).Round(10 * time.Microsecond)
}
