package redisclient

import (
	"github.com/redis/go-redis/v9"
)

// New returns a client for o: a *redis.Client for a single server, a
// *redis.ClusterClient for Cluster, or a Sentinel-backed *redis.Client,
// made from go-redis's own options (as its URL parsers return them, with
// o's fields and the defaults applied). It connects lazily, on the first
// command, so New does no network I/O; its error is that of
// [Options.Validate]. The caller closes the client.
//
// Commands honour their context's deadline as well as the read and write
// timeouts.
func New(o Options) (redis.UniversalClient, error) {
	co, err := o.build()
	if err != nil {
		return nil, err
	}
	switch {
	case co.failover != nil:
		return redis.NewFailoverClient(co.failover), nil
	case co.cluster != nil:
		return redis.NewClusterClient(co.cluster), nil
	default:
		return redis.NewClient(co.single), nil
	}
}
