package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/idempotencytest"
	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
)

// TestCluster runs the contract on a 3-master Redis Cluster, then spreads
// claims over its slots.
func TestCluster(t *testing.T) {
	cl := testredis.StartCluster(t, 3)
	client := newClient(t, redisclient.Options{URL: cl.URL()})

	t.Run("Contract", func(t *testing.T) {
		idempotencytest.TestStore(t, idempotencytest.Harness{
			New: func(t *testing.T) (idempotency.Store, func(time.Duration)) {
				s, _ := newStore(t, client)
				return s, nil
			},
			// One key's atomicity is one master's, as on a single
			// server (1000 rounds in TestContract); fewer rounds
			// keep the suite fast.
			Rounds: 250,
		})
	})

	t.Run("Spread", func(t *testing.T) {
		ctx := context.Background()
		s, _ := newStore(t, client)
		d, err := idempotency.New(idempotency.Config{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		before := dbsizes(t, cl)
		const n = 1500
		for i := range n {
			id := fmt.Sprint("evt_", i)
			c, err := d.Claim(ctx, "stripe", id)
			if err != nil {
				t.Fatalf("Claim(%s): %v", id, err)
			}
			if err := c.Complete(ctx); err != nil {
				t.Fatalf("Complete(%s): %v", id, err)
			}
		}
		for i := range n {
			id := fmt.Sprint("evt_", i)
			if _, err := d.Claim(ctx, "stripe", id); !errors.Is(err, idempotency.ErrDuplicate) {
				t.Fatalf("Claim(%s) again: got %v, want ErrDuplicate", id, err)
			}
		}
		total := 0
		for i, size := range dbsizes(t, cl) {
			added := size - before[i]
			if added == 0 {
				t.Errorf("node %s holds none of the %d keys", cl.Nodes[i].Addr, n)
			}
			total += added
		}
		if total != n {
			t.Errorf("the nodes hold %d new keys, want %d", total, n)
		}
	})
}

func dbsizes(t *testing.T, cl *testredis.Cluster) []int {
	t.Helper()
	sizes := make([]int, len(cl.Nodes))
	for i, n := range cl.Nodes {
		v, err := n.Do("DBSIZE")
		if err != nil {
			t.Fatal(err)
		}
		if sizes[i], err = strconv.Atoi(v[1:]); err != nil { // ":N"
			t.Fatalf("DBSIZE reply %q", v)
		}
	}
	return sizes
}
