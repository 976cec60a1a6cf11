package gemini

import (
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// reduce returns the reduced schema as JSON, or fails.
func reduce(t *testing.T, in string) []byte {
	t.Helper()
	s, err := reduceSchema(jsontext.Value(in))
	if err != nil {
		t.Fatalf("reduceSchema: %v", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReduceSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{
			name: "plain object, types in Gemini's spelling",
			in:   `{"type":"object","properties":{"city":{"type":"string","description":"City name"},"days":{"type":"integer","minimum":1,"maximum":14}},"required":["city"]}`,
			want: `{"type":"OBJECT","properties":{"city":{"type":"STRING","description":"City name"},"days":{"type":"INTEGER","minimum":1,"maximum":14}},"required":["city"]}`,
		},
		{
			// modelcontextprotocol/servers filesystem edit_file, as
			// zod-to-json-schema writes it.
			name: "MCP filesystem edit_file (zod)",
			in: `{"type":"object","properties":{"path":{"type":"string"},"edits":{"type":"array","items":{"type":"object",
				"properties":{"oldText":{"type":"string","description":"Text to search for - must match exactly"},
				"newText":{"type":"string","description":"Text to replace with"}},"required":["oldText","newText"],"additionalProperties":false}},
				"dryRun":{"type":"boolean","default":false,"description":"Preview changes using git-style diff format"}},
				"required":["path","edits"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`,
			want: `{"type":"OBJECT","properties":{"path":{"type":"STRING"},"edits":{"type":"ARRAY","items":{"type":"OBJECT",
				"properties":{"oldText":{"type":"STRING","description":"Text to search for - must match exactly"},
				"newText":{"type":"STRING","description":"Text to replace with"}},"required":["oldText","newText"]}},
				"dryRun":{"type":"BOOLEAN","description":"Preview changes using git-style diff format"}},"required":["path","edits"]}`,
		},
		{
			// A FastMCP / Pydantic v2 tool: $defs, Optional via anyOf null,
			// an enum class by reference, titles and defaults everywhere.
			name: "Pydantic $defs, Optional and enum classes",
			in: `{"$defs":{"Priority":{"enum":["low","normal","high"],"title":"Priority","type":"string"},
				"Label":{"properties":{"name":{"title":"Name","type":"string"},"color":{"anyOf":[{"type":"string"},{"type":"null"}],"default":null,"title":"Color"}},
				"required":["name"],"title":"Label","type":"object"}},
				"properties":{"title":{"title":"Title","type":"string"},
				"priority":{"$ref":"#/$defs/Priority","default":"normal","description":"How urgent"},
				"labels":{"items":{"$ref":"#/$defs/Label"},"title":"Labels","type":"array"},
				"due":{"anyOf":[{"format":"date-time","type":"string"},{"type":"null"}],"default":null,"title":"Due"},
				"limit":{"anyOf":[{"type":"integer","minimum":1},{"type":"null"}],"default":10}},
				"required":["title"],"title":"create_ticketArguments","type":"object"}`,
			want: `{"type":"OBJECT","properties":{"title":{"type":"STRING"},
				"priority":{"type":"STRING","description":"How urgent","enum":["low","normal","high"]},
				"labels":{"type":"ARRAY","items":{"type":"OBJECT","properties":{"name":{"type":"STRING"},"color":{"type":"STRING","nullable":true}},"required":["name"]}},
				"due":{"type":"STRING","format":"date-time","nullable":true},
				"limit":{"type":"INTEGER","nullable":true,"minimum":1}},"required":["title"]}`,
		},
		{
			name: "definitions (draft-07) and a $ref with siblings",
			in: `{"type":"object","definitions":{"pt":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"description":"A point"}},
				"properties":{"from":{"$ref":"#/definitions/pt","description":"Start"},"to":{"$ref":"#/definitions/pt"}}}`,
			want: `{"type":"OBJECT","properties":{"from":{"type":"OBJECT","description":"Start","properties":{"x":{"type":"NUMBER"},"y":{"type":"NUMBER"}}},
				"to":{"type":"OBJECT","description":"A point","properties":{"x":{"type":"NUMBER"},"y":{"type":"NUMBER"}}}}}`,
		},
		{
			name: "recursive $ref becomes a free-form object below the first level",
			in: `{"type":"object","properties":{"root":{"$ref":"#/$defs/node"}},"$defs":{"node":{"type":"object",
				"properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`,
			want: `{"type":"OBJECT","properties":{"root":{"type":"OBJECT","properties":{"name":{"type":"STRING"},
				"children":{"type":"ARRAY","items":{"type":"OBJECT"}}}}}}`,
		},
		{
			name: "type unions: nullable, and several types as anyOf",
			in:   `{"type":"object","properties":{"a":{"type":["string","null"]},"b":{"type":["string","number"],"description":"Text or amount"},"c":{"type":"null"}}}`,
			want: `{"type":"OBJECT","properties":{"a":{"type":"STRING","nullable":true},"b":{"anyOf":[{"type":"STRING"},{"type":"NUMBER"}],"description":"Text or amount"},"c":{"type":"NULL","nullable":true}}}`,
		},
		{
			name: "oneOf is read as anyOf, allOf is merged",
			in: `{"type":"object","properties":{"target":{"oneOf":[{"type":"object","properties":{"url":{"type":"string"}},"required":["url"]},
				{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}]},
				"opts":{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]}}}`,
			want: `{"type":"OBJECT","properties":{"target":{"anyOf":[{"type":"OBJECT","properties":{"url":{"type":"STRING"}},"required":["url"]},
				{"type":"OBJECT","properties":{"path":{"type":"STRING"}},"required":["path"]}]},
				"opts":{"type":"OBJECT","properties":{"a":{"type":"STRING"},"b":{"type":"BOOLEAN"}},"required":["a","b"]}}}`,
		},
		{
			name: "anyOf of consts folds into one string enum (zed#44875)",
			in:   `{"type":"object","properties":{"mode":{"anyOf":[{"const":"fast"},{"const":"slow","description":"careful"}],"description":"Speed"}}}`,
			want: `{"type":"OBJECT","properties":{"mode":{"type":"STRING","description":"Speed","enum":["fast","slow"]}}}`,
		},
		{
			name: "enums: numeric ones move into the description, mixed ones are stringified, null makes nullable",
			in: `{"type":"object","properties":{"level":{"type":"integer","enum":[1,2,3],"description":"Log level."},
				"flag":{"enum":["on",1,true]},"color":{"type":"string","enum":["red","blue",null]},"one":{"const":"only"}}}`,
			want: `{"type":"OBJECT","properties":{"level":{"type":"INTEGER","description":"Log level. Allowed values: 1, 2, 3."},
				"flag":{"type":"STRING","enum":["on","1","true"]},"color":{"type":"STRING","nullable":true,"enum":["red","blue"]},
				"one":{"type":"STRING","enum":["only"]}}}`,
		},
		{
			name: "formats Gemini does not know are dropped",
			in: `{"type":"object","properties":{"site":{"type":"string","format":"uri"},"mail":{"type":"string","format":"email"},
				"at":{"type":"string","format":"date-time"},"n":{"type":"integer","format":"int64"},"x":{"type":"number","format":"int32"}}}`,
			want: `{"type":"OBJECT","properties":{"site":{"type":"STRING"},"mail":{"type":"STRING"},"at":{"type":"STRING","format":"date-time"},
				"n":{"type":"INTEGER","format":"int64"},"x":{"type":"NUMBER"}}}`,
		},
		{
			name: "unsupported keywords are dropped at every level",
			in: `{"type":"object","$id":"urn:x","$comment":"c","title":"T","strict":true,"additionalProperties":false,
				"patternProperties":{"^x-":{"type":"string"}},"propertyNames":{"pattern":"^[a-z]+$"},"unevaluatedProperties":false,
				"dependentRequired":{"a":["b"]},"if":{"required":["a"]},"then":{"required":["b"]},"else":{},"not":{"required":["c"]},
				"properties":{"a":{"type":"string","examples":["x"],"readOnly":true,"writeOnly":false,"contentMediaType":"text/plain",
				"contentEncoding":"base64","exclusiveMinimum":0,"deprecated":true,"minLength":1,"maxLength":9},
				"b":{"type":"number","exclusiveMaximum":10,"multipleOf":2}},"minProperties":1}`,
			want: `{"type":"OBJECT","properties":{"a":{"type":"STRING","minLength":1,"maxLength":9},"b":{"type":"NUMBER"}},"minProperties":1}`,
		},
		{
			name: "required names that are not properties are dropped; empty properties too",
			in:   `{"type":"object","properties":{"a":{"type":"string"},"meta":{"type":"object","properties":{},"additionalProperties":true}},"required":["a","ghost"]}`,
			want: `{"type":"OBJECT","properties":{"a":{"type":"STRING"},"meta":{"type":"OBJECT"}},"required":["a"]}`,
		},
		{
			name: "untyped schemas get a type from their keywords, or STRING",
			in: `{"properties":{"any":{},"also":true,"list":{"type":"array"},"tags":{"items":{"type":"string"}},"size":{"maximum":5},
				"obj":{"properties":{"k":{"type":"string"}}},"txt":{"description":"free text","maxLength":20}}}`,
			want: `{"type":"OBJECT","properties":{"any":{"type":"STRING"},"also":{"type":"STRING"},"list":{"type":"ARRAY","items":{"type":"STRING"}},
				"tags":{"type":"ARRAY","items":{"type":"STRING"}},"size":{"type":"NUMBER","maximum":5},
				"obj":{"type":"OBJECT","properties":{"k":{"type":"STRING"}}},"txt":{"type":"STRING","description":"free text","maxLength":20}}}`,
		},
		{
			name: "an anyOf of bare constraints under a type says nothing more than the type",
			in:   `{"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"}},"anyOf":[{"required":["id"]},{"required":["name"]}]}`,
			want: `{"type":"OBJECT","properties":{"id":{"type":"STRING"},"name":{"type":"STRING"}}}`,
		},
		{
			name: "patterns Google's RE2 cannot compile are dropped",
			in:   `{"type":"object","properties":{"ok":{"type":"string","pattern":"^[a-z]+$"},"lookahead":{"type":"string","pattern":"^(?=.*\\d).+$"}}}`,
			want: `{"type":"OBJECT","properties":{"ok":{"type":"STRING","pattern":"^[a-z]+$"},"lookahead":{"type":"STRING"}}}`,
		},
		{
			name: "tuples become anyOf of their members",
			in:   `{"type":"object","properties":{"pair":{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"minItems":2,"maxItems":2}}}`,
			want: `{"type":"OBJECT","properties":{"pair":{"type":"ARRAY","items":{"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]},"minItems":2,"maxItems":2}}}`,
		},
		{
			name: "keywords of another type are dropped",
			in:   `{"type":"object","properties":{"s":{"type":"string","minimum":3,"items":{"type":"string"},"properties":{"x":{"type":"string"}}}}}`,
			want: `{"type":"OBJECT","properties":{"s":{"type":"STRING"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jsonEqual(t, reduce(t, tt.in), tt.want)
		})
	}
}

func TestReduceSchemaKeepsPropertyOrder(t *testing.T) {
	t.Parallel()
	got := string(reduce(t, `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"},"mid":{"type":"string"}}}`))
	if !(strings.Index(got, "zeta") < strings.Index(got, "alpha") && strings.Index(got, "alpha") < strings.Index(got, "mid")) {
		t.Errorf("property order lost: %s", got)
	}
}

func TestReduceSchemaErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"type":"array","items":`, 80) + `{"type":"string"}` + strings.Repeat(`}`, 80)
	// Each level references the next twice: inlined, 2^20 nodes.
	var bomb strings.Builder
	bomb.WriteString(`{"type":"object","properties":{"a":{"$ref":"#/$defs/d0"}},"$defs":{`)
	for i := range 20 {
		if i > 0 {
			bomb.WriteString(",")
		}
		next := strconv.Itoa(i + 1)
		bomb.WriteString(`"d` + strconv.Itoa(i) + `":{"type":"object","properties":{"l":{"$ref":"#/$defs/d` + next + `"},"r":{"$ref":"#/$defs/d` + next + `"}}}`)
	}
	bomb.WriteString(`,"d20":{"type":"string"}}}`)
	tests := []struct {
		name, in, want string
	}{
		{"remote $ref", `{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}`, `properties.a: $ref "https://example.com/s.json" points outside the schema`},
		{"dangling $ref", `{"type":"object","properties":{"a":{"$ref":"#/$defs/Missing"}}}`, `properties.a: $ref "#/$defs/Missing" does not resolve`},
		{"false schema", `{"type":"object","properties":{"never":false}}`, `properties.never: the schema false`},
		{"not an object", `{"type":"object","properties":{"a":"string"}}`, `properties.a: a schema must be a JSON object`},
		{"too deep", `{"type":"object","properties":{"a":` + deep + `}}`, "nested more than 64 levels deep"},
		{"reference bomb", bomb.String(), "more than 5000 schemas once $ref is inlined"},
		{"duplicate names", `{"type":"object","type":"string"}`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := reduceSchema(jsontext.Value(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReduceParameters(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `null`, `{"type":"object","properties":{}}`, `{"type":"object"}`, `{"type":"object","additionalProperties":false,"$schema":"x"}`} {
		got, err := reduceParameters(jsontext.Value(in))
		if err != nil || got != nil {
			t.Errorf("reduceParameters(%s) = %s, %v; want no parameters (Gemini rejects an OBJECT with empty properties)", in, got, err)
		}
	}
	if _, err := reduceParameters(jsontext.Value(`{"type":"string"}`)); err == nil {
		t.Error("a non-object parameters schema was accepted")
	}
	got, err := reduceParameters(jsontext.Value(`{"type":"object","properties":{"q":{"type":"string"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"type":"OBJECT","properties":{"q":{"type":"STRING"}}}`)
}

func BenchmarkReduceSchema(b *testing.B) {
	in := jsontext.Value(`{"$defs":{"Priority":{"enum":["low","normal","high"],"title":"Priority","type":"string"},
		"Label":{"properties":{"name":{"title":"Name","type":"string"},"color":{"anyOf":[{"type":"string"},{"type":"null"}],"default":null,"title":"Color"}},
		"required":["name"],"title":"Label","type":"object"}},
		"properties":{"title":{"title":"Title","type":"string"},
		"priority":{"$ref":"#/$defs/Priority","default":"normal","description":"How urgent"},
		"labels":{"items":{"$ref":"#/$defs/Label"},"title":"Labels","type":"array"},
		"due":{"anyOf":[{"format":"date-time","type":"string"},{"type":"null"}],"default":null,"title":"Due"}},
		"required":["title"],"title":"create_ticketArguments","type":"object"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reduceParameters(in); err != nil {
			b.Fatal(err)
		}
	}
}
