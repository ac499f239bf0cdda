package main

import (
	"net/textproto"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/hookgate/hookgate/verify"
)

// TestLogFilterCoversEveryPreset: the filter printed for all presets
// deletes every signature and token header of every preset (a preset
// added later is covered without anyone remembering to), and it is a
// Caddyfile log format that Caddy accepts.
func TestLogFilterCoversEveryPreset(t *testing.T) {
	var all strings.Builder
	if err := writeLogFilter(&all, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range verify.Presets() {
		s, _ := verify.Preset(name)
		var one strings.Builder
		if err := writeLogFilter(&one, []string{name}); err != nil {
			t.Fatal(err)
		}
		for _, h := range append(append([]string{}, s.SignatureHeaders...), s.TokenHeaders...) {
			line := "request>headers>" + textproto.CanonicalMIMEHeaderKey(h) + " delete"
			if !strings.Contains(all.String(), line) || !strings.Contains(one.String(), line) {
				t.Errorf("%s: the filter does not delete %s", name, h)
			}
		}
		if s.Handshake == verify.HandshakeAsana && !strings.Contains(one.String(), "X-Hook-Secret delete") {
			t.Errorf("%s: the filter keeps the handshake's X-Hook-Secret", name)
		}
		if s.Handshake == verify.HandshakeMeta && !strings.Contains(one.String(), "delete hub.verify_token") {
			t.Errorf("%s: the filter keeps hub.verify_token", name)
		}
	}
	site := ":0 {\n\tlog {\n\t\t" + strings.ReplaceAll(strings.TrimSpace(all.String()), "\n", "\n\t\t") + "\n\t}\n\trespond 200\n}\n"
	if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(site), nil); err != nil {
		t.Fatalf("Caddy refuses the printed filter: %v\n%s", err, site)
	}
}

// TestCaddyfileExampleFiltersItsScheme: the shipped example deletes every
// secret header of the scheme it serves, in each of its log blocks.
func TestCaddyfileExampleFiltersItsScheme(t *testing.T) {
	src, err := os.ReadFile("../../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	if err := writeLogFilter(&want, []string{"standard"}); err != nil {
		t.Fatal(err)
	}
	blocks := strings.Count(string(src), "format filter {")
	for _, line := range strings.Split(want.String(), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "request>headers>") {
			if n := strings.Count(string(src), line); n != blocks {
				t.Errorf("Caddyfile.example has %q in %d of its %d log filters", line, n, blocks)
			}
		}
	}
}
