// Interop driver: signs and verifies webhooks with the providers' official
// npm libraries, for interop_test.go.
//
// Protocol: one JSON request per line on stdin, {"seq": N, "cases": [...]};
// one answer per request on stdout, on a line starting with "@@interop ",
// {"seq": N, "results": [...]}, one result per case in order. Other stdout
// lines (a library's own output) are not part of the protocol. The first
// answer, {"ready": true, "versions": {...}}, comes once every library is
// loaded. Answers carry the headers a signer produced, booleans, public
// keys and libraries' error messages (first line), never a secret or a
// body; nothing is logged here.
//
// Cases:
//   {"op": "keys"} -> {"discord": hex Ed25519 key, "sendgrid": base64 DER P-256 key}
//     generated here; the private halves never leave this process.
//   {"op": "sign", "lib": L, "secret", "id", "ts" (Unix seconds), "body", "url"}
//     -> {"headers": {...}}: the headers L's own signing code produces.
//   {"op": "verify", "lib": L, "secret", "body", "headers", "url"}
//     -> {"ok": true} when L's own verifier accepts the request, else
//        {"ok": false, "error": "..."}.

import crypto from 'node:crypto';
import fs from 'node:fs';
import querystring from 'node:querystring';
import readline from 'node:readline';

const packages = [
  'standardwebhooks', 'svix', 'stripe', '@octokit/webhooks-methods', 'twilio',
  '@shopify/shopify-api', '@slack/bolt', 'square', '@paddle/paddle-node-sdk',
  '@mux/mux-node', '@linear/sdk', 'discord-interactions', '@sendgrid/eventwebhook',
  '@clerk/backend', 'resend', '@hubspot/api-client', 'razorpay',
];

// Every library is loaded before "ready", so that no check waits on a
// load (Paddle's verifier allows 5 seconds after signing).
const [
  standardwebhooks, svix, stripeMod, octokit, twilioMod, shopifyMod, _shopifyWebApi,
  shopifyTest, slack, square, paddle, mux, linear, discord, sendgrid, clerk, resendMod,
  hubspot, razorpayMod,
] = await Promise.all([
  import('standardwebhooks'), import('svix'), import('stripe'), import('@octokit/webhooks-methods'),
  import('twilio'), import('@shopify/shopify-api'), import('@shopify/shopify-api/adapters/web-api'),
  import('@shopify/shopify-api/test-helpers'), import('@slack/bolt'), import('square'),
  import('@paddle/paddle-node-sdk'), import('@mux/mux-node'), import('@linear/sdk/webhooks'),
  import('discord-interactions'), import('@sendgrid/eventwebhook'), import('@clerk/backend/webhooks'),
  import('resend'), import('@hubspot/api-client'), import('razorpay'),
]);
const twilio = twilioMod.default;
const Stripe = stripeMod.default;
const Razorpay = razorpayMod.default;

const versions = {};
for (const p of packages) {
  const url = new URL(`./node_modules/${p}/package.json`, import.meta.url);
  versions[p] = JSON.parse(fs.readFileSync(url, 'utf8')).version;
}

// Keys for the public-key schemes, which no library signs: node:crypto
// signs as the provider would, and the provider's verifier cross-checks.
const ed = crypto.generateKeyPairSync('ed25519');
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const discordKey = ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
const sendgridKey = ec.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

// lower returns headers with lower-case names, as node's http gives them.
function lower(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers || {})) out[k.toLowerCase()] = v;
  return out;
}

const signers = {
  standardwebhooks: (c) => ({
    'webhook-id': c.id,
    'webhook-timestamp': String(c.ts),
    'webhook-signature': new standardwebhooks.Webhook(c.secret).sign(c.id, new Date(c.ts * 1000), c.body),
  }),
  // Svix delivers for Clerk and Resend too, always under svix-* names.
  svix: (c) => ({
    'svix-id': c.id,
    'svix-timestamp': String(c.ts),
    'svix-signature': new svix.Webhook(c.secret).sign(c.id, new Date(c.ts * 1000), c.body),
  }),
  stripe: (c) => ({
    'Stripe-Signature': new Stripe('sk_test_interop').webhooks.generateTestHeaderString({
      payload: c.body, secret: c.secret, timestamp: c.ts,
    }),
  }),
  octokit: async (c) => ({ 'X-Hub-Signature-256': await octokit.sign(c.secret, c.body) }),
  // Form bodies are signed over their parameters; a body with a
  // bodySHA256 URL (JSON) over the URL alone. c.algorithm: HMAC_SHA256
  // for a SharedKey, which also names it in the settings header.
  twilio: (c) => {
    const params = c.url.includes('bodySHA256=') ? {} : querystring.parse(c.body);
    const h = { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(c.secret, c.url, params, c.algorithm) };
    if (c.algorithm) h['X-Twilio-Webhooks-Signature-Settings'] = `key=webhooks_sharedkey_interop,algorithm=${c.algorithm}`;
    return h;
  },
  // The test helper that Shopify's own tests sign webhooks with.
  shopify: async (c) => ({ hmac: await shopifyTest.getHmac(c.body, c.secret) }),
  hubspot: (c) => ({
    'X-HubSpot-Signature-v3': hubspot.Signature.getSignature('POST', 'v3', {
      clientSecret: c.secret, url: c.url, requestBody: c.body, timestamp: c.ts * 1000,
    }),
    'X-HubSpot-Request-Timestamp': String(c.ts * 1000),
  }),
  discord: (c) => ({
    'X-Signature-Ed25519': crypto.sign(null, Buffer.from(String(c.ts) + c.body), ed.privateKey).toString('hex'),
    'X-Signature-Timestamp': String(c.ts),
  }),
  sendgrid: (c) => ({
    'X-Twilio-Email-Event-Webhook-Signature': crypto.sign('sha256', Buffer.from(String(c.ts) + c.body), ec.privateKey).toString('base64'),
    'X-Twilio-Email-Event-Webhook-Timestamp': String(c.ts),
  }),
};

let shopifyApp;
function shopifyApi(secret) {
  if (!shopifyApp || shopifyApp.config.apiSecretKey !== secret) {
    shopifyApp = shopifyMod.shopifyApi({
      apiKey: 'interop', apiSecretKey: secret, scopes: [], hostName: 'localhost',
      apiVersion: shopifyMod.ApiVersion.January26, isEmbeddedApp: false,
      logger: { level: 0, log: () => {} },
    });
  }
  return shopifyApp;
}

// Each verifier returns true, false, or throws; exceptions are refusals.
const verifiers = {
  standardwebhooks: (c) => { new standardwebhooks.Webhook(c.secret).verify(c.body, c.headers); return true; },
  svix: (c) => { new svix.Webhook(c.secret).verify(c.body, c.headers); return true; },
  clerk: async (c) => {
    const req = new Request(c.url, { method: 'POST', headers: c.headers, body: c.body });
    await clerk.verifyWebhook(req, { signingSecret: c.secret });
    return true;
  },
  // Resend's documentation reads the svix-* headers into these fields.
  resend: (c) => {
    new resendMod.Resend('re_interop').webhooks.verify({
      payload: c.body, webhookSecret: c.secret,
      headers: { id: c.h['svix-id'], timestamp: c.h['svix-timestamp'], signature: c.h['svix-signature'] },
    });
    return true;
  },
  stripe: (c) => { new Stripe('sk_test_interop').webhooks.constructEvent(c.body, c.h['stripe-signature'], c.secret); return true; },
  octokit: (c) => octokit.verify(c.secret, c.body, c.h['x-hub-signature-256'] || ''),
  twilio: (c) => {
    const alg = twilio.getSignatureAlgorithm(c.h['x-twilio-webhooks-signature-settings']);
    const sig = c.h['x-twilio-signature'];
    if (c.url.includes('bodySHA256=')) return twilio.validateRequestWithBody(c.secret, sig, c.url, c.body, alg);
    return twilio.validateRequest(c.secret, sig, c.url, querystring.parse(c.body), alg);
  },
  shopify: async (c) => {
    const req = new Request(c.url, { method: 'POST', headers: c.headers, body: c.body });
    const res = await shopifyApi(c.secret).webhooks.validate({ rawBody: c.body, rawRequest: req });
    if (!res.valid) throw new Error(`shopify: ${res.reason}${res.missingHeaders ? ' ' + res.missingHeaders.join(',') : ''}`);
    return true;
  },
  slack: (c) => {
    slack.verifySlackRequest({
      signingSecret: c.secret, body: c.body,
      headers: { 'x-slack-signature': c.h['x-slack-signature'], 'x-slack-request-timestamp': Number(c.h['x-slack-request-timestamp']) },
    });
    return true;
  },
  square: (c) => square.WebhooksHelper.verifySignature({
    requestBody: c.body, signatureHeader: c.h['x-square-hmacsha256-signature'], signatureKey: c.secret, notificationUrl: c.url,
  }),
  paddle: (c) => new paddle.Paddle('pdl_interop').webhooks.isSignatureValid(c.body, c.secret, c.h['paddle-signature']),
  mux: async (c) => {
    await new mux.Mux({ tokenId: 'interop', tokenSecret: 'interop' }).webhooks.verifySignature(c.body, c.headers, c.secret);
    return true;
  },
  linear: (c) => new linear.LinearWebhookClient(c.secret).verify(Buffer.from(c.body), c.h['linear-signature'] || ''),
  hubspot: (c) => hubspot.Signature.isValid({
    signatureVersion: 'v3', method: 'POST', clientSecret: c.secret, requestBody: c.body, url: c.url,
    signature: c.h['x-hubspot-signature-v3'], timestamp: Number(c.h['x-hubspot-request-timestamp']),
  }),
  razorpay: (c) => Razorpay.validateWebhookSignature(c.body, c.h['x-razorpay-signature'], c.secret),
  discord: (c) => discord.verifyKey(c.body, c.h['x-signature-ed25519'], c.h['x-signature-timestamp'], discordKey),
  sendgrid: (c) => {
    const ew = new sendgrid.EventWebhook();
    const key = ew.convertPublicKeyToECDSA(sendgridKey);
    return ew.verifySignature(key, c.body, c.h['x-twilio-email-event-webhook-signature'], c.h['x-twilio-email-event-webhook-timestamp']);
  },
};

// message keeps an error's first line, short: libraries' messages say
// what failed; none of ours should carry more.
function message(e) {
  return String(e && e.message ? e.message : e).split('\n')[0].slice(0, 200);
}

async function run(c) {
  try {
    switch (c.op) {
      case 'keys':
        return { discord: discordKey, sendgrid: sendgridKey };
      case 'sign': {
        const sign = signers[c.lib];
        if (!sign) return { error: `no signer for ${c.lib}` };
        return { headers: await sign(c) };
      }
      case 'verify': {
        const verify = verifiers[c.lib];
        if (!verify) return { error: `no verifier for ${c.lib}` };
        c.h = lower(c.headers);
        const ok = await verify(c);
        return ok === true ? { ok: true } : { ok: false, error: `returned ${ok}` };
      }
    }
    return { error: `unknown op ${c.op}` };
  } catch (e) {
    return { ok: false, error: message(e) };
  }
}

function answer(v) { process.stdout.write('@@interop ' + JSON.stringify(v) + '\n'); }

answer({ ready: true, versions });
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  const results = [];
  for (const c of req.cases) results.push(await run(c));
  answer({ seq: req.seq, results });
}
