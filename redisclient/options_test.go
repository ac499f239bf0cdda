package redisclient

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"
)

// view is what a test checks of the go-redis options Options build.
type view struct {
	mode                       string
	addrs                      []string
	master                     string
	username, password         string
	sentinelUser, sentinelPass string
	db                         int
	tls                        bool
	poolSize, maxRetries       int
	dial, read, write          time.Duration
	contextTimeout             bool
	dialerRetries              int
}

func (co clientOptions) view() view {
	var v view
	switch {
	case co.single != nil:
		s := co.single
		v = view{"single", []string{s.Addr}, "", s.Username, s.Password, "", "", s.DB, s.TLSConfig != nil,
			s.PoolSize, s.MaxRetries, s.DialTimeout, s.ReadTimeout, s.WriteTimeout, s.ContextTimeoutEnabled, s.DialerRetries}
	case co.cluster != nil:
		c := co.cluster
		v = view{"cluster", c.Addrs, "", c.Username, c.Password, "", "", 0, c.TLSConfig != nil,
			c.PoolSize, c.MaxRetries, c.DialTimeout, c.ReadTimeout, c.WriteTimeout, c.ContextTimeoutEnabled, c.DialerRetries}
	case co.failover != nil:
		f := co.failover
		v = view{"sentinel", f.SentinelAddrs, f.MasterName, f.Username, f.Password, f.SentinelUsername, f.SentinelPassword, f.DB, f.TLSConfig != nil,
			f.PoolSize, f.MaxRetries, f.DialTimeout, f.ReadTimeout, f.WriteTimeout, f.ContextTimeoutEnabled, f.DialerRetries}
	}
	return v
}

// TestBuild checks the go-redis options built for each URL form and for
// fields, with the defaults filled in where neither says anything.
func TestBuild(t *testing.T) {
	defaults := func(v view) view {
		if v.dial == 0 {
			v.dial = DefaultDialTimeout
		}
		if v.read == 0 {
			v.read = DefaultReadTimeout
		}
		if v.write == 0 {
			v.write = DefaultWriteTimeout
		}
		if v.maxRetries == 0 {
			v.maxRetries = DefaultMaxRetries
		}
		v.contextTimeout, v.dialerRetries = true, 1
		return v
	}
	for _, tt := range []struct {
		name string
		o    Options
		want view
	}{
		{"URL", Options{URL: "redis://localhost"},
			defaults(view{mode: "single", addrs: []string{"localhost:6379"}})},
		{"URLFull", Options{URL: "rediss://u:p%40ss@h:7000/3?pool_size=20&dial_timeout=2&read_timeout=250ms&write_timeout=1s&max_retries=-1"},
			defaults(view{mode: "single", addrs: []string{"h:7000"}, username: "u", password: "p@ss", db: 3, tls: true,
				poolSize: 20, dial: 2 * time.Second, read: 250 * time.Millisecond, write: time.Second, maxRetries: -1})},
		{"IPv6", Options{URL: "redis://[::1]"},
			defaults(view{mode: "single", addrs: []string{"[::1]:6379"}})},
		{"ClusterAddrParams", Options{URL: "redis://:pw@a:1?addr=b:2&addr=[::1]:3"},
			defaults(view{mode: "cluster", addrs: []string{"a:1", "b:2", "[::1]:3"}, password: "pw"})},
		{"ClusterOneSeed", Options{URL: "redis://cfg.example:6379", Cluster: true},
			defaults(view{mode: "cluster", addrs: []string{"cfg.example:6379"}})},
		{"Sentinel", Options{URL: "redis+sentinel://su:sp@s1/2?master_name=mymaster&addr=s2:26380&password=pw"},
			defaults(view{mode: "sentinel", addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster", db: 2,
				password: "pw", sentinelUser: "su", sentinelPass: "sp"})},
		{"SentinelTLS", Options{URL: "rediss+sentinel://s1?master_name=m"},
			defaults(view{mode: "sentinel", addrs: []string{"s1:26379"}, master: "m", tls: true})},
		{"SentinelGoRedisForm", Options{URL: "redis://s1:26379?master_name=m"},
			defaults(view{mode: "sentinel", addrs: []string{"s1:26379"}, master: "m"})},
		{"SentinelMasterField", Options{URL: "redis+sentinel://s1:5000", MasterName: "m"},
			defaults(view{mode: "sentinel", addrs: []string{"s1:5000"}, master: "m"})},
		{"Addrs", Options{Addrs: []string{"h:1"}, DB: 4, Password: "x", TLS: true},
			defaults(view{mode: "single", addrs: []string{"h:1"}, db: 4, password: "x", tls: true})},
		{"AddrsCluster", Options{Addrs: []string{"h:1", "h:2"}},
			defaults(view{mode: "cluster", addrs: []string{"h:1", "h:2"}})},
		{"AddrsSentinel", Options{Addrs: []string{"h:1", "h:2"}, MasterName: "m", SentinelPassword: "sp"},
			defaults(view{mode: "sentinel", addrs: []string{"h:1", "h:2"}, master: "m", sentinelPass: "sp"})},
		{"FieldsOverrideURL", Options{URL: "redis://u:p@h/1?pool_size=3", Password: "q", DB: 2, PoolSize: 7, ReadTimeout: time.Second},
			defaults(view{mode: "single", addrs: []string{"h:6379"}, username: "u", password: "q", db: 2, poolSize: 7, read: time.Second})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			co, err := tt.o.build()
			if err != nil {
				t.Fatal(err)
			}
			if got := co.view(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestBuildTLSName: go-redis names the URL's first host as the TLS
// server name; each node of a Cluster, and a Sentinel's master, must be
// verified by its own name instead.
func TestBuildTLSName(t *testing.T) {
	for _, u := range []string{"rediss://a:1?addr=b:2", "rediss+sentinel://s1?master_name=m", "rediss://h:1"} {
		co, err := Options{URL: u}.build()
		if err != nil {
			t.Fatal(err)
		}
		var c *tls.Config
		switch {
		case co.single != nil:
			c = co.single.TLSConfig
		case co.cluster != nil:
			c = co.cluster.TLSConfig
		default:
			c = co.failover.TLSConfig
		}
		if c == nil || c.ServerName != "" || c.MinVersion != tls.VersionTLS12 {
			t.Errorf("%s: TLS config %+v, want TLS 1.2 and no fixed server name", u, c)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	for _, tt := range []struct {
		o     Options
		field string
	}{
		{Options{}, "URL"},
		{Options{URL: "redis://h", Addrs: []string{"h:1"}}, "Addrs"},
		{Options{URL: "http://h"}, "URL"},
		{Options{URL: "redis://"}, "URL"},
		{Options{URL: "redis:h"}, "URL"},
		{Options{URL: "redis://h/x"}, "URL"},
		{Options{URL: "redis://h/1/2"}, "URL"},
		{Options{URL: "redis://h?foo=1"}, "URL"},
		{Options{URL: "redis://h?pool_size=x"}, "URL"},
		{Options{URL: "redis://h?read_timeout=fast"}, "URL"},
		{Options{URL: "redis://h?addr=nohost"}, "URL"},
		{Options{URL: "redis://a:1,b:x"}, "URL"},
		{Options{URL: "redis://a:1,,b:2"}, "URL"},
		{Options{URL: "redis://a:1,b:2"}, "URL"},
		{Options{URL: "redis://h?cluster=true"}, "URL"},
		{Options{URL: "redis://h/3?addr=h2:1"}, "URL"},
		{Options{URL: "redis://h?read_timeout=-1"}, "URL"},
		{Options{URL: "redis://h?pool_size=-1"}, "URL"},
		{Options{URL: "redis://h?max_retries=-2"}, "URL"},
		{Options{URL: "redis+sentinel://s1"}, "MasterName"},
		{Options{URL: "redis+sentinel://s1/m?master_name=m"}, "URL"},
		{Options{URL: "redis+sentinel://s1?master_name=m&cluster=true"}, "URL"},
		{Options{URL: "redis+sentinel://s1?master_name=m", Cluster: true}, "MasterName"},
		{Options{URL: "redis://h:1", DB: -1}, "DB"},
		{Options{URL: "redis://h:1?addr=h:2", DB: 1}, "DB"},
		{Options{Addrs: []string{"h"}}, "Addrs[0]"},
		{Options{Addrs: []string{"h:1", ":2"}}, "Addrs[1]"},
		{Options{Addrs: []string{"h:1"}, MasterName: "m", Cluster: true}, "MasterName"},
		{Options{Addrs: []string{"h:1", "h:2"}, DB: 1}, "DB"},
		{Options{Addrs: []string{"h:1"}, DB: -1}, "DB"},
		{Options{Addrs: []string{"h:1"}, PoolSize: -1}, "PoolSize"},
		{Options{Addrs: []string{"h:1"}, DialTimeout: -1}, "DialTimeout"},
		{Options{Addrs: []string{"h:1"}, ReadTimeout: -1}, "ReadTimeout"},
		{Options{Addrs: []string{"h:1"}, WriteTimeout: -1}, "WriteTimeout"},
		{Options{Addrs: []string{"h:1"}, MaxRetries: -2}, "MaxRetries"},
	} {
		err := tt.o.Validate()
		if err == nil || !strings.Contains(err.Error(), "Options."+tt.field) {
			t.Errorf("Validate(%+v): got %v, want an error naming Options.%s", tt.o, err, tt.field)
		}
	}
}

func TestNoPasswordInErrors(t *testing.T) {
	const secret = "hunter2-s3cret"
	for _, u := range []string{
		"redis://:" + secret + "@h:bad/0",
		"redis://user:" + secret + "@h/0?foo=bar",
		"redis://user:" + secret + "@h/xx",
		"redis://user:" + secret + "@h/0?sentinel_password=" + secret + "&pool_size=x",
		"redis://u:" + secret + "@h%zz/0",
		"ftp://u:" + secret + "@h/0",
		"redis://u:" + secret + "/x@h/0",
		"redis://u:%" + secret + "@h/0",
		"redis+sentinel://s:" + secret + "@h/x?master_name=m",
		"redis+sentinel://s:" + secret + "@h?master_name=m&password=" + secret + "&pool_size=x",
		"redis://h?password=" + secret,
		"redis://u:" + secret + "@h?addr=nohost",
		"redis://u:" + secret + "@h?db=" + secret,
		"redis://u:" + secret + "@h?read_timeout=" + secret,
	} {
		err := Options{URL: u}.Validate()
		if err == nil {
			t.Errorf("Validate accepted an invalid URL")
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

func TestKey(t *testing.T) {
	a := Options{URL: "redis://:pw@h:6379/0", PoolSize: 5}
	b := a
	if a.Key() != b.Key() {
		t.Fatal("equal Options, different keys")
	}
	for _, change := range []func(*Options){
		func(o *Options) { o.URL = "redis://:pw2@h:6379/0" },
		func(o *Options) { o.Password = "x" },
		func(o *Options) { o.SentinelPassword = "x" },
		func(o *Options) { o.PoolSize = 6 },
		func(o *Options) { o.ReadTimeout = time.Second },
		func(o *Options) { o.Addrs = []string{"h:1"} },
		func(o *Options) { o.TLS = true },
		func(o *Options) { o.DB = 1 },
		func(o *Options) { o.MaxRetries = -1 },
	} {
		c := a
		change(&c)
		if c.Key() == a.Key() {
			t.Errorf("%+v and %+v share a key", a, c)
		}
	}
	if k := a.Key(); strings.Contains(k, "pw") || strings.Contains(k, "h:6379") {
		t.Errorf("Key %q shows the settings", k)
	}
}
