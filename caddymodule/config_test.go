package caddymodule

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func mustConfig(t *testing.T, raw []byte) *caddy.Config {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func caddyconfigAdapt(src string) (string, []caddyconfig.Warning, error) {
	out, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	return string(out), warn, err
}
