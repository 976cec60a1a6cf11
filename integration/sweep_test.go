package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The bad-input sweep sends seeded, deterministic mutations of a valid
// request in each dialect. Every mutation is invalid by construction, so
// every answer must be a 4xx with a JSON error body in the caller's
// dialect; none may be a 5xx or reach the upstream, and the gateway must
// serve a normal request afterwards.

const sweepPerDialect = 1200

var sweepOKAnswer = []byte(`{"id":"gen-1","object":"chat.completion","created":1733150400,"model":"gpt-4o",
	"choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],
	"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)

type sweepDialect struct {
	name string
	path string
	// base is a valid request; fields are its top-level members, with a
	// value of the wrong type (or out of range) for each.
	base   string
	wrong  map[string][]string
	header http.Header
	// errorOK checks the error body's shape.
	errorOK func(body []byte) error
}

func sweepDialects() []sweepDialect {
	return []sweepDialect{{
		name: "openai",
		path: "/v1/chat/completions",
		base: `{"model":"gpt-test","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],"max_completion_tokens":10,"temperature":0.5,"stream":false}`,
		wrong: map[string][]string{
			"model":                 {`123`, `[]`, `{}`, `true`, `""`, `"no-such-model"`},
			"messages":              {`"hi"`, `{}`, `1`, `[]`, `[1]`, `[{"role":7,"content":"x"}]`, `[{"role":"robot","content":"x"}]`, `[{"role":"user","content":5}]`, `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]`, `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,notbase64"}}]}]`, `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,AAAA"}}]}]`, `[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]`, `[{"role":"user","content":[{"type":"nope"}]}]`, `[{"role":"tool","tool_call_id":"x","content":"r"}]`},
			"max_completion_tokens": {`"ten"`, `-1`, `1e400`, `99999999999999999999999`, `[]`, `1.5`},
			"temperature":           {`"hot"`, `-1`, `2.5`, `1e308`, `{}`},
			"stream":                {`"yes"`, `1`, `[]`},
		},
		header: http.Header{"Authorization": {"Bearer key-all"}},
		errorOK: func(body []byte) error {
			var e struct {
				Error *struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				return err
			}
			if e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
				return fmt.Errorf("not an OpenAI error")
			}
			return nil
		},
	}, {
		name: "anthropic",
		path: "/v1/messages",
		base: `{"model":"gpt-test","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}],"temperature":0.5,"stream":false}`,
		wrong: map[string][]string{
			"model":       {`123`, `[]`, `{}`, `true`, `""`, `"no-such-model"`},
			"max_tokens":  {`"ten"`, `-1`, `0`, `1e400`, `99999999999999999999999`, `[]`, `1.5`},
			"messages":    {`"hi"`, `{}`, `1`, `[]`, `[1]`, `[{"role":7,"content":"x"}]`, `[{"role":"system","content":"x"}]`, `[{"role":"user","content":5}]`, `[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"@@@"}}]}]`, `[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"text/html","data":"AAAA"}}]}]`, `[{"role":"user","content":[{"type":"image","source":{"type":"carrier-pigeon"}}]}]`, `[{"role":"user","content":[{"type":"nope"}]}]`, `[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"r"}]}]`},
			"temperature": {`"hot"`, `-1`, `1.5`, `1e308`, `{}`},
			"stream":      {`"yes"`, `1`, `[]`},
		},
		header: http.Header{"X-Api-Key": {"key-all"}, "Anthropic-Version": {"2023-06-01"}},
		errorOK: func(body []byte) error {
			var e struct {
				Type  string `json:"type"`
				Error *struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				return err
			}
			if e.Type != "error" || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
				return fmt.Errorf("not an Anthropic error")
			}
			return nil
		},
	}}
}

// mutate returns an invalid variant of d.base and the kind of mutation.
func (d *sweepDialect) mutate(rng *rand.Rand) (string, []byte) {
	base := []byte(d.base)
	switch k := rng.IntN(10); k {
	case 0: // truncated JSON
		return "truncated", base[:1+rng.IntN(len(base)-1)]
	case 1: // a field of the wrong type or out of range
		fields := slices.Sorted(maps.Keys(d.wrong)) // in a fixed order, for the seed
		f := fields[rng.IntN(len(fields))]
		vals := d.wrong[f]
		return "wrong " + f, setMember(base, f, vals[rng.IntN(len(vals))])
	case 2: // a raw NUL byte somewhere
		return "NUL", insertAt(base, rng.IntN(len(base)), "\x00")
	case 3: // invalid UTF-8 inside the text
		i := bytes.Index(base, []byte(`"hi"`)) + 2
		bad := []string{"\xff", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80"}
		return "invalid UTF-8", insertAt(base, i, bad[rng.IntN(len(bad))])
	case 4: // deep nesting where a message list belongs
		depth := 100 + rng.IntN(20000)
		nested := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		return "deep nesting", setMember(base, "messages", nested)
	case 5: // an enormous string (over max_body)
		return "enormous string", bytes.Replace(base, []byte(`"hi"`), []byte(`"`+strings.Repeat("x", 65<<10+rng.IntN(1<<20))+`"`), 1)
	case 6: // a required member missing
		req := []string{"model", "messages"}
		if d.name == "anthropic" {
			req = append(req, "max_tokens")
		}
		return "missing member", deleteMember(base, req[rng.IntN(len(req))])
	case 7: // not a request object at all
		others := []string{``, `null`, `[]`, `42`, `"text"`, `{}`, `{"model":"gpt-test"}`, `{"model":"gpt-test","messages":[],"extra":1}`}
		return "not an object", []byte(others[rng.IntN(len(others))])
	case 8: // a duplicate member
		return "duplicate member", append([]byte(`{"model":"x",`), base[1:]...)
	default: // random bytes flipped in a truncated copy
		b := append([]byte(nil), base[:len(base)-1-rng.IntN(8)]...)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		return "flipped and truncated", b
	}
}

func TestBadInputSweep(t *testing.T) {
	loadCaddyfile(t, validationConfig())
	client := &http.Client{Timeout: 30 * time.Second}
	for _, d := range sweepDialects() {
		t.Run(d.name, func(t *testing.T) {
			fake.reset(t, serveJSON(200, sweepOKAnswer))
			rng := rand.New(rand.NewPCG(10, uint64(len(d.name))))
			kinds := map[string]int{}
			for i := range sweepPerDialect {
				kind, body := d.mutate(rng)
				kinds[kind]++
				status, resp := sweepPost(t, client, d, body)
				if status < 400 || status >= 500 {
					t.Fatalf("mutation %d (%s) %.200q: status %d, body %.300s", i, kind, body, status, resp)
				}
				if err := d.errorOK(resp); err != nil {
					t.Fatalf("mutation %d (%s): status %d with body %.300q: %v", i, kind, status, resp, err)
				}
			}
			if n := fake.count(); n != 0 {
				t.Errorf("%d refused requests reached the upstream", n)
			}
			t.Logf("%d mutations: %v", sweepPerDialect, kinds)
			// The gateway still serves.
			status, resp := sweepPost(t, client, d, []byte(d.base))
			if status != 200 {
				t.Fatalf("a normal request after the sweep: %d %s", status, resp)
			}
		})
	}
}

func sweepPost(t *testing.T, client *http.Client, d sweepDialect, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", gatewayURL(ports.http)+d.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = d.header.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%.100q: %v", body, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error with Content-Type %q: %.200s", ct, b)
	}
	return resp.StatusCode, b
}

// setMember replaces the value of top-level member name in the compact
// JSON object b (whose members are scalars, arrays or objects).
func setMember(b []byte, name, value string) []byte {
	start, end := memberValue(b, name)
	return []byte(string(b[:start]) + value + string(b[end:]))
}

func deleteMember(b []byte, name string) []byte {
	key := bytes.Index(b, []byte(`"`+name+`":`))
	_, end := memberValue(b, name)
	if b[end] == ',' {
		end++
	} else if b[key-1] == ',' {
		key--
	}
	return []byte(string(b[:key]) + string(b[end:]))
}

// memberValue finds the value span of a top-level member by scanning
// brackets and strings.
func memberValue(b []byte, name string) (int, int) {
	i := bytes.Index(b, []byte(`"`+name+`":`))
	if i < 0 {
		panic("no member " + name)
	}
	start := i + len(name) + 3
	depth, inString := 0, false
	for j := start; j < len(b); j++ {
		c := b[j]
		switch {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth == 0 {
				return start, j
			}
			depth--
		case c == ',' && depth == 0:
			return start, j
		}
	}
	return start, len(b)
}

func insertAt(b []byte, i int, s string) []byte {
	return []byte(string(b[:i]) + s + string(b[i:]))
}
