package gemini

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func TestVertexEndpoints(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	creds := writeFile(t, serviceAccountJSON(server))
	tests := []struct {
		name   string
		v      Vertex
		model  string
		stream bool
		want   string
	}{
		{"regional", Vertex{Project: "p1", Location: "us-central1"}, "gemini-2.5-flash", false,
			"https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"},
		{"global by default, project from the credentials", Vertex{}, "gemini-2.5-pro", true,
			"https://aiplatform.googleapis.com/v1/projects/test-project/locations/global/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"},
		{"us multi-region, v1beta1", Vertex{Project: "p1", Location: "us", APIVersion: "v1beta1"}, "gemini-3-pro-preview", false,
			"https://aiplatform.us.rep.googleapis.com/v1beta1/projects/p1/locations/us/publishers/google/models/gemini-3-pro-preview:generateContent"},
		{"eu multi-region", Vertex{Project: "p1", Location: "eu"}, "gemini-2.5-flash", false,
			"https://aiplatform.eu.rep.googleapis.com/v1/projects/p1/locations/eu/publishers/google/models/gemini-2.5-flash:generateContent"},
		{"a tuned model's endpoint by resource name", Vertex{Project: "p1", Location: "europe-west4"}, "projects/p1/locations/europe-west4/endpoints/123", true,
			"https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4/endpoints/123:streamGenerateContent?alt=sse"},
		{"base_url override", Vertex{Project: "p1", Location: "us-east5", Common: commonWithBase("https://vertex.internal:8443/")}, "gemini-2.5-flash", false,
			"https://vertex.internal:8443/v1/projects/p1/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"},
		{"express mode", Vertex{Common: commonWithKey(testKey)}, "gemini-2.5-flash", true,
			"https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.v
			if v.APIKey == "" {
				v.CredentialsFile = creds
			}
			if err := v.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			defer v.Cleanup()
			if err := v.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := v.endpoint(tt.model, tt.stream); got != tt.want {
				t.Errorf("endpoint = %s\nwant       %s", got, tt.want)
			}
		})
	}
}

func commonWithBase(base string) (c connectors.Common) { c.BaseURL = base; return c }
func commonWithKey(key string) (c connectors.Common)   { c.APIKey = key; return c }

func TestGeminiEndpoint(t *testing.T) {
	t.Parallel()
	g := &Gemini{}
	g.APIKey = testKey
	if err := g.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	defer g.Cleanup()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := g.endpoint("gemini-2.5-flash", true), "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"; got != want {
		t.Errorf("endpoint = %s", got)
	}
	if got, want := g.endpoint("tunedModels/my-model-7", false), "https://generativelanguage.googleapis.com/v1beta/tunedModels/my-model-7:generateContent"; got != want {
		t.Errorf("endpoint = %s", got)
	}
	if g.Capabilities().Dialect != "gemini" {
		t.Errorf("capabilities = %+v", g.Capabilities())
	}
}

func TestGeminiSendsKeyHeader(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, jsonReply(200, fixture(t, "gemini_generate_nonstream.json")))
	g := &Gemini{}
	g.BaseURL, g.APIKey = u.URL, testKey
	g.Headers = map[string]string{"X-Extra": "yes"}
	if err := g.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	defer g.Cleanup()
	if _, err := g.Generate(context.Background(), simpleRequest()); err != nil {
		t.Fatal(err)
	}
	req := u.last(t)
	if req.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || req.Header.Get("X-Goog-Api-Key") != testKey ||
		req.Header.Get("X-Extra") != "yes" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %v", req.Path, req.Header)
	}
	if strings.Contains(req.Query, testKey) {
		t.Error("the key went into the URL")
	}
}

func TestVertexSendsAccessToken(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	creds := writeFile(t, serviceAccountJSON(server))
	u := newUpstream(t, jsonReply(200, fixture(t, "gemini_generate_nonstream.json")))
	// Two providers on the same credentials share one token source.
	var vs []*Vertex
	for range 2 {
		v := &Vertex{Project: "p1", Location: "us-central1", CredentialsFile: creds}
		v.BaseURL = u.URL
		if err := v.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		defer v.Cleanup()
		vs = append(vs, v)
	}
	if vs[0].tokens != vs[1].tokens {
		t.Error("providers with the same credentials do not share a token source")
	}
	for range 5 {
		for _, v := range vs {
			if _, err := v.Generate(context.Background(), simpleRequest()); err != nil {
				t.Fatal(err)
			}
		}
	}
	req := u.last(t)
	if req.Path != "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent" ||
		req.Header.Get("Authorization") != "Bearer tok-1" || req.Header.Get("X-Goog-Api-Key") != "" {
		t.Errorf("request %s %v", req.Path, req.Header)
	}
	if n := server.fetches.Load(); n != 1 {
		t.Errorf("%d token fetches for 10 requests", n)
	}
}

func TestVertexTokenFailure(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	server.Close() // the token endpoint is down
	v := &Vertex{Project: "p1", CredentialsFile: writeFile(t, serviceAccountJSON(server))}
	v.BaseURL = "http://127.0.0.1:1"
	if err := v.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	defer v.Cleanup()
	_, err := v.Generate(context.Background(), simpleRequest())
	if ue := asUnified(t, err); ue.Kind != unified.KindUpstream || !strings.Contains(ue.Message, "cannot authenticate to Google") {
		t.Errorf("error = %+v", ue)
	}
}

func TestProvisionErrors(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	noProject := []byte(strings.Replace(string(serviceAccountJSON(server)), `"project_id":"test-project",`, "", 1))
	tests := []struct {
		name string
		p    interface {
			Provision(caddy.Context) error
			Validate() error
			Cleanup() error
		}
		want string
	}{
		{"gemini without key", &Gemini{}, "api_key is required"},
		{"vertex credentials file missing", &Vertex{CredentialsFile: "/nonexistent/sa.json", Project: "p"}, "credentials_file"},
		{"vertex without a project", &Vertex{CredentialsFile: writeFile(t, noProject)}, "project is required"},
		{"credentials_file resolving to nothing", &Vertex{CredentialsFile: "{env.XJP_TEST_UNSET_CREDENTIALS}"}, "credentials_file: resolves to an empty value"},
		{"project resolving to nothing", &Vertex{CredentialsFile: writeFile(t, noProject), Project: "{env.XJP_TEST_UNSET_PROJECT}"}, "project: resolves to an empty value"},
		{"express with credentials", &Vertex{Common: commonWithKey(testKey), CredentialsFile: "x"}, "exclusive"},
		{"express with a project", &Vertex{Common: commonWithKey(testKey), Project: "p"}, "no project or location"},
		{"bad api_version", &Gemini{Common: commonWithKey(testKey), APIVersion: "latest"}, "api_version"},
		{"bad safety category", &Gemini{Common: commonWithKey(testKey), Options: Options{SafetySettings: []SafetySetting{{Category: "VIOLENCE", Threshold: "OFF"}}}}, "harm category"},
		{"bad safety threshold", &Gemini{Common: commonWithKey(testKey), Options: Options{SafetySettings: []SafetySetting{{Category: "HARM_CATEGORY_HARASSMENT", Threshold: "SOME"}}}}, "threshold"},
		{"safety method on the Gemini API", &Gemini{Common: commonWithKey(testKey), Options: Options{SafetySettings: []SafetySetting{{Category: "HARM_CATEGORY_HARASSMENT", Threshold: "OFF", Method: "SEVERITY"}}}}, "Vertex AI option"},
	}
	for _, tt := range tests {
		err := tt.p.Provision(caddy.Context{})
		if err == nil {
			err = tt.p.Validate()
		}
		_ = tt.p.Cleanup()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	bad := &Vertex{Project: "p1", Location: "us-central1/../x", CredentialsFile: writeFile(t, serviceAccountJSON(server))}
	err := bad.Provision(caddy.Context{})
	if err == nil {
		err = bad.Validate()
	}
	_ = bad.Cleanup()
	if err == nil || !strings.Contains(err.Error(), "location") {
		t.Errorf("location with a path: err = %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`vertex {
		project my-proj
		location europe-west4
		credentials_file {env.VERTEX_SA}
		api_version v1beta1
		safety HARM_CATEGORY_DANGEROUS_CONTENT BLOCK_ONLY_HIGH
		safety HARM_CATEGORY_HARASSMENT BLOCK_NONE SEVERITY
		include_thoughts
		header X-Team search
		dial_timeout 3s
	}`)
	var v Vertex
	if err := v.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if v.Project != "my-proj" || v.Location != "europe-west4" || v.CredentialsFile != "{env.VERTEX_SA}" || v.APIVersion != "v1beta1" ||
		!v.IncludeThoughts || v.Headers["X-Team"] != "search" || len(v.SafetySettings) != 2 ||
		v.SafetySettings[1] != (SafetySetting{"HARM_CATEGORY_HARASSMENT", "BLOCK_NONE", "SEVERITY"}) {
		t.Errorf("parsed %+v", v)
	}

	var g Gemini
	if err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`gemini {
		api_key {env.GEMINI_API_KEY}
		api_version v1
	}`)); err != nil {
		t.Fatal(err)
	}
	if g.APIKey != "{env.GEMINI_API_KEY}" || g.APIVersion != "v1" {
		t.Errorf("parsed %+v", g)
	}

	for _, bad := range []string{
		"vertex extra-arg",
		"vertex {\n project\n}",
		"vertex {\n region us\n}",
		"vertex {\n safety ONLY_ONE\n}",
		"vertex {\n include_thoughts yes\n}",
		"gemini {\n project p\n}",
	} {
		var err error
		if strings.HasPrefix(bad, "gemini") {
			err = new(Gemini).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad))
		} else {
			err = new(Vertex).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad))
		}
		if err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}
