package caddymodule

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

func init() {
	redis.SetLogger(&redisLog{logger: func() *zap.Logger { return caddy.Log() }, limit: rate.NewLimiter(1, 5)})
}

// redisLog sends go-redis's own log lines (a failed dial, a pool notice)
// to Caddy's log, as warnings of the logger "redis", rather than to the
// process's stderr in go-redis's own format. An unreachable server makes
// go-redis log every failed dial: at most one line a second goes on
// (bursts of 5). The lines name addresses, never credentials.
type redisLog struct {
	logger func() *zap.Logger
	limit  *rate.Limiter
}

// Printf implements go-redis's logging interface.
func (l *redisLog) Printf(_ context.Context, format string, v ...any) {
	if !l.limit.Allow() {
		return
	}
	l.logger().Named("redis").Warn(fmt.Sprintf(format, v...))
}
