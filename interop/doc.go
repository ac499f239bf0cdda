// Package interop checks hookgate's presets against the providers' own
// npm libraries. It has no code of its own: everything is in its test.
//
// TestOfficialLibraries runs one node process (interop.mjs) that loads the
// libraries pinned in package-lock.json, and checks both directions:
//
//   - Their signer, our gateway: a webhook signed by the provider's
//     library is sent through a real hookgate process (built from
//     ./cmd/hookgate, one webhook_verify route per preset, a recording
//     upstream): the valid one must be forwarded with a 2xx and its body
//     intact, the same with one byte of the body changed must get 401
//     signature_mismatch, and, where the scheme signs a timestamp, one
//     signed an hour ago must get 401 timestamp_out_of_tolerance.
//   - Our signer, their verifier: `hookgate webhook sign` signs, and the
//     provider's library must accept it and refuse it with one byte of
//     the body changed.
//
// A rejection counts only when its valid twin passed. Discord and
// SendGrid sign with private keys that no library holds: node:crypto
// signs as they do, and their own verifiers and the gateway must agree.
//
// The test runs `npm ci` itself when node_modules is missing or older
// than the lockfile. Without node or npm, or when npm ci fails, it fails
// under CI=true and is skipped otherwise; with -short it is skipped.
//
//	go test -count=1 -v ./interop/
package interop
