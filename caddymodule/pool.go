package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/redisclient"
)

// pool shares Redis clients, in-memory dedup stores and local rate
// limiters across config reloads and between handlers that name the same
// thing: a reload keeps what the old config remembered, and two handlers
// pointing at one Redis use one client. Keys never contain secrets
// (redisclient.Options.Key hashes the password).
var pool = caddy.NewUsagePool()

type pooledValue struct {
	v        any
	destruct func() error
}

func (p *pooledValue) Destruct() error {
	if p.destruct != nil {
		return p.destruct()
	}
	return nil
}

// pooled loads the value under key, building it when absent, and records
// the key so that Cleanup releases it. A key is recorded only once its
// value exists, so a Cleanup after a failed Provision releases nothing it
// did not take.
func (h *Handler) pooled(key string, build func() (any, func() error, error)) (any, error) {
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		v, destruct, err := build()
		if err != nil {
			return nil, err
		}
		return &pooledValue{v: v, destruct: destruct}, nil
	})
	if err != nil {
		return nil, err
	}
	h.poolKeys = append(h.poolKeys, key)
	return val.(*pooledValue).v, nil
}

// redisClient returns the shared client for the handler's Redis settings.
// It does no network I/O, so `caddy validate` works without Redis.
func (h *Handler) redisClient() (redis.UniversalClient, error) {
	o, err := h.redisOptions()
	if err != nil {
		return nil, err
	}
	v, err := h.pooled("redis|"+o.Key(), func() (any, func() error, error) {
		c, err := redisclient.New(o)
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(redis.UniversalClient), nil
}
