package sdk

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
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
