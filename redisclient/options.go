package redisclient

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options says how to reach Redis. Set URL, or Addrs and the fields beside
// it; a non-zero field overrides what the URL says. The zero value of every
// other field picks its documented default.
//
// The mode follows from the settings: Sentinel when a master name is
// given, else Cluster when Cluster is set or there are several addresses,
// else a single server.
type Options struct {
	// URL locates Redis. go-redis parses it (redis.ParseURL,
	// redis.ParseClusterURL, redis.ParseFailoverURL), in its forms:
	//
	//	redis://[[user]:password@]host[:port][/db][?param=value&...]   one server
	//	rediss://...                                                   one server, TLS
	//	redis://[[user]:password@]host1:6379?addr=host2:6379&addr=host3:6379
	//	                                        Cluster: the first seed and one addr per other
	//	redis+sentinel://[[user]:password@]sentinel1[:26379][/db]?master_name=mymaster[&addr=sentinel2:26379]
	//	                                        Sentinel (rediss+sentinel: with TLS)
	//
	// The port defaults to 6379 (26379 for the first Sentinel of a
	// redis+sentinel URL), the database to 0. User and password
	// authenticate to Redis; in a Sentinel URL they authenticate to the
	// Sentinels, and the master's go in the username= and password=
	// parameters. Percent-encode reserved characters in them. A redis://
	// URL with master_name= selects Sentinel too, as go-redis's own form.
	//
	// Query parameters are go-redis's, named after the fields of its
	// options in snake case: pool_size, dial_timeout (a plain number is
	// seconds), read_timeout, write_timeout, max_retries, db, and the
	// rest. Unknown parameters are an error.
	URL string

	// Addrs lists host:port addresses, instead of URL: one for a single
	// server, several Cluster seeds, or the Sentinels with MasterName.
	Addrs []string

	// MasterName is the Sentinel master name; setting it selects Sentinel.
	MasterName string

	// Cluster selects Redis Cluster even with one address, such as a
	// managed cluster's configuration endpoint.
	Cluster bool

	// Username and Password authenticate to Redis: an ACL user, or only a
	// password for requirepass.
	Username string
	Password string

	// SentinelUsername and SentinelPassword authenticate to the Sentinels,
	// when they require it.
	SentinelUsername string
	SentinelPassword string

	// DB is the database number. Cluster has only database 0.
	//
	// default: 0
	DB int

	// TLS connects with TLS, verifying each server against the system
	// roots by the name it is dialled by. A rediss URL sets it.
	//
	// default: false
	TLS bool

	// PoolSize is the number of connections kept per server.
	//
	// default: 10 per GOMAXPROCS
	PoolSize int

	// DialTimeout bounds establishing a connection. Must not be negative.
	//
	// default: 1 second
	DialTimeout time.Duration

	// ReadTimeout bounds waiting for a reply. Keep it small: a slow store
	// must fail closed fast. Must not be negative.
	//
	// default: 500 milliseconds
	ReadTimeout time.Duration

	// WriteTimeout bounds sending a command. Must not be negative.
	//
	// default: 500 milliseconds
	WriteTimeout time.Duration

	// MaxRetries is how many times a command that failed on a network
	// error is retried, on a fresh connection; -1 disables retries. The
	// one retry lets a command whose pooled connection died with a
	// restarted server succeed. Retried commands must be safe to repeat;
	// the idempotency store's are.
	//
	// default: 1
	MaxRetries int
}

// Defaults for zero Options fields.
const (
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = 500 * time.Millisecond
	DefaultWriteTimeout = 500 * time.Millisecond
	DefaultMaxRetries   = 1
)

// clientOptions is go-redis's options for one mode: exactly one field is
// set.
type clientOptions struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

// Validate reports whether o is complete and consistent, without any
// network I/O. Its error names the invalid field and never contains a
// password.
func (o Options) Validate() error {
	_, err := o.build()
	return err
}

// build turns o into go-redis's options: parsed from the URL by go-redis,
// or made from Addrs, then with o's fields and the defaults applied.
func (o Options) build() (clientOptions, error) {
	var co clientOptions
	var err error
	switch {
	case o.URL != "" && len(o.Addrs) > 0:
		return co, errors.New("redisclient: Options.URL and Options.Addrs are both set; use one")
	case o.URL != "":
		co, err = o.parseURL()
	case len(o.Addrs) == 0:
		return co, errors.New("redisclient: Options.URL and Options.Addrs are both empty")
	default:
		co, err = o.fromAddrs()
	}
	if err != nil {
		return co, err
	}
	return co, o.apply(co)
}

// parseURL has go-redis parse o.URL in the form its mode takes. Its errors
// never quote the URL, and have any password taken out.
func (o Options) parseURL() (clientOptions, error) {
	var co clientOptions
	u, err := url.Parse(o.URL)
	if err != nil {
		// url.Parse errors quote the URL, and inner ones parts of it.
		return co, errors.New("redisclient: Options.URL is not a valid URL (percent-encode reserved characters in the user name and password)")
	}
	if u.Opaque != "" || u.Host == "" {
		return co, errors.New("redisclient: Options.URL has no host")
	}
	if strings.Contains(u.Host, ",") {
		return co, errors.New("redisclient: Options.URL: name further Cluster seeds with ?addr=host:port, not commas")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	if checkAddr(net.JoinHostPort(u.Hostname(), port)) != nil {
		// Not quoted: it may hold part of a password with an unencoded "/".
		return co, errors.New("redisclient: Options.URL: the host is not a valid host[:port]")
	}
	q := u.Query()
	sentinel := o.MasterName != "" || q.Has("master_name")
	switch u.Scheme {
	case "redis+sentinel", "rediss+sentinel":
		sentinel = true
		u.Scheme = strings.TrimSuffix(u.Scheme, "+sentinel")
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "26379")
		}
	case "redis", "rediss":
	default:
		return co, fmt.Errorf("redisclient: Options.URL: scheme %q is not redis, rediss, redis+sentinel or rediss+sentinel", u.Scheme)
	}
	raw := u.String()
	fail := func(err error) (clientOptions, error) {
		return co, fmt.Errorf("redisclient: Options.URL: %s", redact(strings.TrimPrefix(err.Error(), "redis: "), u))
	}
	switch {
	case sentinel && o.Cluster:
		return co, errors.New("redisclient: Options.MasterName (Sentinel) and Options.Cluster are both set")
	case sentinel:
		if db := strings.Trim(u.Path, "/"); db != "" {
			if _, err := strconv.Atoi(db); err != nil {
				return co, errors.New("redisclient: Options.URL: a Sentinel URL's path is the database number; name the master with ?master_name=")
			}
		}
		if co.failover, err = redis.ParseFailoverURL(raw); err != nil {
			return fail(err)
		}
	case o.Cluster || q.Has("addr"):
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return co, fmt.Errorf("redisclient: Options.URL: database %s, but Cluster has only database 0", strconv.Quote(db))
		}
		if co.cluster, err = redis.ParseClusterURL(raw); err != nil {
			return fail(err)
		}
	default:
		if co.single, err = redis.ParseURL(raw); err != nil {
			return fail(err)
		}
	}
	return co, nil
}

// redact takes the passwords of u out of msg.
func redact(msg string, u *url.URL) string {
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
	}
	for name, vs := range u.Query() {
		if strings.Contains(name, "password") {
			secrets = append(secrets, vs...)
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	return msg
}

// fromAddrs makes go-redis's options for o.Addrs.
func (o Options) fromAddrs() (clientOptions, error) {
	var co clientOptions
	for i, a := range o.Addrs {
		if err := checkAddr(a); err != nil {
			return co, fmt.Errorf("redisclient: Options.Addrs[%d]: %w", i, err)
		}
	}
	addrs := append([]string(nil), o.Addrs...)
	switch {
	case o.MasterName != "" && o.Cluster:
		return co, errors.New("redisclient: Options.MasterName (Sentinel) and Options.Cluster are both set")
	case o.MasterName != "":
		co.failover = &redis.FailoverOptions{SentinelAddrs: addrs}
	case o.Cluster || len(addrs) > 1:
		co.cluster = &redis.ClusterOptions{Addrs: addrs}
	default:
		co.single = &redis.Options{Addr: addrs[0]}
	}
	return co, nil
}

// fields points at the settings that every mode's options share.
type fields struct {
	username, password       *string
	db                       *int // nil for Cluster
	tls                      **tls.Config
	poolSize, maxRetries     *int
	dialTimeout, readTimeout *time.Duration
	writeTimeout             *time.Duration
	contextTimeout           *bool
	dialerRetries            *int
}

func (co clientOptions) fields() fields {
	switch {
	case co.single != nil:
		s := co.single
		return fields{&s.Username, &s.Password, &s.DB, &s.TLSConfig, &s.PoolSize, &s.MaxRetries,
			&s.DialTimeout, &s.ReadTimeout, &s.WriteTimeout, &s.ContextTimeoutEnabled, &s.DialerRetries}
	case co.cluster != nil:
		c := co.cluster
		return fields{&c.Username, &c.Password, nil, &c.TLSConfig, &c.PoolSize, &c.MaxRetries,
			&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout, &c.ContextTimeoutEnabled, &c.DialerRetries}
	default:
		f := co.failover
		return fields{&f.Username, &f.Password, &f.DB, &f.TLSConfig, &f.PoolSize, &f.MaxRetries,
			&f.DialTimeout, &f.ReadTimeout, &f.WriteTimeout, &f.ContextTimeoutEnabled, &f.DialerRetries}
	}
}

// apply sets o's non-zero fields over what the URL said, then the
// defaults where neither said anything, and checks the result.
func (o Options) apply(co clientOptions) error {
	f := co.fields()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(f.username, o.Username)
	set(f.password, o.Password)
	if fo := co.failover; fo != nil {
		set(&fo.MasterName, o.MasterName)
		set(&fo.SentinelUsername, o.SentinelUsername)
		set(&fo.SentinelPassword, o.SentinelPassword)
		if fo.MasterName == "" {
			return errors.New("redisclient: Options.MasterName: Sentinel needs the master's name (master_name= in a URL)")
		}
	}
	switch {
	case o.DB < 0:
		return fmt.Errorf("redisclient: Options.DB %d is negative", o.DB)
	case o.DB != 0 && f.db == nil:
		return fmt.Errorf("redisclient: Options.DB is %d, but Cluster has only database 0", o.DB)
	case o.DB != 0:
		*f.db = o.DB
	}
	if f.db != nil && *f.db < 0 {
		return fmt.Errorf("redisclient: Options.URL: database %d is negative", *f.db)
	}
	if o.TLS && *f.tls == nil {
		*f.tls = &tls.Config{}
	}
	if c := *f.tls; c != nil {
		// The name verified is the one each address is dialled by, not
		// the first host of the URL (which go-redis sets): a Cluster's
		// nodes and a Sentinel's master have names of their own.
		*f.tls = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	}
	switch {
	case o.PoolSize < 0:
		return fmt.Errorf("redisclient: Options.PoolSize %d is negative", o.PoolSize)
	case o.PoolSize > 0:
		*f.poolSize = o.PoolSize
	case *f.poolSize < 0:
		return fmt.Errorf("redisclient: Options.URL: pool_size %d is negative", *f.poolSize)
	}
	for _, d := range []struct {
		field, param string
		v            time.Duration
		dst          *time.Duration
		def          time.Duration
	}{
		{"DialTimeout", "dial_timeout", o.DialTimeout, f.dialTimeout, DefaultDialTimeout},
		{"ReadTimeout", "read_timeout", o.ReadTimeout, f.readTimeout, DefaultReadTimeout},
		{"WriteTimeout", "write_timeout", o.WriteTimeout, f.writeTimeout, DefaultWriteTimeout},
	} {
		switch {
		case d.v < 0:
			return fmt.Errorf("redisclient: Options.%s %v is negative", d.field, d.v)
		case d.v > 0:
			*d.dst = d.v
		case *d.dst < 0:
			return fmt.Errorf("redisclient: Options.URL: %s %v is negative", d.param, *d.dst)
		case *d.dst == 0:
			*d.dst = d.def
		}
	}
	switch {
	case o.MaxRetries < -1:
		return fmt.Errorf("redisclient: Options.MaxRetries %d is below -1", o.MaxRetries)
	case o.MaxRetries != 0:
		*f.maxRetries = o.MaxRetries
	case *f.maxRetries < -1:
		return fmt.Errorf("redisclient: Options.URL: max_retries %d is below -1", *f.maxRetries)
	case *f.maxRetries == 0:
		*f.maxRetries = DefaultMaxRetries
	}
	// Commands honour their context's deadline too.
	*f.contextTimeout = true
	if *f.dialerRetries == 0 {
		// One dial attempt per connection: a retry comes from MaxRetries,
		// so a dead server fails in one DialTimeout, not five.
		*f.dialerRetries = 1
	}
	return nil
}

// checkAddr reports whether a is host:port with a valid port, and an IP
// address or a host name for host.
func checkAddr(a string) error {
	h, p, err := net.SplitHostPort(a)
	if err != nil || h == "" || p == "" {
		return fmt.Errorf("address %q is not host:port", a)
	}
	if net.ParseIP(h) == nil && strings.ContainsFunc(h, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_')
	}) {
		return fmt.Errorf("address %q has an invalid host", a)
	}
	if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("address %q has an invalid port", a)
	}
	return nil
}

// keySecret keys Options.Key, so that a logged Key cannot be used to test
// password guesses.
var keySecret = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
})

// Key returns an identity for o, for sharing one client between users of
// the same settings (for example as a caddy.UsagePool key): equal Options
// give equal keys within one process. It covers every field, passwords
// included, but as a keyed hash: it never reveals them.
func (o Options) Key() string {
	h := hmac.New(sha256.New, keySecret())
	fmt.Fprintf(h, "%q %q %q %t %q %q %q %q %d %t %d %d %d %d %d",
		o.URL, o.Addrs, o.MasterName, o.Cluster,
		o.Username, o.Password, o.SentinelUsername, o.SentinelPassword,
		o.DB, o.TLS, o.PoolSize,
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries)
	return "redis-" + hex.EncodeToString(h.Sum(nil)[:16])
}
