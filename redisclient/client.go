package redisclient

import (
	"crypto/tls"

	"github.com/redis/go-redis/v9"
)

// New returns a client for o: a *redis.Client for a single server, a
// *redis.ClusterClient for Cluster, or a Sentinel-backed *redis.Client. It
// connects lazily, on the first command, so New does no network I/O; its
// error is that of [Options.Validate]. The caller closes the client.
//
// Commands honour their context's deadline as well as the read and write
// timeouts.
func New(o Options) (redis.UniversalClient, error) {
	s, err := o.resolve()
	if err != nil {
		return nil, err
	}
	uo := &redis.UniversalOptions{
		Addrs:                 s.addrs,
		MasterName:            s.masterName,
		IsClusterMode:         s.mode == cluster,
		Username:              s.username,
		Password:              s.password,
		SentinelUsername:      s.sentinelUsername,
		SentinelPassword:      s.sentinelPassword,
		DB:                    s.db,
		PoolSize:              s.poolSize,
		DialTimeout:           s.dialTimeout,
		ReadTimeout:           s.readTimeout,
		WriteTimeout:          s.writeTimeout,
		MaxRetries:            s.maxRetries,
		ContextTimeoutEnabled: true,
		// One dial attempt per connection: a retry comes from MaxRetries,
		// so a dead server fails in one DialTimeout, not five.
		DialerRetries: 1,
	}
	if s.tls {
		// ServerName comes from each address dialled.
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(uo), nil
}
