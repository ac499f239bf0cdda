package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEventsPurge: `events purge` deletes one event a real gateway
// recorded and leaves the others; purging it again, or a usage error,
// exits with one line saying why.
func TestEventsPurge(t *testing.T) {
	g := startLiveGateway(t, "")
	for _, id := range []string{"evt_p1", "evt_p2"} {
		if st := g.send(id, "invoice.paid", testCLISecret); st != 200 {
			t.Fatalf("send %s: %d", id, st)
		}
		g.waitStatus(id, "delivered")
	}
	res := eventsCLI(t, "purge", "--admin", g.admin, "cli", "evt_p1")
	if res.code != 0 || res.out != "purged cli/evt_p1\n" {
		t.Fatalf("purge: %+v", res)
	}
	res = eventsCLI(t, "list", "--admin", g.admin, "--json")
	var l struct {
		Events []listedEvent `json:"events"`
	}
	if err := json.Unmarshal([]byte(res.out), &l); err != nil || len(l.Events) != 1 || l.Events[0].ID != "evt_p2" {
		t.Fatalf("after purge, listed %+v (%v), want evt_p2 alone", l.Events, err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"purge", "--admin", g.admin, "cli", "evt_p1"}, 1, "event not found (HTTP 404)"},
		{[]string{"purge", "--admin", g.admin, "nosource", "x"}, 1, "records no events"},
		{[]string{"purge", "--admin", g.admin, "cli"}, 2, "want SOURCE ID"},
	} {
		res := eventsCLI(t, c.args...)
		all := res.out + res.errOut
		if res.code != c.code || !strings.Contains(all, c.msg) || strings.Count(strings.TrimSpace(all), "\n") > 0 {
			t.Errorf("%v: exit %d %q, want %d and one line with %q", c.args, res.code, all, c.code, c.msg)
		}
	}
}
