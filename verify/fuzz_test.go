package verify

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// FuzzSignatureHeader throws arbitrary signature and timestamp header
// values at every preset. Nothing may panic, and a verification may only
// succeed with the real signature.
func FuzzSignatureHeader(f *testing.F) {
	for _, seed := range []string{
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63",
		"ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
		"B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=",
		"v1a,AAAA",
		"t=,v1=,,;;==",
		"   ",
		"v1,",
		",",
		"=",
	} {
		f.Add(seed, "1700000000")
	}
	f.Add("t=-1,v1=00", "-1")
	f.Add("t=99999999999999999999,v1=00", "9223372036854775807")
	f.Add("1e3bd9a4b6f0c0d8a1e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70", "2025-01-01T00:00:00.123456789Z")
	f.Add("MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=", "1600112502")
	f.Add("v1=abc,v1=", "1735689600000")
	verifiers := map[string]*Verifier{}
	for _, name := range Presets() {
		s, _ := Preset(name)
		key := Key{Secret: testSecret}
		switch s.Algorithm {
		case Ed25519:
			key = Key{PublicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"}
		case ECDSAP256:
			key = Key{PublicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="}
		}
		v, err := New(Config{Scheme: s, Keys: []Key{key}, Now: fixedNow})
		if err != nil {
			f.Fatal(err)
		}
		verifiers[name] = v
	}
	f.Fuzz(func(t *testing.T, sig, ts string) {
		for name, v := range verifiers {
			h := http.Header{}
			for _, hn := range v.scheme.SignatureHeaders {
				h[hn] = []string{sig}
			}
			for _, hn := range v.scheme.TimestampHeaders {
				h[hn] = []string{ts}
			}
			for _, hn := range v.scheme.IDHeaders {
				h[hn] = []string{"evt_1"}
			}
			for _, hn := range v.scheme.TokenHeaders {
				h[hn] = []string{sig}
			}
			body := `{"a":1,"webhookTimestamp":` + strconv.Quote(ts) + `,"signature":{"timestamp":` + strconv.Quote(ts) + `,"token":"t","signature":` + strconv.Quote(sig) + `}}`
			_, err := v.Verify(&Request{Header: h, Body: []byte(body), URL: "https://x.example/p?q=%3A" + sig, Method: "POST"})
			if err == nil {
				t.Fatalf("%s: arbitrary header %q verified", name, sig)
			}
		}
	})
}

// FuzzJSONFields checks the payload field scanner against encoding/json on
// every input: no panic, and on a valid object with unique keys, the same
// string values.
func FuzzJSONFields(f *testing.F) {
	for _, seed := range []string{
		`{"id":"evt_1","type":"x.y"}`,
		`{"data":{"id":"inner"},"type":"t\u00e9","id":12}`,
		`{"a":[1,{"b":[]},"]"],"id":"q\"uote"}`,
		`{"id":`, `[`, `{"x":tru`, `"`, `{"\`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, typ := jsonFields(body, "id", "type")
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			return
		}
		dec := json.NewDecoder(bytesReader(body))
		if hasDuplicateKeys(dec) {
			return
		}
		for key, got := range map[string]string{"id": id, "type": typ} {
			raw, ok := m[key]
			if !ok {
				if got != "" {
					t.Fatalf("%s = %q, absent in %q", key, got, body)
				}
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil && s != got {
				t.Fatalf("%s = %q, encoding/json says %q in %q", key, got, s, body)
			}
		}
	})
}

// FuzzTemplate checks that any template string either fails to parse or
// round-trips through the content writer without panicking.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{"{id}.{timestamp}.{body}", "v0:{timestamp}:{body}", "{", "}{", "{url}{form}", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTemplate(s)
		if err != nil {
			return
		}
		var w appendWriter
		tm.write(&w, nil, &content{id: "i", timestamp: "1", body: []byte("b")})
	})
}

// FuzzJSONLookup checks the dotted-path lookup (the signature, timestamp
// and token fields some schemes read before the signature matched) against
// encoding/json: no panic, and on valid JSON without duplicate keys, the
// same string value at a two-level path.
func FuzzJSONLookup(f *testing.F) {
	for _, seed := range []string{
		`{"signature":{"timestamp":"1","token":"t","signature":"abc"}}`,
		`{"event":{"id":"e\u0031","event_type":"x"},"signature":[1,2]}`,
		`{"signature":{"token":{}}`, `{"a":{"b":`, `{"signature":"flat"}`, ` {"signature" : { "token" : 12 } } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := jsonString(body, "signature.token")
		start, end, ok := jsonLookup(body, "signature.token")
		if ok && (start < 0 || end > len(body) || start >= end) {
			t.Fatalf("bounds %d:%d of %d", start, end, len(body))
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil || hasDuplicateKeys(json.NewDecoder(bytesReader(body))) {
			return
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(m["signature"], &inner) != nil || hasDuplicateKeys(json.NewDecoder(bytesReader(m["signature"]))) {
			return
		}
		var want string
		if raw, ok := inner["token"]; ok && json.Unmarshal(raw, &want) == nil && want != got {
			t.Fatalf("signature.token = %q, encoding/json says %q in %q", got, want, body)
		}
	})
}

// FuzzInsertField checks that the Signer's body rewriting keeps a JSON
// object valid and puts the field where the lookup finds it.
func FuzzInsertField(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":1}`, ` { "signature" : { "x" : [] } } `, `{"signature":{}}`, `[]`, `{`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		if _, ok := jsonRaw(body, "signature.token"); ok {
			return
		}
		out, err := insertField(body, "signature.token", `"tok"`)
		if err != nil {
			if strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
				var m map[string]json.RawMessage
				if json.Unmarshal(body, &m) == nil {
					if _, has := m["signature"]; !has {
						t.Fatalf("insert into %q: %v", body, err)
					}
				}
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("insert into %q gave invalid JSON %q", body, out)
		}
		if jsonString(out, "signature.token") != "tok" && !hasDuplicateKeys(json.NewDecoder(bytesReader(out))) {
			t.Fatalf("insert into %q: lookup in %q failed", body, out)
		}
	})
}
