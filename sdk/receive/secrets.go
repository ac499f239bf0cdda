package receive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/verify"
)

// SecretStore keeps a signing secret that a provider hands over in its
// handshake and shows nowhere else (Asana's X-Hook-Secret). The first
// handshake's secret is kept; later events are verified with it.
type SecretStore interface {
	// Secret returns the kept secret, or "" when none is kept yet.
	Secret(ctx context.Context) (string, error)
	// Keep keeps secret unless a secret is kept already, and returns the
	// one kept afterwards: secret itself, or the earlier one.
	Keep(ctx context.Context, secret string) (kept string, err error)
}

// SecretFile returns a SecretStore that keeps the secret in the file at
// path, created readable by its owner only the first time a secret is
// kept. Instances that share the file (a shared volume) share the secret.
// Remove the file to accept a new handshake (a webhook created again).
func SecretFile(path string) SecretStore { return secretFile(path) }

type secretFile string

func (f secretFile) Secret(context.Context) (string, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// The line end Keep wrote, or an editor did.
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Keep writes the secret to a temporary file and links it into place, so
// that the file appears whole, and only if it did not exist. A kept secret
// is answered with a read alone: handshakes are unsigned, and anyone may
// send one, so they must not cost a write and an fsync each.
func (f secretFile) Keep(ctx context.Context, secret string) (string, error) {
	if kept, err := f.Secret(ctx); err != nil || kept != "" {
		return kept, err
	}
	path := string(f)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hookgate-secret-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(secret + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		// A file system without hard links: create it exclusively instead.
		if err := writeExclusive(path, secret); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	kept, err := f.Secret(ctx)
	if err == nil && kept == "" {
		err = fmt.Errorf("%s: empty", path)
	}
	return kept, err
}

func writeExclusive(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(secret + "\n")
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Errors of the handshake that hands over a secret.
var (
	// ErrHandshakeRefused: a handshake brought a secret other than the one
	// kept for the source.
	ErrHandshakeRefused = errors.New("receive: handshake refused: another secret is kept for this source; remove it to accept a new one")
	// ErrSecretStore: the SecretStore failed.
	ErrSecretStore = errors.New("receive: handshake secret store unavailable")
)

// handshakeKey names the key learned from a handshake, in Event.Key.
const handshakeKey = "handshake"

// secretRecheck spaces the look-ups of a secret kept by another instance.
const secretRecheck = time.Second

// learned is the Receiver's state for Config.Handshake.Secrets.
type learned struct {
	secret    atomic.Pointer[string] // the kept secret this Receiver verifies with
	nextCheck atomic.Int64           // unix nanoseconds; 0: check now
}

// learnSecret makes the Receiver verify with secret (beside the configured
// Verifier's keys), in place of any secret learned before: the store is
// the source of truth.
func (rc *Receiver) learnSecret(secret string) error {
	rc.learnMu.Lock()
	defer rc.learnMu.Unlock()
	if s := rc.learned.secret.Load(); s != nil && *s == secret {
		return nil
	}
	v, err := rc.cfg.Verifier.WithKey(verify.Key{Name: handshakeKey, Secret: secret})
	if err != nil {
		return err
	}
	rc.verifier.Store(v)
	rc.learned.secret.Store(&secret)
	return nil
}

// recheckSecret looks for a kept secret after a signature mismatched: at
// the first mismatch (a secret kept before this Receiver was made), then
// at most once per secretRecheck (one kept by another instance, or a
// webhook made again). It reports whether it learned a new one. The
// caller has checked that Config.Handshake.Secrets is set.
func (rc *Receiver) recheckSecret(ctx context.Context, at time.Time) bool {
	now := at.UnixNano()
	next := rc.learned.nextCheck.Load()
	if now < next || !rc.learned.nextCheck.CompareAndSwap(next, now+int64(secretRecheck)) {
		return false
	}
	s, err := rc.cfg.Handshake.Secrets.Secret(ctx)
	if err != nil || s == "" {
		return false
	}
	if cur := rc.learned.secret.Load(); cur != nil && *cur == s {
		return false
	}
	return rc.learnSecret(s) == nil
}
