package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFakeVertexIsStrict proves the fake rejects what Vertex AI rejects,
// so that the end-to-end tests passing means the gateway's requests
// would pass too.
func TestFakeVertexIsStrict(t *testing.T) {
	const (
		path   = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
		path3  = "/v1/projects/p/locations/global/publishers/google/models/gemini-3-pro-preview:generateContent"
		user   = `{"role":"user","parts":[{"text":"hi"}]}`
		weathr = `{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}}}}`
	)
	call := `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]}`
	answer := `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"output":"18°C"}}}]}`
	tests := []struct {
		name, path, body string
		header           map[string]string
		status           int
		msg              string
	}{
		{"a good request", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[` + weathr + `]}]}`, nil, 200, ""},
		{"a good tool round trip", path, `{"contents":[` + user + `,` + call + `,` + answer + `]}`, nil, 200, ""},
		{"unknown top-level field", path, `{"model":"x","contents":[` + user + `]}`, nil, 400, `Unknown name "model"`},
		{"unknown part field", path, `{"contents":[{"role":"user","parts":[{"text":"hi","type":"text"}]}]}`, nil, 400, `Unknown name "type" at 'contents.0.parts.0'`},
		{"OpenAI role", path, `{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}`, nil, 400, "valid role"},
		{"no role", path, `{"contents":[{"parts":[{"text":"hi"}]}]}`, nil, 400, "valid role"},
		{"empty parts", path, `{"contents":[{"role":"user","parts":[]}]}`, nil, 400, "must not be empty"},
		{"empty text", path, `{"contents":[{"role":"user","parts":[{"text":""}]}]}`, nil, 400, "empty text parameter"},
		{"additionalProperties", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING"}},"additionalProperties":false}}]}]}`, nil, 400, `Unknown name "additionalProperties"`},
		{"$ref", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"$ref":"#/$defs/A"}}}}]}]}`, nil, 400, `Unknown name "$ref"`},
		{"untyped schema", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"description":"x"}}}}]}]}`, nil, 400, "type: must be specified"},
		{"type array", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":["string","null"]}}}}]}]}`, nil, 400, "Invalid value"},
		{"numeric enum", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"INTEGER","enum":[1,2]}}}}]}]}`, nil, 400, "Invalid value"},
		{"empty properties", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{}}}]}]}`, nil, 400, "should be non-empty for OBJECT type"},
		{"uri format", path, `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING","format":"uri"}}}}]}]}`, nil, 400, "format"},
		{"allowed names without ANY", path, `{"contents":[` + user + `],"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["f"]}}}`, nil, 400, "only be specified for ANY mode"},
		{"results missing", path, `{"contents":[` + user + `,` + call + `,` + user + `]}`, nil, 400, "number of function response parts"},
		{"call after a model turn", path, `{"contents":[` + user + `,{"role":"model","parts":[{"text":"ok"}]},` + call + `,` + answer + `]}`, nil, 400, "immediately after a user turn"},
		{"gemini 3 without signature", path3, `{"contents":[` + user + `,` + call + `,` + answer + `]}`, nil, 400, "missing a thought_signature"},
		{"signature not base64", path, `{"contents":[` + user + `,{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"not base64!"}]}]}`, nil, 400, "Invalid value"},
		{"stream without alt=sse", strings.Replace(path, ":generateContent", ":streamGenerateContent", 1), `{"contents":[` + user + `]}`, nil, 400, "alt=sse"},
		{"wrong token", path, `{"contents":[` + user + `]}`, map[string]string{"Authorization": "Bearer other"}, 401, "invalid authentication credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answered := false
			f := &fakeVertex{token: "tok", answer: func(w http.ResponseWriter, _ *http.Request, _ *vertexCall) { answered = true }}
			req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer tok")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, req)
			if tt.status == 200 {
				if !answered {
					t.Fatalf("rejected a good request: %d %s", rec.Code, rec.Body)
				}
				return
			}
			var body struct {
				Error struct {
					Code    int
					Message string
					Status  string
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body is not Google's shape: %s", rec.Body)
			}
			if answered || rec.Code != tt.status || body.Error.Code != tt.status || !strings.Contains(body.Error.Message, tt.msg) {
				t.Errorf("got %d %+v, want %d containing %q", rec.Code, body.Error, tt.status, tt.msg)
			}
		})
	}
}
