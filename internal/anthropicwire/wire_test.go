package anthropicwire

import (
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

func TestPatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		obj  string
		set  []Member
		want string
	}{
		{"replace in place, keep the rest byte for byte", `{"model":"a", "x" : [1, 2],"stream":true}`,
			[]Member{{"model", Quote("b")}}, `{"model":"b","x":[1, 2],"stream":true}`},
		{"add missing members at the end", `{"model":"a"}`,
			[]Member{{"stream", jsontext.Value("true")}, {"model", Quote("c")}}, `{"model":"c","stream":true}`},
		{"delete", `{"model":"a","stream":true,"z":null}`,
			[]Member{{"stream", nil}}, `{"model":"a","z":null}`},
		{"delete the only member", `{"stream":true}`, []Member{{"stream", nil}}, `{}`},
		{"empty object", `{}`, []Member{{"model", Quote("m")}}, `{"model":"m"}`},
		{"escaped names are matched unescaped", `{"mo\u0064el":"a"}`, []Member{{"model", Quote("b")}}, `{"model":"b"}`},
		{"nested objects untouched", `{"message":{"model":"inner"},"model":"outer"}`,
			[]Member{{"model", Quote("new")}}, `{"message":{"model":"inner"},"model":"new"}`},
	}
	for _, tt := range tests {
		got, err := Patch(nil, jsontext.Value(tt.obj), tt.set...)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: Patch = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []string{`[1]`, `"s"`, `{"a":`, ``} {
		if _, err := Patch(nil, jsontext.Value(bad)); err == nil {
			t.Errorf("Patch(%q) succeeded", bad)
		}
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	obj := jsontext.Value(`{"type":"message_start","message":{"id":"x","model":"m"},"n":1}`)
	if got := Get(obj, "message"); string(got) != `{"id":"x","model":"m"}` {
		t.Errorf("Get(message) = %s", got)
	}
	if got := Get(obj, "n"); string(got) != `1` {
		t.Errorf("Get(n) = %s", got)
	}
	if got := Get(obj, "missing"); got != nil {
		t.Errorf("Get(missing) = %s", got)
	}
	if got := Get(jsontext.Value(`[]`), "a"); got != nil {
		t.Errorf("Get on an array = %s", got)
	}
}

func TestToolInput(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		``:                 `{}`,
		`{}`:               `{}`,
		`{"city":"Paris"}`: `{"city":"Paris"}`,
		` {"a": 1} `:       ` {"a": 1} `,
		`{"a":`:            `{"_raw":"{\"a\":"}`,
		`[1,2]`:            `{"_raw":"[1,2]"}`,
		`"x"`:              `{"_raw":"\"x\""}`,
	}
	for in, want := range tests {
		if got := ToolInput(in); string(got) != want {
			t.Errorf("ToolInput(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBlocksRoundTrip(t *testing.T) {
	t.Parallel()
	in := `[{"type":"text","text":""},{"type":"text","text":"hi","citations":[{"type":"char_location"}],"cache_control":{"type":"ephemeral"}},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}},` +
		`{"type":"tool_use","id":"t","name":"f","input":{"a":1}},` +
		`{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"ok"}],"is_error":true},` +
		`{"type":"tool_result","tool_use_id":"t","content":"plain"},` +
		`{"type":"thinking","thinking":"","signature":""},{"type":"redacted_thinking","data":"d"},` +
		`{"type":"search_result","source":"https://x","title":"t","content":[{"type":"text","text":"c"}]}]`
	var blocks []Block
	if err := json.Unmarshal([]byte(in), &blocks); err != nil {
		t.Fatal(err)
	}
	if blocks[8].Type != "search_result" || blocks[8].Raw == nil {
		t.Errorf("unknown block = %+v", blocks[8])
	}
	out, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip\n got %s\nwant %s", out, in)
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`{"error":{"type":"x","message":"Overloaded"}}`:                    "Overloaded",
		`{"error":{"type":"x","message":{"resetsAt": 17,"type":"limit"}}}`: `{"resetsAt":17,"type":"limit"}`,
		`{"error":{"type":"x"}}`:                                           "",
	}
	for in, want := range tests {
		var env ErrorEnvelope
		if err := json.Unmarshal([]byte(in), &env); err != nil {
			t.Fatal(err)
		}
		if got := env.Error.Text(); got != want {
			t.Errorf("Text(%s) = %q, want %q", in, got, want)
		}
	}
	var nilBody *ErrorBody
	if nilBody.Text() != "" {
		t.Error("nil error body has text")
	}
}
