package redisclient_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
)

// roundTrip writes and reads a key through c.
func roundTrip(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 20 { // keys over several Cluster slots
		k := fmt.Sprint("redisclient-test-", i)
		if err := c.Set(ctx, k, "v", time.Minute).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		if v, err := c.Get(ctx, k).Result(); err != nil || v != "v" {
			t.Fatalf("GET: %q, %v", v, err)
		}
	}
}

func newClient(t *testing.T, o redisclient.Options) redis.UniversalClient {
	t.Helper()
	c, err := redisclient.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSingle(t *testing.T) {
	const password = "p@ss:w/rd"
	srv := testredis.Start(t, "--requirepass", password)
	u := "redis://:" + url.QueryEscape(password) + "@" + srv.Addr + "/2?read_timeout=1s"
	c := newClient(t, redisclient.Options{URL: u})
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("got a %T, want a *redis.Client", c)
	}
	roundTrip(t, c)
	if v, err := c.(*redis.Client).ClientInfo(context.Background()).Result(); err != nil || v.DB != 2 {
		t.Fatalf("CLIENT INFO: %+v, %v; want db 2", v, err)
	}

	c = newClient(t, redisclient.Options{Addrs: []string{srv.Addr}, Password: password})
	roundTrip(t, c)

	c = newClient(t, redisclient.Options{Addrs: []string{srv.Addr}, Password: "wrong", MaxRetries: -1})
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("PING with a wrong password succeeded")
	}
}

func TestCluster(t *testing.T) {
	cl := testredis.StartCluster(t, 3)
	for _, o := range []redisclient.Options{
		{URL: cl.URL()},
		{Addrs: cl.Addrs()},
		{Addrs: cl.Addrs()[:1], Cluster: true},
	} {
		c := newClient(t, o)
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Fatalf("%+v: got a %T, want a *redis.ClusterClient", o, c)
		}
		roundTrip(t, c)
	}
}

func TestSentinel(t *testing.T) {
	master := testredis.Start(t)
	sentinel := startSentinel(t, "mymaster", master.Addr)
	c := newClient(t, redisclient.Options{URL: "redis+sentinel://" + sentinel + "/1?master_name=mymaster"})
	roundTrip(t, c)
	// The data went to the master, database 1.
	if n, err := testredis.DoBulk(master.Addr, "EVAL", "redis.call('SELECT', 1) return redis.call('DBSIZE')", "0"); err != nil || n == "0" {
		t.Fatalf("master's database 1 holds %q keys (%v)", n, err)
	}
}

// startSentinel starts a redis-server in Sentinel mode watching the
// master at masterAddr, and returns its address.
func startSentinel(t *testing.T, name, masterAddr string) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testredis.Unavailable(t, "redis-server not found on PATH")
	}
	host, port, _ := net.SplitHostPort(masterAddr)
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testredis.FreePort(t)))
	_, sport, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "sentinel.conf")
	cfg := fmt.Sprintf("port %s\nbind 127.0.0.1\nprotected-mode no\ndir %s\nsentinel monitor %s %s %s 1\n",
		sport, dir, name, host, port)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "sentinel.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("redis-server", conf, "--sentinel", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		testredis.Unavailable(t, "start redis-server --sentinel: "+err.Error())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("sentinel output:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := testredis.Do(addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err == nil && r != "*-1" {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel on %s did not come up: %q, %v", addr, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNewNoNetwork checks that New dials nothing, in every mode.
func TestNewNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	a := ln.Addr().String()
	for _, o := range []redisclient.Options{
		{Addrs: []string{a}},
		{Addrs: []string{a, a}},
		{Addrs: []string{a}, Cluster: true},
		{Addrs: []string{a}, MasterName: "m"},
	} {
		c, err := redisclient.New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	time.Sleep(100 * time.Millisecond) // give a background dial the chance to show
	if n := accepted.Load(); n != 0 {
		t.Fatalf("New opened %d connections", n)
	}
}
