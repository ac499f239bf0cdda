package verify

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestJSONFieldsSpacing: space between a value and its comma or the
// closing brace is not part of the value.
func TestJSONFieldsSpacing(t *testing.T) {
	for _, body := range []string{
		`{"type":"a.b" , "id":"x" }`,
		`{ "type" : "a.b"` + "\n\t" + `,"id":"x"}`,
		`{"n":[1 , 2] ,"type":"a.b","id":"x"   }`,
	} {
		id, typ := jsonFields([]byte(body), "id", "type")
		if id != "x" || typ != "a.b" {
			t.Errorf("jsonFields(%q) = %q, %q", body, id, typ)
		}
	}
}

// TestTooManySignaturesWhateverTheOrder: the signature cap does not depend
// on where the valid signature stands.
func TestTooManySignaturesWhateverTheOrder(t *testing.T) {
	s, _ := Preset("standard")
	body := []byte(`{"type":"a"}`)
	r := signed(t, s, testSecret, t0, body)
	good := r.Header.Get("Webhook-Signature")
	junk := strings.Repeat("v1,AAAA ", 40)
	v := newVerifier(t, s)
	for _, sig := range []string{good + " " + junk, junk + good} {
		r.Header.Set("Webhook-Signature", sig)
		if _, err := v.Verify(r); !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("41 signatures: err = %v, want ErrMalformedHeader", err)
		}
	}
}

// TestTypeCache: interned types read back equal, from many goroutines at
// once, and the cache stops growing at its bound.
func TestTypeCache(t *testing.T) {
	var c typeCache
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				want := "type." + strconv.Itoa((i+g)%(maxCachedTypes+100))
				if got := c.get([]byte(want)); got != want {
					t.Errorf("get(%q) = %q", want, got)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(*c.m.Load()); n != maxCachedTypes {
		t.Fatalf("cache holds %d types, want the bound %d", n, maxCachedTypes)
	}
	for _, body := range []string{`{"type":"a.b"}`, `{"type":"caf\u00e9"}`, `{"type":"x\"y"}`, `{"type":7}`} {
		_, want := jsonFields([]byte(body), "", "type")
		if _, got := jsonFieldsInterned([]byte(body), "", "type", &c); got != want {
			t.Errorf("%s: interned %q, plain %q", body, got, want)
		}
	}
}
