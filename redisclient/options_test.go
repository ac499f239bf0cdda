package redisclient

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	defaults := func(s settings) *settings {
		if s.dialTimeout == 0 {
			s.dialTimeout = DefaultDialTimeout
		}
		if s.readTimeout == 0 {
			s.readTimeout = DefaultReadTimeout
		}
		if s.writeTimeout == 0 {
			s.writeTimeout = DefaultWriteTimeout
		}
		if s.maxRetries == 0 {
			s.maxRetries = DefaultMaxRetries
		}
		return &s
	}
	for _, tt := range []struct {
		name string
		o    Options
		want *settings
	}{
		{"URL", Options{URL: "redis://localhost"},
			defaults(settings{addrs: []string{"localhost:6379"}})},
		{"URLFull", Options{URL: "rediss://u:p%40ss@h:7000/3?pool_size=20&dial_timeout=2&read_timeout=250ms&write_timeout=1s&max_retries=-1"},
			defaults(settings{addrs: []string{"h:7000"}, username: "u", password: "p@ss", db: 3, tls: true,
				poolSize: 20, dialTimeout: 2 * time.Second, readTimeout: 250 * time.Millisecond, writeTimeout: time.Second, maxRetries: -1})},
		{"IPv6", Options{URL: "redis://[::1]"},
			defaults(settings{addrs: []string{"[::1]:6379"}})},
		{"ClusterCommas", Options{URL: "redis://a:1,b:2,c"},
			defaults(settings{mode: cluster, addrs: []string{"a:1", "b:2", "c:6379"}})},
		{"ClusterAddrParams", Options{URL: "redis://:pw@a:1?addr=b:2&addr=[::1]:3"},
			defaults(settings{mode: cluster, addrs: []string{"a:1", "b:2", "[::1]:3"}, password: "pw"})},
		{"ClusterOneSeed", Options{URL: "redis://cfg.example:6379?cluster=true"},
			defaults(settings{mode: cluster, addrs: []string{"cfg.example:6379"}})},
		{"Sentinel", Options{URL: "redis+sentinel://:pw@s1,s2:26380/mymaster/2?sentinel_password=sp"},
			defaults(settings{mode: sentinel, addrs: []string{"s1:26379", "s2:26380"}, masterName: "mymaster", db: 2, password: "pw", sentinelPassword: "sp"})},
		{"SentinelTLS", Options{URL: "rediss+sentinel://s1/m"},
			defaults(settings{mode: sentinel, addrs: []string{"s1:26379"}, masterName: "m", tls: true})},
		{"Addrs", Options{Addrs: []string{"h:1"}, DB: 4, Password: "x", TLS: true},
			defaults(settings{addrs: []string{"h:1"}, db: 4, password: "x", tls: true})},
		{"AddrsCluster", Options{Addrs: []string{"h:1", "h:2"}},
			defaults(settings{mode: cluster, addrs: []string{"h:1", "h:2"}})},
		{"AddrsSentinel", Options{Addrs: []string{"h:1", "h:2"}, MasterName: "m"},
			defaults(settings{mode: sentinel, addrs: []string{"h:1", "h:2"}, masterName: "m"})},
		{"FieldsOverrideURL", Options{URL: "redis://u:p@h/1?pool_size=3", Password: "q", DB: 2, PoolSize: 7, ReadTimeout: time.Second},
			defaults(settings{addrs: []string{"h:6379"}, username: "u", password: "q", db: 2, poolSize: 7, readTimeout: time.Second})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.o.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
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
		{Options{URL: "redis+sentinel://s1"}, "URL"},
		{Options{URL: "redis+sentinel://s1/m?cluster=true"}, "URL"},
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
