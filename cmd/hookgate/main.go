// Command hookgate is Caddy with the hookgate webhook verification module
// built in, plus the `hookgate webhook sign|verify|send` commands.
//
//	hookgate run --config Caddyfile.example
//	hookgate webhook verify --scheme stripe --secret-file stripe.key body.json
//
// It is built like Caddy's own cmd/caddy/main.go: the standard modules, our
// module, and Caddy's command line. No xcaddy is needed.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/hookgate/hookgate/caddymodule"
)

func main() {
	caddycmd.Main()
}
