package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/verify"
)

type cliResult struct {
	code        int
	out, errOut string
}

func cli(t *testing.T, stdin string, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runWebhook(args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return cliResult{code, out.String(), errOut.String()}
}

type vector struct {
	ID       string            `json:"id"`
	Provider string            `json:"provider"`
	Secret   string            `json:"secret"`
	Headers  map[string]string `json:"headers"`
	Body     string            `json:"body"`
	URL      string            `json:"url"`
	Now      int64             `json:"now"`
}

var schemeFor = map[string]string{
	"standard-webhooks": "standard", "svix": "standard", "stripe": "stripe", "github": "github",
	"slack": "slack", "shopify": "shopify", "twilio": "twilio", "paddle": "paddle", "square": "square",
}

func vectors(t *testing.T) []vector {
	b, err := os.ReadFile("../../verify/testdata/official.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func (v vector) args(secret string) []string {
	args := []string{"verify", "--scheme", schemeFor[v.Provider], "--secret", secret, "--now", itoa(v.Now)}
	for k, val := range v.Headers {
		args = append(args, "--header", k+": "+val)
	}
	if v.URL != "" {
		args = append(args, "--url", v.URL)
	}
	return args
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestVerifyVectors(t *testing.T) {
	for _, v := range vectors(t) {
		if _, ok := schemeFor[v.Provider]; !ok {
			continue
		}
		t.Run(v.ID, func(t *testing.T) {
			r := cli(t, v.Body, nil, v.args(v.Secret)...)
			if r.code != 0 || !strings.HasPrefix(r.out, "valid ") {
				t.Fatalf("valid vector: code %d out %q err %q", r.code, r.out, r.errOut)
			}
			tampered := []byte(v.Body)
			tampered[len(tampered)/2] ^= 1
			r = cli(t, string(tampered), nil, v.args(v.Secret)...)
			if r.code != 1 || !strings.HasPrefix(r.out, "invalid signature_mismatch") {
				t.Fatalf("tampered body: code %d out %q", r.code, r.out)
			}
			r = cli(t, v.Body, nil, v.args("d2hzZWNfYW5vdGhlcl9zZWNyZXRfZW50aXJlbHk=")...)
			if r.code != 1 {
				t.Fatalf("wrong secret: code %d out %q", r.code, r.out)
			}
			if strings.Contains(r.out+r.errOut, v.Secret) {
				t.Fatalf("output repeats the secret")
			}
		})
	}
}

func TestSignThenVerify(t *testing.T) {
	body := `{"type":"order.created","id":"evt_9","event_id":"evt_9","event_type":"order.created"}`
	for _, name := range verify.Presets() {
		if s, _ := verify.Preset(name); s.PublicKey() || s.SignsBody() || len(s.SignatureHeaders) == 0 {
			continue // public-key, body-signed and token schemes: TestPresetSignThenVerify
		}
		t.Run(name, func(t *testing.T) {
			secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
			b := body
			if name == "twilio" {
				b = "b=2&a=1"
			}
			url := "https://hooks.example.com/in"
			s := cli(t, b, nil, "sign", "--scheme", name, "--secret", secret, "--id", "evt_9", "--timestamp", "1700000000", "--url", url)
			if s.code != 0 {
				t.Fatalf("sign: %d %q", s.code, s.errOut)
			}
			args := []string{"verify", "--scheme", name, "--secret", secret, "--now", "1700000003", "--url", url}
			for _, line := range strings.Split(strings.TrimSpace(s.out), "\n") {
				args = append(args, "--header", line)
			}
			r := cli(t, b, nil, args...)
			if r.code != 0 {
				t.Fatalf("verify signed output %q: %d %q %q", s.out, r.code, r.out, r.errOut)
			}
			r = cli(t, b+" ", nil, args...)
			if r.code != 1 {
				t.Fatalf("verify tampered: %d %q", r.code, r.out)
			}
		})
	}
}

// TestTwilioSHA256 signs as a Twilio SharedKey does (--algorithm sha256):
// the settings header names the hash, and the twilio preset verifies it.
func TestTwilioSHA256(t *testing.T) {
	url := "https://hooks.example.com/sms"
	s := cli(t, "b=2&a=1", nil, "sign", "--scheme", "twilio", "--secret", "sk", "--algorithm", "sha256", "--url", url)
	if s.code != 0 || !strings.Contains(s.out, "X-Twilio-Webhooks-Signature-Settings: algorithm=HMAC_SHA256\n") {
		t.Fatalf("sign: %d %q %q", s.code, s.out, s.errOut)
	}
	args := []string{"verify", "--scheme", "twilio", "--secret", "sk", "--url", url}
	for _, line := range strings.Split(strings.TrimSpace(s.out), "\n") {
		args = append(args, "--header", line)
	}
	if r := cli(t, "b=2&a=1", nil, args...); r.code != 0 {
		t.Fatalf("verify: %d %q %q", r.code, r.out, r.errOut)
	}
	if r := cli(t, "b=2&a=2", nil, args...); r.code != 1 {
		t.Fatalf("verify tampered: %d %q", r.code, r.out)
	}
	if r := cli(t, "{}", nil, "sign", "--scheme", "github", "--secret", "x", "--algorithm", "sha1"); r.code != 2 {
		t.Fatalf("--algorithm on github: %d %q", r.code, r.errOut)
	}
}

func TestGenericHMACFlags(t *testing.T) {
	common := []string{"--scheme", "hmac", "--signature-header", "X-Sig", "--prefix", "sha1=", "--encoding", "base64",
		"--algorithm", "sha1", "--template", "{timestamp}.{body}", "--timestamp-header", "X-Ts", "--id-header", "X-Id"}
	s := cli(t, "hi", map[string]string{"HOOKGATE_SECRET": "envsecret"}, append([]string{"sign", "--timestamp", "1700000000", "--id", "e1"}, common...)...)
	if s.code != 0 || !strings.Contains(s.out, "X-Sig: sha1=") || !strings.Contains(s.out, "X-Ts: 1700000000") {
		t.Fatalf("sign: %d %q %q", s.code, s.out, s.errOut)
	}
	args := append([]string{"verify", "--now", "1700000000"}, common...)
	for _, line := range strings.Split(strings.TrimSpace(s.out), "\n") {
		args = append(args, "--header", line)
	}
	if r := cli(t, "hi", map[string]string{"HOOKGATE_SECRET": "envsecret"}, args...); r.code != 0 || r.out != "valid id=e1 type=\"\" key=key1\n" {
		t.Fatalf("verify: %d %q %q", r.code, r.out, r.errOut)
	}
	// Secret from a file, with a comment and a rotated key.
	f := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(f, []byte("# rotated\nold\nenvsecret\n"), 0o600)
	if r := cli(t, "hi", nil, append(args, "--secret-file", f)...); r.code != 0 || !strings.Contains(r.out, "key=key2") {
		t.Fatalf("secret file: %d %q %q", r.code, r.out, r.errOut)
	}
	// Stale against a tight tolerance.
	if r := cli(t, "hi", map[string]string{"HOOKGATE_SECRET": "envsecret"}, append(args, "--now", "1700000100", "--tolerance", "30s")...); r.code != 1 || !strings.Contains(r.out, "timestamp_out_of_tolerance") {
		t.Fatalf("stale: %d %q", r.code, r.out)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"verify", "--scheme", "nope", "--secret", "x"},
		{"verify", "--scheme", "github"},
		{"verify", "--scheme", "github", "--secret", "x", "--bogus"},
		{"verify", "--scheme", "github", "--secret", "x", "--prefix", "y"},
		{"verify", "--scheme", "github", "--secret", "x", "--tolerance", "soon"},
		{"verify", "--scheme", "github", "--secret", "x", "--header", "no-colon"},
		{"verify", "--scheme", "github", "--secret", "x", "/does/not/exist"},
		{"verify", "--scheme", "standard", "--secret", "whsec_%%%"},
		{"sign", "--scheme", "hmac", "--secret", "x", "--template", "{nope}"},
		{"sign", "--scheme", "twilio", "--secret", "x"},
	}
	for _, args := range cases {
		r := cli(t, "{}", nil, args...)
		if r.code != 2 || r.errOut == "" {
			t.Errorf("%v: code %d err %q, want 2 and a message", args, r.code, r.errOut)
		}
	}
}

// TestBinaryContract builds the real hookgate binary and checks the exit
// codes that scripts depend on.
func TestBinaryContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "hookgate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func(stdin string, args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "HOOKGATE_SECRET=")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	code, out := run(`{"test": 2432232314}`, "webhook", "verify", "--scheme", "standard",
		"--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--now", "1614265330",
		"--header", "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek", "--header", "webhook-timestamp: 1614265330",
		"--header", "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if code != 0 || !strings.HasPrefix(out, "valid id=msg_p5jXN8AQM9LWM0D4loKWxJek") {
		t.Fatalf("valid: %d %q", code, out)
	}
	code, out = run(`{"test": 2432232315}`, "webhook", "verify", "--scheme", "standard",
		"--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--now", "1614265330",
		"--header", "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek", "--header", "webhook-timestamp: 1614265330",
		"--header", "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if code != 1 || !strings.HasPrefix(out, "invalid signature_mismatch") {
		t.Fatalf("invalid: %d %q", code, out)
	}
	if code, out = run("", "webhook", "verify", "--no-such-flag"); code != 2 {
		t.Fatalf("usage: %d %q", code, out)
	}
	if code, out = run("", "webhook", "verify", "--scheme", "github"); code != 2 {
		t.Fatalf("no secret: %d %q", code, out)
	}
	if code, out = run("{}", "webhook", "sign", "--scheme", "github", "--secret", "s"); code != 0 || !strings.Contains(out, "X-Hub-Signature-256: sha256=") {
		t.Fatalf("sign: %d %q", code, out)
	}
	if code, out = run("", "list-modules"); code != 0 || !strings.Contains(out, "http.handlers.reverse_proxy") {
		t.Fatalf("list-modules: %d", code)
	}
}
