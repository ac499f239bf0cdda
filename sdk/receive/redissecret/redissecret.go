// Package redissecret keeps a signing secret that a provider hands over in
// its handshake (Asana's X-Hook-Secret) in Redis: an [receive.SecretStore]
// shared by every instance that uses the same server, as the Redis dedup
// store is. Use a server that persists its data (RDB or AOF): a secret
// lost with the server's memory is given nowhere else, and the webhook
// must then be made again.
package redissecret

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/sdk/receive"
)

// keep sets the key unless it exists, and returns its value either way,
// in one step.
var keep = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
	return ARGV[1]
end
return redis.call('GET', KEYS[1])
`)

type store struct {
	client redis.UniversalClient
	key    string
}

// New returns a SecretStore keeping the secret under key. The secret has
// no expiry; delete the key to accept a new handshake.
func New(client redis.UniversalClient, key string) receive.SecretStore {
	return &store{client: client, key: key}
}

// Secret implements [receive.SecretStore].
func (s *store) Secret(ctx context.Context) (string, error) {
	v, err := s.client.Get(ctx, s.key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// Keep implements [receive.SecretStore].
func (s *store) Keep(ctx context.Context, secret string) (string, error) {
	return keep.Run(ctx, s.client, []string{s.key}, secret).Text()
}
