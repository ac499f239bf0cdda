package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testgateway"
)

// unavailable fails t under CI=true and skips it otherwise: a CI run never
// passes by silently skipping the interop checks.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("interop: %s", msg)
	}
	t.Skipf("interop: %s (CI=true makes this a failure)", msg)
}

// needNodeModules makes sure node and the pinned libraries are there,
// running `npm ci` when node_modules is missing or older than the lockfile.
func needNodeModules(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node not found on PATH (apt-get install nodejs npm; .ci/run does)")
	}
	lock, err := os.Stat("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if installed, err := os.Stat(filepath.Join("node_modules", ".package-lock.json")); err == nil && !installed.ModTime().Before(lock.ModTime()) {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, "node_modules missing and npm not found on PATH")
	}
	t.Log("interop: running npm ci (node_modules missing or older than package-lock.json)")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, "npm ci failed: %v\n%s", err, out)
	}
	return node
}

// nodeCase is one request to interop.mjs; nodeResult its answer.
type nodeCase struct {
	Op        string            `json:"op"`
	Lib       string            `json:"lib,omitempty"`
	Secret    string            `json:"secret,omitempty"`
	ID        string            `json:"id,omitempty"`
	TS        int64             `json:"ts,omitempty"`
	Body      string            `json:"body,omitempty"`
	URL       string            `json:"url,omitempty"`
	Algorithm string            `json:"algorithm,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
}

type nodeResult struct {
	Headers  map[string]string `json:"headers"`
	OK       bool              `json:"ok"`
	Error    string            `json:"error"`
	Discord  string            `json:"discord"`
	SendGrid string            `json:"sendgrid"`
}

// driver is the one node process, loading every library once.
type driver struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	seq   int
	mu    sync.Mutex
	noise []string // its other output, shown when the test fails
}

const marker = "@@interop "

func startDriver(t *testing.T, node string) *driver {
	t.Helper()
	cmd := exec.Command(node, "interop.mjs")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, cmd: cmd, in: in, lines: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), marker); ok {
				d.lines <- line
				continue
			}
			d.mu.Lock()
			d.noise = append(d.noise, sc.Text())
			d.mu.Unlock()
		}
		close(d.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			d.mu.Lock()
			t.Logf("node output (%d lines) and stderr:\n%s", len(d.noise), scrub(strings.Join(d.noise, "\n")+"\n"+stderr.String(), nil))
			d.mu.Unlock()
		}
	})
	return d
}

// read waits for the next answer.
func (d *driver) read(v any) {
	d.t.Helper()
	select {
	case line, ok := <-d.lines:
		if !ok {
			d.t.Fatal("interop.mjs exited")
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			d.t.Fatalf("interop.mjs answer: %v", err)
		}
	case <-time.After(2 * time.Minute):
		d.t.Fatal("interop.mjs did not answer within 2 minutes")
	}
}

// ready waits until every library is loaded and returns their versions.
func (d *driver) ready() map[string]string {
	d.t.Helper()
	var r struct {
		Ready    bool              `json:"ready"`
		Versions map[string]string `json:"versions"`
	}
	d.read(&r)
	if !r.Ready {
		d.t.Fatal("interop.mjs: no ready line")
	}
	return r.Versions
}

// do runs a batch of cases in the node process.
func (d *driver) do(cases []nodeCase) []nodeResult {
	d.t.Helper()
	d.seq++
	req, _ := json.Marshal(struct {
		Seq   int        `json:"seq"`
		Cases []nodeCase `json:"cases"`
	}{d.seq, cases})
	if _, err := d.in.Write(append(req, '\n')); err != nil {
		d.t.Fatalf("interop.mjs: %v", err)
	}
	var r struct {
		Seq     int          `json:"seq"`
		Results []nodeResult `json:"results"`
	}
	d.read(&r)
	if r.Seq != d.seq || len(r.Results) != len(cases) {
		d.t.Fatalf("interop.mjs answered seq %d with %d results, want seq %d with %d", r.Seq, len(r.Results), d.seq, len(cases))
	}
	return r.Results
}

// ledger collects every check, so that a rejection counts only when its
// valid twin passed, and a summary of what was checked.
type ledger struct {
	t       *testing.T
	passed  map[string]int // by direction
	skipped []string
}

// valid records a check of a valid request.
func (l *ledger) valid(dir, name string, ok bool, detail string) bool {
	l.t.Helper()
	if !ok {
		l.t.Errorf("%s %s: valid request refused: %s", dir, name, detail)
		return false
	}
	l.passed[dir]++
	return true
}

// rejected records a check that a bad request was refused; twinOK says
// whether its valid twin passed.
func (l *ledger) rejected(dir, name string, twinOK, refused bool, detail string) {
	l.t.Helper()
	switch {
	case !twinOK:
		l.skipped = append(l.skipped, dir+" "+name)
	case !refused:
		l.t.Errorf("%s %s: accepted: %s", dir, name, detail)
	default:
		l.passed[dir]++
	}
}

// secrets holds every test secret, for scrub.
var secrets []string

func newSecret(prefix string, n int, b64 bool) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := prefix + hex.EncodeToString(b)
	if b64 {
		s = prefix + base64.StdEncoding.EncodeToString(b)
	}
	secrets = append(secrets, s, strings.TrimPrefix(s, prefix))
	return s
}

// scrub removes secrets and the given values (signatures) from a message
// before it is logged.
func scrub(msg string, values map[string]string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[secret]")
		}
	}
	for _, v := range values {
		if len(v) >= 8 {
			msg = strings.ReplaceAll(msg, v, "[header]")
		}
	}
	return msg
}

func nonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tamper changes one byte of body: the last character of its nonce, so
// that it stays valid JSON or form data.
func tamper(body, n string) string {
	i := strings.LastIndex(body, n)
	if i < 0 {
		panic("tamper: nonce not in body")
	}
	b := []byte(body)
	j := i + len(n) - 1
	if b[j] == '0' {
		b[j] = '1'
	} else {
		b[j] = '0'
	}
	return string(b)
}

// route is one webhook_verify site block of the gateway.
type route struct {
	path, scheme string
	keys         []string // Caddyfile "secret ..." / "public_key ..." lines
}

// signatureHeaders are kept out of the gateway's log.
var signatureHeaders = []string{
	"Webhook-Signature", "Svix-Signature", "Stripe-Signature", "X-Hub-Signature-256", "X-Twilio-Signature",
	"X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256", "X-HubSpot-Signature-v3", "X-Signature-Ed25519",
	"X-Twilio-Email-Event-Webhook-Signature",
}

// recorder is the upstream: it counts each (path, body) it was sent.
type recorder struct {
	mu  sync.Mutex
	got map[string]int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.got[r.URL.Path+"\x00"+string(b)]++
	rec.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rec *recorder) count(path, body string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.got[path+"\x00"+body]
}

// theirs is a webhook that a provider's library signs and that the
// gateway must verify.
type theirs struct {
	name     string
	route    string // gateway path, which names its preset
	lib      string // signer in interop.mjs
	secret   string
	body     func(n string) string
	query    string            // the URL's query, for schemes that sign the URL
	alg      string            // twilio: HMAC_SHA256 for a SharedKey
	stamped  bool              // the scheme signs a timestamp: a stale twin too
	rename   map[string]string // signer's header name -> the one sent
	extra    map[string]string // headers the provider adds, not signed
	idHeader string            // where the provider sends a delivery id, not signed
	ctype    string
}

// ours is a webhook that `hookgate webhook sign` signs and that the
// provider's library must verify.
type ours struct {
	name   string
	scheme string
	lib    string // verifier in interop.mjs
	secret string
	body   func(n string) string
	query  string
	flags  []string
	extra  map[string]string
}

// signed is one of theirs, signed: the headers of the valid request and
// of its stale twin.
type signed struct {
	c              theirs
	nonce, body, u string
	valid, stale   map[string]string
}

func jsonEvent(kind string) func(string) string {
	return func(n string) string {
		return fmt.Sprintf(`{"id":"evt_%s","type":%q,"event_id":"evt_%s","event_type":%q,"created":1700000000,"data":{"nonce":"%s","note":"interop \u00e9"}}`, n, kind, n, kind, n)
	}
}

func twilioForm(n string) string {
	return "AccountSid=AC0001&Body=Hello+%C3%A9+world&From=%2B15550001111&MessageSid=SM" + n + "&To=%2B15552223333"
}

func twilioJSON(n string) string {
	return `{"EventType":"onMessageAdded","Body":"hello","MessageSid":"IM` + n + `"}`
}

// withQuery appends query to u; "?bodySHA256=" gets the body's SHA-256,
// as Twilio sends it with a JSON body.
func withQuery(u, query, body string) string {
	if query == "?bodySHA256=" {
		sum := sha256.Sum256([]byte(body))
		query += hex.EncodeToString(sum[:])
	}
	return u + query
}

// interop is one run: the node driver, the gateway binary, and what was
// checked.
type interop struct {
	t   *testing.T
	d   *driver
	bin string
	l   *ledger
	rec *recorder // the gateway's upstream
}

func TestOfficialLibraries(t *testing.T) {
	if testing.Short() {
		t.Skip("interop starts node and a gateway process; skipped with -short")
	}
	start := time.Now()
	node := needNodeModules(t)

	// Build the gateway while node loads the libraries.
	type built struct {
		bin string
		err error
	}
	binc := make(chan built, 1)
	buildDir := t.TempDir()
	go func() {
		bin, err := testgateway.Build(buildDir)
		binc <- built{bin, err}
	}()
	d := startDriver(t, node)
	versions := d.ready()
	names := make([]string, 0, len(versions))
	for p, v := range versions {
		names = append(names, p+"@"+v)
	}
	slices.Sort(names)
	t.Logf("libraries: %s", strings.Join(names, " "))
	b := <-binc
	if b.err != nil {
		t.Fatal(b.err)
	}
	r := &interop{t: t, d: d, bin: b.bin, l: &ledger{t: t, passed: map[string]int{}}}

	std := newSecret("whsec_", 24, true)
	svixKey := newSecret("whsec_", 24, true)
	stripeKey := newSecret("whsec_", 16, false)
	ghKey := newSecret("gh_", 16, false)
	authToken := newSecret("", 16, false)
	sharedKey := newSecret("sk_", 16, false)
	shopKey := newSecret("shpss_", 16, false)
	hsKey := newSecret("", 18, false)
	shopHeaders := func(prefix string) map[string]string {
		return map[string]string{prefix + "Topic": "orders/create", prefix + "Shop-Domain": "interop.myshopify.com", prefix + "API-Version": "2026-01"}
	}

	// Their signer, our gateway.
	keys := d.do([]nodeCase{{Op: "keys"}})[0]
	base := r.startGateway([]route{
		{"/standard", "standard", []string{"secret " + std}},
		{"/svix", "svix", []string{"secret " + svixKey}},
		{"/clerk", "clerk", []string{"secret " + svixKey}},
		{"/resend", "resend", []string{"secret " + svixKey}},
		{"/stripe", "stripe", []string{"secret " + stripeKey}},
		{"/github", "github", []string{"secret " + ghKey}},
		{"/twilio", "twilio", []string{"secret auth-token " + authToken, "secret shared-key " + sharedKey}},
		{"/shopify", "shopify", []string{"secret " + shopKey}},
		{"/hubspot", "hubspot", []string{"secret " + hsKey}},
		{"/discord", "discord", []string{"public_key " + keys.Discord}},
		{"/sendgrid", "sendgrid", []string{"public_key " + keys.SendGrid}},
	})
	sent := r.theirSigners(base, []theirs{
		{name: "standardwebhooks", route: "/standard", lib: "standardwebhooks", secret: std, body: jsonEvent("invoice.paid"), stamped: true},
		{name: "svix", route: "/svix", lib: "svix", secret: svixKey, body: jsonEvent("invoice.paid"), stamped: true},
		{name: "svix for clerk", route: "/clerk", lib: "svix", secret: svixKey, body: jsonEvent("user.created"), stamped: true},
		{name: "svix for resend", route: "/resend", lib: "svix", secret: svixKey, body: jsonEvent("email.delivered"), stamped: true},
		{name: "stripe", route: "/stripe", lib: "stripe", secret: stripeKey, body: jsonEvent("invoice.paid"), stamped: true},
		{name: "octokit", route: "/github", lib: "octokit", secret: ghKey, body: jsonEvent("push"),
			extra: map[string]string{"X-GitHub-Event": "push"}, idHeader: "X-GitHub-Delivery"},
		{name: "twilio sha1 form", route: "/twilio", lib: "twilio", secret: authToken, body: twilioForm, query: "?channel=sms",
			ctype: "application/x-www-form-urlencoded"},
		{name: "twilio sha256 form", route: "/twilio", lib: "twilio", secret: sharedKey, alg: "HMAC_SHA256", body: twilioForm, query: "?channel=sms",
			ctype: "application/x-www-form-urlencoded"},
		{name: "twilio sha256 json", route: "/twilio", lib: "twilio", secret: sharedKey, alg: "HMAC_SHA256", body: twilioJSON, query: "?bodySHA256="},
		{name: "shopify X- headers", route: "/shopify", lib: "shopify", secret: shopKey, body: jsonEvent("orders/create"),
			rename: map[string]string{"hmac": "X-Shopify-Hmac-Sha256"}, extra: shopHeaders("X-Shopify-"), idHeader: "X-Shopify-Webhook-Id"},
		{name: "shopify events headers", route: "/shopify", lib: "shopify", secret: shopKey, body: jsonEvent("orders/create"),
			rename: map[string]string{"hmac": "Shopify-Hmac-Sha256"}, extra: shopHeaders("Shopify-"), idHeader: "Shopify-Webhook-Id"},
		{name: "hubspot v3", route: "/hubspot", lib: "hubspot", secret: hsKey, query: "?portal=62515", stamped: true,
			body: func(n string) string {
				return `[{"eventId":1,"subscriptionType":"contact.creation","objectId":123,"nonce":"` + n + `"}]`
			}},
		{name: "discord (node:crypto)", route: "/discord", lib: "discord", stamped: true,
			body: func(n string) string { return `{"id":"` + n + `","type":1,"version":1}` }},
		{name: "sendgrid (node:crypto)", route: "/sendgrid", lib: "sendgrid", stamped: true,
			body: func(n string) string {
				return `[{"email":"a@example.com","event":"delivered","sg_event_id":"` + n + `","timestamp":1700000000}]`
			}},
	})

	// Our signer, their verifier; and, for the public-key schemes, their
	// verifier on what node:crypto signed and the gateway verified.
	var cross []signed
	for _, s := range sent {
		if s.c.lib == "discord" || s.c.lib == "sendgrid" {
			cross = append(cross, s)
		}
	}
	r.ourSigner(cross, []ours{
		{name: "standardwebhooks", scheme: "standard", lib: "standardwebhooks", secret: std, body: jsonEvent("invoice.paid")},
		{name: "svix", scheme: "svix", lib: "svix", secret: svixKey, body: jsonEvent("invoice.paid")},
		{name: "@clerk/backend", scheme: "clerk", lib: "clerk", secret: svixKey, body: jsonEvent("user.created")},
		{name: "resend", scheme: "resend", lib: "resend", secret: svixKey, body: jsonEvent("email.delivered")},
		{name: "stripe", scheme: "stripe", lib: "stripe", secret: stripeKey, body: jsonEvent("invoice.paid")},
		{name: "@octokit/webhooks-methods", scheme: "github", lib: "octokit", secret: ghKey, body: jsonEvent("push"), flags: []string{"--type", "push"}},
		{name: "twilio sha1 form", scheme: "twilio", lib: "twilio", secret: authToken, body: twilioForm, query: "?channel=sms"},
		{name: "twilio sha256 form", scheme: "twilio", lib: "twilio", secret: sharedKey, body: twilioForm, query: "?channel=sms", flags: []string{"--algorithm", "sha256"}},
		{name: "twilio sha1 json", scheme: "twilio", lib: "twilio", secret: authToken, body: twilioJSON, query: "?bodySHA256="},
		{name: "@shopify/shopify-api", scheme: "shopify", lib: "shopify", secret: shopKey, body: jsonEvent("orders/create"), flags: []string{"--type", "orders/create"},
			extra: map[string]string{"X-Shopify-Shop-Domain": "interop.myshopify.com", "X-Shopify-API-Version": "2026-01"}},
		{name: "@slack/bolt", scheme: "slack", lib: "slack", secret: newSecret("", 16, false), body: jsonEvent("event_callback")},
		{name: "square", scheme: "square", lib: "square", secret: newSecret("", 11, true), body: jsonEvent("payment.created")},
		{name: "@mux/mux-node", scheme: "mux", lib: "mux", secret: newSecret("", 16, false), body: jsonEvent("video.asset.ready")},
		{name: "@linear/sdk", scheme: "linear", lib: "linear", secret: newSecret("lin_wh_", 16, false), body: jsonEvent("Issue")},
		{name: "@hubspot/api-client", scheme: "hubspot", lib: "hubspot", secret: hsKey, query: "?portal=62515",
			body: func(n string) string {
				return `[{"eventId":1,"subscriptionType":"contact.creation","nonce":"` + n + `"}]`
			}},
		{name: "razorpay", scheme: "razorpay", lib: "razorpay", secret: newSecret("", 12, false), body: jsonEvent("payment.captured")},
		// Paddle's verifier allows 5 seconds after signing: signed last.
		{name: "@paddle/paddle-node-sdk", scheme: "paddle", lib: "paddle", secret: newSecret("pdl_ntfset_", 16, false), body: jsonEvent("transaction.completed")},
	})

	for _, dir := range []string{dirGateway, dirTheirs, dirCross} {
		t.Logf("%s: %d checks passed", dir, r.l.passed[dir])
	}
	if len(r.l.skipped) > 0 {
		t.Logf("not counted (their valid twin failed): %s", strings.Join(r.l.skipped, "; "))
	}
	t.Logf("interop took %s", time.Since(start).Round(time.Millisecond))
}

// The directions checked, as the summary names them.
const (
	dirGateway = "their signer -> gateway"
	dirTheirs  = "our signer -> their verifier"
	dirCross   = "node:crypto signer -> their verifier"
)

// startGateway runs a gateway with one route per preset, in front of a
// recording upstream, and returns its base URL.
func (r *interop) startGateway(routes []route) string {
	rec := &recorder{got: map[string]int{}}
	upstream := httptest.NewServer(rec)
	r.t.Cleanup(upstream.Close)
	r.rec = rec
	var site strings.Builder
	for _, rt := range routes {
		fmt.Fprintf(&site, "\thandle %s {\n\t\twebhook_verify %s {\n", rt.path, rt.scheme)
		for _, k := range rt.keys {
			fmt.Fprintf(&site, "\t\t\t%s\n", k)
		}
		fmt.Fprintf(&site, "\t\t}\n\t\treverse_proxy %s\n\t}\n", upstream.Listener.Addr())
	}
	redact := make([]string, len(signatureHeaders))
	for i, h := range signatureHeaders {
		redact[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	g := testgateway.Start(r.t, r.bin, site.String(), redact...)
	return "http://" + g.Addr
}

// theirSigners signs each case with its provider's library (and a stale
// twin an hour old where the scheme signs a timestamp) and sends it
// through the gateway: valid forwarded once, intact, with a 2xx; one byte
// changed 401 signature_mismatch; stale 401 timestamp_out_of_tolerance.
func (r *interop) theirSigners(base string, cases []theirs) []signed {
	t := r.t
	now := time.Now().Unix()
	var batch []nodeCase
	plan := make([]signed, len(cases))
	for i, c := range cases {
		n := nonce()
		s := signed{c: c, nonce: n, body: c.body(n)}
		s.u = withQuery(base+c.route, c.query, s.body)
		sc := nodeCase{Op: "sign", Lib: c.lib, Secret: c.secret, ID: "msg_" + n, TS: now, Body: s.body, URL: s.u, Algorithm: c.alg}
		batch = append(batch, sc)
		if c.stamped {
			sc.TS, sc.ID = now-3600, sc.ID+"_stale"
			batch = append(batch, sc)
		}
		plan[i] = s
	}
	res := r.d.do(batch)
	headers := func(c theirs, nr nodeResult) map[string]string {
		if nr.Error != "" {
			t.Errorf("%s: their signer failed: %s", c.name, scrub(nr.Error, nil))
			return nil
		}
		h := map[string]string{}
		for k, v := range nr.Headers {
			if to, ok := c.rename[k]; ok {
				k = to
			}
			h[k] = v
		}
		for k, v := range c.extra {
			h[k] = v
		}
		if c.idHeader != "" {
			h[c.idHeader] = "d-" + nonce()
		}
		return h
	}
	i := 0
	for k := range plan {
		plan[k].valid = headers(plan[k].c, res[i])
		i++
		if plan[k].c.stamped {
			plan[k].stale = headers(plan[k].c, res[i])
			i++
		}
	}

	for _, s := range plan {
		if s.valid == nil {
			continue
		}
		code, reason, err := post(s.u, s.body, s.c.ctype, s.valid)
		forwarded := r.rec.count(s.c.route, s.body)
		twin := r.l.valid(dirGateway, s.c.name, err == nil && code/100 == 2 && forwarded == 1,
			fmt.Sprintf("status %d reason %q, forwarded %d times, err %v", code, reason, forwarded, err))

		bad := tamper(s.body, s.nonce)
		code, reason, err = post(s.u, bad, s.c.ctype, s.valid)
		r.l.rejected(dirGateway, s.c.name+": one byte changed", twin,
			err == nil && code == 401 && reason == "signature_mismatch" && r.rec.count(s.c.route, bad) == 0,
			fmt.Sprintf("status %d reason %q, err %v", code, reason, err))

		if s.stale != nil {
			code, reason, err = post(s.u, s.body, s.c.ctype, s.stale)
			r.l.rejected(dirGateway, s.c.name+": signed an hour ago", twin,
				err == nil && code == 401 && reason == "timestamp_out_of_tolerance",
				fmt.Sprintf("status %d reason %q, err %v", code, reason, err))
		}
	}
	return plan
}

// ourSigner signs each case with `hookgate webhook sign` and has the
// provider's library verify it, then the same with one byte of the body
// changed. cross are requests node:crypto signed for the public-key
// schemes, checked by their verifiers the same way.
func (r *interop) ourSigner(cross []signed, cases []ours) {
	type check struct {
		c            ours
		body, bad, u string
		headers      map[string]string
	}
	var checks []check
	for _, c := range cases {
		n := nonce()
		u := withQuery("https://hooks.example.com/"+c.scheme, c.query, c.body(n))
		body, h, err := sign(r.bin, c, "msg_"+n, u, c.body(n))
		if err != nil {
			r.t.Errorf("%s: hookgate webhook sign failed: %s", c.name, scrub(err.Error(), nil))
			continue
		}
		for k, v := range c.extra {
			h[k] = v
		}
		checks = append(checks, check{c: c, body: body, bad: tamper(body, n), u: u, headers: h})
	}
	// The last signed (Paddle's) is checked first.
	slices.Reverse(checks)
	var batch []nodeCase
	for _, k := range checks {
		batch = append(batch,
			nodeCase{Op: "verify", Lib: k.c.lib, Secret: k.c.secret, Body: k.body, Headers: k.headers, URL: k.u},
			nodeCase{Op: "verify", Lib: k.c.lib, Secret: k.c.secret, Body: k.bad, Headers: k.headers, URL: k.u})
	}
	for _, s := range cross {
		if s.valid != nil {
			batch = append(batch,
				nodeCase{Op: "verify", Lib: s.c.lib, Body: s.body, Headers: s.valid},
				nodeCase{Op: "verify", Lib: s.c.lib, Body: tamper(s.body, s.nonce), Headers: s.valid})
		}
	}
	res := r.d.do(batch)
	for i, k := range checks {
		ok, bad := res[2*i], res[2*i+1]
		twin := r.l.valid(dirTheirs, k.c.name, ok.OK, scrub(ok.Error, k.headers))
		r.l.rejected(dirTheirs, k.c.name+": one byte changed", twin, !bad.OK, "their verifier accepted a changed body")
	}
	res = res[2*len(checks):]
	for _, s := range cross {
		if s.valid == nil {
			continue
		}
		ok, bad := res[0], res[1]
		res = res[2:]
		twin := r.l.valid(dirCross, s.c.name, ok.OK, scrub(ok.Error, s.valid))
		r.l.rejected(dirCross, s.c.name+": one byte changed", twin, !bad.OK, "their verifier accepted a changed body")
	}
}

var client = &http.Client{Timeout: 20 * time.Second}

// post sends body to u and returns the status and Hookgate-Reason.
func post(u, body, ctype string, h map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if ctype == "" {
		ctype = "application/json"
	}
	req.Header.Set("Content-Type", ctype)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Hookgate-Reason"), nil
}

// sign runs `hookgate webhook sign` for c and returns the body to send
// (changed only by schemes that sign fields of the body) and the headers.
// The secret goes through the environment, never the command line.
func sign(bin string, c ours, id, u, body string) (string, map[string]string, error) {
	dir, err := os.MkdirTemp("", "hookgate-interop-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "body")
	args := append([]string{"webhook", "sign", "--scheme", c.scheme, "--id", id, "--url", u, "--body-out", out}, c.flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOOKGATE_SECRET="+c.secret)
	cmd.Stdin = strings.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if b, err := os.ReadFile(out); err == nil {
		body = string(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	h := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		name, val, ok := strings.Cut(line, ": ")
		if !ok {
			return "", nil, fmt.Errorf("unexpected output line of %d bytes", len(line))
		}
		h[name] = val
	}
	return body, h, nil
}
