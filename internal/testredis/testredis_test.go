package testredis

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A restarted server has what its persistence kept: with the defaults,
// nothing; with AOF and appendfsync always, every acknowledged write,
// after SIGKILL (Stop) as after a clean shutdown (Shutdown).
func TestRestart(t *testing.T) {
	aof := []string{"--appendonly", "yes", "--appendfsync", "always"}
	for _, tc := range []struct {
		name  string
		extra []string
		stop  func(*Server) // nil: Restart kills the running server
		kept  bool
	}{
		{"no persistence, killed", nil, (*Server).Stop, false},
		{"no persistence, shut down", nil, (*Server).Shutdown, false},
		{"AOF always, killed", aof, (*Server).Stop, true},
		{"AOF always, shut down", aof, (*Server).Shutdown, true},
		{"AOF always, still running", aof, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.extra) == 0 {
				t.Setenv("HOOKGATE_TEST_REDIS_URL", "") // a server of its own
			}
			s := Start(t, tc.extra...)
			addr, dir := s.Addr, s.Dir()
			if dir == "" {
				t.Fatal("Dir is empty")
			}
			const writes = 100
			for i := range writes {
				if _, err := s.Do("SET", "k"+strconv.Itoa(i), "v"); err != nil {
					t.Fatal(err)
				}
			}
			if tc.stop != nil {
				tc.stop(s)
				if _, err := s.Do("PING"); err == nil {
					t.Fatal("the stopped server still answers")
				}
			}
			s.Restart()
			if s.Addr != addr || s.Dir() != dir {
				t.Fatalf("restarted on %s in %s, want %s in %s", s.Addr, s.Dir(), addr, dir)
			}
			got, err := s.Do("DBSIZE")
			if err != nil {
				t.Fatal(err)
			}
			want := ":0"
			if tc.kept {
				want = ":" + strconv.Itoa(writes)
			}
			if got != want {
				t.Fatalf("DBSIZE after restart: %s, want %s", got, want)
			}
		})
	}
}

// A --dir among the extra arguments is the server's data directory.
func TestStartDir(t *testing.T) {
	dir := t.TempDir()
	s := Start(t, "--appendonly", "yes", "--dir", dir)
	if s.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", s.Dir(), dir)
	}
	// Redis 7 keeps its AOF in appendonlydir, older ones in appendonly.aof.
	_, err7 := os.Stat(filepath.Join(dir, "appendonlydir"))
	_, err6 := os.Stat(filepath.Join(dir, "appendonly.aof"))
	if err7 != nil && err6 != nil {
		t.Fatalf("no AOF in %s: %v; %v", dir, err7, err6)
	}
}
