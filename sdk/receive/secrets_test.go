package receive

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSecretFile: nothing kept reads as ""; of racing Keeps, one secret
// wins and every caller is told which; the exclusive-create fallback
// never overwrites.
func TestSecretFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s")
	f := SecretFile(path)
	if s, err := f.Secret(ctx); s != "" || err != nil {
		t.Fatalf("Secret of a missing file: %q, %v", s, err)
	}
	var wg sync.WaitGroup
	kept := make([]string, 8)
	for i := range kept {
		wg.Go(func() {
			var err error
			if kept[i], err = f.Keep(ctx, string(rune('a'+i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	winner, _ := f.Secret(ctx)
	for i, k := range kept {
		if k != winner {
			t.Errorf("Keep %d was told %q, the file holds %q", i, k, winner)
		}
	}
	if err := writeExclusive(path, "z"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writeExclusive over a kept secret: %v, want ErrExist", err)
	}
	if s, _ := f.Secret(ctx); s != winner {
		t.Fatalf("kept secret changed to %q", s)
	}
	other := filepath.Join(t.TempDir(), "o")
	if err := writeExclusive(other, "y"); err != nil {
		t.Fatal(err)
	}
	if s, _ := SecretFile(other).Secret(ctx); s != "y" {
		t.Fatalf("writeExclusive wrote %q", s)
	}
}

// TestSecretFileKeepWritesOnce: once a secret is kept, Keep only reads: a
// flood of unsigned handshakes costs no writes. A write (a temporary file
// made and removed) would change the directory's modification time.
func TestSecretFileKeepWritesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := SecretFile(filepath.Join(dir, "s"))
	if kept, err := f.Keep(ctx, "first"); kept != "first" || err != nil {
		t.Fatalf("first Keep: %q, %v", kept, err)
	}
	before, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // past any coarse timestamp granularity
	for range 3 {
		if kept, err := f.Keep(ctx, "second"); kept != "first" || err != nil {
			t.Fatalf("Keep over a kept secret: %q, %v; want first", kept, err)
		}
	}
	after, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("Keep over a kept secret wrote into %s (mtime %v -> %v)", dir, before.ModTime(), after.ModTime())
	}
}
