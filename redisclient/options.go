package redisclient

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options says how to reach Redis. Set URL, or Addrs and the fields beside
// it; a non-zero field overrides what the URL says. The zero value of every
// other field picks its documented default.
//
// The mode follows from the settings: Sentinel when a master name is
// given, else Cluster when Cluster is set or there are several addresses,
// else a single server.
type Options struct {
	// URL locates Redis:
	//
	//	redis://[[user]:password@]host[:port][/db][?param=value&...]
	//	rediss://...                              TLS
	//	redis://host1:6379,host2:6379,host3:6379  Cluster seeds
	//	redis://host1:6379?addr=host2:6379&addr=host3:6379
	//	redis+sentinel://[[user]:password@]sentinel1:26379[,sentinel2:26379]/mastername[/db]
	//	rediss+sentinel://...                     Sentinel, with TLS
	//
	// The port defaults to 6379 (26379 for Sentinel), the database to 0.
	// User and password authenticate to Redis (to the master, with
	// Sentinel); percent-encode reserved characters in them. IPv6 seeds
	// after the first go in addr parameters.
	//
	// Query parameters, each naming the field it sets:
	//
	//	addr=host:port             one more address (repeat for several)
	//	cluster=true               Cluster
	//	pool_size=N                PoolSize
	//	dial_timeout=1s            DialTimeout (a plain number is seconds)
	//	read_timeout=500ms         ReadTimeout
	//	write_timeout=500ms        WriteTimeout
	//	max_retries=N              MaxRetries
	//	sentinel_username=name     SentinelUsername
	//	sentinel_password=secret   SentinelPassword
	//
	// Other parameters are an error.
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

	// TLS connects with TLS, verifying the server against the system
	// roots. A rediss URL sets it.
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

type mode int

const (
	single mode = iota
	cluster
	sentinel
)

// settings are Options resolved: URL parsed, fields applied, defaults set.
type settings struct {
	mode                               mode
	addrs                              []string
	masterName                         string
	username, password                 string
	sentinelUsername, sentinelPassword string
	db                                 int
	tls                                bool
	poolSize                           int
	dialTimeout                        time.Duration
	readTimeout, writeTimeout          time.Duration
	maxRetries                         int
}

// Validate reports whether o is complete and consistent, without any
// network I/O. Its error names the invalid field and never contains a
// password.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}

func (o Options) resolve() (*settings, error) {
	s := &settings{}
	if o.URL != "" {
		if len(o.Addrs) > 0 {
			return nil, errors.New("redisclient: Options.URL and Options.Addrs are both set; use one")
		}
		if err := parseURL(o.URL, s); err != nil {
			return nil, err
		}
	} else {
		if len(o.Addrs) == 0 {
			return nil, errors.New("redisclient: Options.URL and Options.Addrs are both empty")
		}
		for i, a := range o.Addrs {
			if err := checkAddr(a); err != nil {
				return nil, fmt.Errorf("redisclient: Options.Addrs[%d]: %w", i, err)
			}
		}
		s.addrs = append([]string(nil), o.Addrs...)
	}

	// Fields override the URL.
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.masterName, o.MasterName)
	set(&s.username, o.Username)
	set(&s.password, o.Password)
	set(&s.sentinelUsername, o.SentinelUsername)
	set(&s.sentinelPassword, o.SentinelPassword)
	if o.Cluster {
		s.mode = cluster
	}
	if o.DB != 0 {
		s.db = o.DB
	}
	if o.TLS {
		s.tls = true
	}
	if o.PoolSize != 0 {
		s.poolSize = o.PoolSize
	}
	if o.DialTimeout != 0 {
		s.dialTimeout = o.DialTimeout
	}
	if o.ReadTimeout != 0 {
		s.readTimeout = o.ReadTimeout
	}
	if o.WriteTimeout != 0 {
		s.writeTimeout = o.WriteTimeout
	}
	if o.MaxRetries != 0 {
		s.maxRetries = o.MaxRetries
	}

	switch {
	case s.masterName != "" && s.mode == cluster:
		return nil, errors.New("redisclient: Options.MasterName (Sentinel) and Options.Cluster are both set")
	case s.masterName != "":
		s.mode = sentinel
	case len(s.addrs) > 1:
		s.mode = cluster
	}
	if s.mode == cluster && s.db != 0 {
		return nil, fmt.Errorf("redisclient: Options.DB is %d, but Cluster has only database 0", s.db)
	}
	if s.db < 0 {
		return nil, fmt.Errorf("redisclient: Options.DB %d is negative", s.db)
	}
	if s.poolSize < 0 {
		return nil, fmt.Errorf("redisclient: Options.PoolSize %d is negative", s.poolSize)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DialTimeout", &s.dialTimeout, DefaultDialTimeout},
		{"ReadTimeout", &s.readTimeout, DefaultReadTimeout},
		{"WriteTimeout", &s.writeTimeout, DefaultWriteTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("redisclient: Options.%s %v is negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch {
	case s.maxRetries < -1:
		return nil, fmt.Errorf("redisclient: Options.MaxRetries %d is below -1", s.maxRetries)
	case s.maxRetries == 0:
		s.maxRetries = DefaultMaxRetries
	}
	return s, nil
}

// parseURL fills s from raw. Its errors never quote raw, which may hold a
// password.
func parseURL(raw string, s *settings) error {
	raw, hosts := splitHosts(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the URL, and inner ones parts of it.
		return errors.New("redisclient: Options.URL is not a valid URL (percent-encode reserved characters in the user name and password)")
	}
	defaultPort := "6379"
	switch u.Scheme {
	case "redis":
	case "rediss":
		s.tls = true
	case "redis+sentinel":
		s.mode, defaultPort = sentinel, "26379"
	case "rediss+sentinel":
		s.mode, defaultPort, s.tls = sentinel, "26379", true
	default:
		return fmt.Errorf("redisclient: Options.URL: scheme %q is not redis, rediss, redis+sentinel or rediss+sentinel", u.Scheme)
	}
	if u.Opaque != "" || len(hosts) == 0 {
		return errors.New("redisclient: Options.URL has no host")
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	for i, h := range hosts {
		a, err := withPort(h, defaultPort)
		if err == nil {
			err = checkAddr(a)
		}
		if err != nil {
			// Not quoted: a password with an unencoded "/" lands here.
			return fmt.Errorf("redisclient: Options.URL: host %d of %d is not a valid host[:port]", i+1, len(hosts))
		}
		s.addrs = append(s.addrs, a)
	}

	path := strings.Trim(u.Path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	if s.mode == sentinel {
		if len(parts) == 0 {
			return errors.New("redisclient: Options.URL: a Sentinel URL needs the master name as its path")
		}
		s.masterName, parts = parts[0], parts[1:]
	}
	switch len(parts) {
	case 0:
	case 1:
		if s.db, err = strconv.Atoi(parts[0]); err != nil || s.db < 0 {
			return fmt.Errorf("redisclient: Options.URL: database %q is not a number", parts[0])
		}
	default:
		return fmt.Errorf("redisclient: Options.URL: path %q has too many parts", u.Path)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("redisclient: Options.URL: malformed query")
	}
	for name, vs := range q {
		v := vs[len(vs)-1]
		var err error
		switch name {
		case "addr":
			for _, a := range vs {
				if err = checkAddr(a); err != nil {
					break
				}
				s.addrs = append(s.addrs, a)
			}
		case "cluster":
			var on bool
			if on, err = strconv.ParseBool(v); on {
				s.mode = cluster
			}
		case "pool_size":
			s.poolSize, err = strconv.Atoi(v)
		case "dial_timeout":
			s.dialTimeout, err = parseDuration(v)
		case "read_timeout":
			s.readTimeout, err = parseDuration(v)
		case "write_timeout":
			s.writeTimeout, err = parseDuration(v)
		case "max_retries":
			s.maxRetries, err = strconv.Atoi(v)
		case "sentinel_username":
			s.sentinelUsername = v
		case "sentinel_password":
			s.sentinelPassword = v
		default:
			return fmt.Errorf("redisclient: Options.URL: unknown query parameter %q", name)
		}
		if err != nil {
			return fmt.Errorf("redisclient: Options.URL: query parameter %s=%q: %w", name, v, unwrapNum(err))
		}
	}
	if s.mode == cluster && s.masterName != "" {
		return errors.New("redisclient: Options.URL: cluster=true with a Sentinel URL")
	}
	return nil
}

// splitHosts takes the comma-separated hosts out of raw's authority, which
// url.Parse would reject, and puts one placeholder host in their place.
func splitHosts(raw string) (string, []string) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw, nil
	}
	auth := raw[i+3:]
	end := strings.IndexAny(auth, "/?#")
	if end < 0 {
		end = len(auth)
	}
	at := strings.LastIndexByte(auth[:end], '@') + 1
	if at == end {
		return raw, nil
	}
	hosts := strings.Split(auth[at:end], ",")
	return raw[:i+3] + auth[:at] + "host" + auth[end:], hosts
}

// parseDuration accepts Go durations and, as go-redis does, a plain number
// of seconds.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// unwrapNum drops strconv's quoting of the whole input.
func unwrapNum(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// withPort adds port to host unless it has one.
func withPort(host, port string) (string, error) {
	if host == "" {
		return "", errors.New("empty host")
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host, nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.JoinHostPort(h, port), nil
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
