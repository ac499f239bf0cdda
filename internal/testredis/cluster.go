package testredis

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of local redis-server processes, masters only,
// owned by a test.
type Cluster struct {
	// Nodes are the masters; Nodes[i] serves the i-th equal range of slots.
	Nodes []*Server
}

// StartCluster starts a Redis Cluster of masters redis-server processes,
// splits the hash slots evenly between them, and waits until every node
// reports cluster_state:ok. The processes stop in tb.Cleanup. Like Start,
// it fails under CI=true and skips otherwise when redis-server is missing;
// HOOKGATE_TEST_REDIS_URL does not apply.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 1 {
		tb.Fatalf("testredis: StartCluster with %d masters", masters)
	}
	c := &Cluster{}
	for range masters {
		c.Nodes = append(c.Nodes, Start(tb,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // in the server's own --dir
			"--cluster-node-timeout", "5000",
		))
	}
	for i, n := range c.Nodes {
		first, last := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
		if err := addSlots(n.Addr, first, last); err != nil {
			tb.Fatalf("testredis: assign slots %d-%d to %s: %v", first, last, n.Addr, err)
		}
	}
	for _, n := range c.Nodes[1:] {
		host, port, _ := net.SplitHostPort(n.Addr)
		if _, err := Do(c.Nodes[0].Addr, "CLUSTER", "MEET", host, port); err != nil {
			tb.Fatalf("testredis: CLUSTER MEET %s: %v", n.Addr, err)
		}
	}
	if err := c.waitOK(masters, 30*time.Second); err != nil {
		tb.Fatalf("testredis: cluster did not come up: %v", err)
	}
	return c
}

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// URL returns a redis:// URL naming every node: the first as host, the
// others as addr parameters.
func (c *Cluster) URL() string {
	var b strings.Builder
	b.WriteString("redis://" + c.Nodes[0].Addr)
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("addr=" + n.Addr)
	}
	return b.String()
}

// addSlots assigns slots first to last to the node at addr, with
// CLUSTER ADDSLOTSRANGE (Redis 7), or CLUSTER ADDSLOTS before it.
func addSlots(addr string, first, last int) error {
	_, err := Do(addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown subcommand") {
		return err
	}
	args := []string{"CLUSTER", "ADDSLOTS"}
	for s := first; s <= last; s++ {
		args = append(args, strconv.Itoa(s))
	}
	_, err = Do(addr, args...)
	return err
}

// waitOK waits until every node reports cluster_state:ok and knows every
// other node.
func (c *Cluster) waitOK(masters int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	want := "cluster_known_nodes:" + strconv.Itoa(masters)
	for {
		var last string
		ok := true
		for _, n := range c.Nodes {
			info, err := DoBulk(n.Addr, "CLUSTER", "INFO")
			if err != nil {
				last, ok = fmt.Sprintf("%s: %v", n.Addr, err), false
				break
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, want+"\r\n") {
				last, ok = fmt.Sprintf("%s: %q", n.Addr, firstLines(info, 6)), false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %s", limit, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// DoBulk sends one command to the Redis server at addr and returns its
// reply: the text of a bulk or simple string reply, or the number of an
// integer reply. Arrays are not supported.
func DoBulk(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil // nil reply
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unsupported reply %q", line)
}
