package redisstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/internal/record"
)

// meta is the JSON of an event's type and headers (field m).
type meta struct {
	Type   string      `json:"t,omitempty"`
	Header http.Header `json:"h,omitempty"`
}

// state is a delivery's state as the scripts read and write it (field
// d:<dest>), with cjson: times in Unix milliseconds, latencies in
// microseconds.
type state struct {
	S  uint8    `json:"s"`
	N  int64    `json:"n"`
	K  string   `json:"k"`
	Si int64    `json:"si"`
	T  int      `json:"t"`
	C  int      `json:"c"`
	F  int64    `json:"f"`
	R  string   `json:"r"`
	A  attempts `json:"a"`
}

// wireAttempt is one attempt in state.A.
type wireAttempt struct {
	At int64  `json:"at"`
	C  int    `json:"c"`
	L  int64  `json:"l"`
	E  string `json:"e"`
}

// attempts decodes cjson's empty table, {}, as no attempts.
type attempts []wireAttempt

func (a *attempts) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		*a = nil
		return nil
	}
	return json.Unmarshal(b, (*[]wireAttempt)(a))
}

func encodeAttempt(a *delivery.Attempt) string {
	b, _ := json.Marshal(wireAttempt{At: record.Millis(a.At), C: a.StatusCode, L: int64(max(a.Latency/time.Microsecond, 0)), E: record.Clip(a.Error, delivery.MaxErrorLen)})
	return string(b)
}

// encodeState returns the JSON of a delivery as Append records it.
func encodeState(d *delivery.Delivery) string {
	b, _ := json.Marshal(state{S: uint8(d.Status), N: record.Millis(d.NextAt), K: d.Token, Si: record.Millis(d.Since), A: attempts{}})
	return string(b)
}

// decodeState turns a state's JSON into a Delivery for dest.
func decodeState(dest, raw string) (delivery.Delivery, error) {
	var s state
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return delivery.Delivery{}, fmt.Errorf("redisstore: corrupt state of %s: %w", dest, err)
	}
	d := delivery.Delivery{
		Destination:  dest,
		Status:       delivery.Status(s.S),
		NextAt:       record.Time(s.N),
		Token:        s.K,
		Since:        record.Time(s.Si),
		Tries:        s.T,
		AttemptCount: s.C,
		FinishedAt:   record.Time(s.F),
		Reason:       s.R,
	}
	if !d.Status.Valid() {
		return delivery.Delivery{}, fmt.Errorf("redisstore: corrupt state of %s: status %d", dest, s.S)
	}
	if len(s.A) > 0 {
		d.Attempts = make([]delivery.Attempt, len(s.A))
		for i, a := range s.A {
			d.Attempts[i] = delivery.Attempt{At: record.Time(a.At), StatusCode: a.C, Latency: time.Duration(a.L) * time.Microsecond, Error: a.E}
		}
	}
	return d, nil
}

// decodeMeta fills ev's type and headers from field m.
func decodeMeta(ev *delivery.Event, raw string) error {
	var m meta
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return fmt.Errorf("redisstore: corrupt event %s: %w", ev.ID, err)
	}
	ev.Type, ev.Header = m.Type, m.Header
	return nil
}

func encodeMeta(ev *delivery.Event) string {
	b, _ := json.Marshal(meta{Type: ev.Type, Header: ev.Header})
	return string(b)
}

// asString reads a script reply element as a string.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case nil:
		return "", false
	}
	return "", false
}

// asInt reads a script reply element as an integer.
func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(x, 64) // cjson and ZRANGE scores may read 1.7e+12
		return int64(f), err
	}
	return 0, fmt.Errorf("redisstore: unexpected reply %T", v)
}
