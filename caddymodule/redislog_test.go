package caddymodule

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"
)

// go-redis's log lines go to Caddy's log as warnings of "redis", and a
// flood of them (a server down: one per failed dial) is thinned out.
func TestRedisLog(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := &redisLog{logger: func() *zap.Logger { return zap.New(core) }, limit: rate.NewLimiter(0, 3)}
	for range 10 {
		l.Printf(context.Background(), "redis: failed to dial after %d attempts: %s", 5, "dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	got := logs.All()
	if len(got) != 3 {
		t.Fatalf("%d lines logged, want the burst of 3", len(got))
	}
	if e := got[0]; e.LoggerName != "redis" || e.Level != zapcore.WarnLevel ||
		e.Message != "redis: failed to dial after 5 attempts: dial tcp 127.0.0.1:6379: connect: connection refused" {
		t.Fatalf("logged %+v", e)
	}
}
