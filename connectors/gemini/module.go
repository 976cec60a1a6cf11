// Package gemini connects to Google's Gemini models. It registers two
// provider types that share one translator: vertex (Vertex AI, with OAuth
// from a service account or Application Default Credentials, or an
// express-mode API key) and gemini (the Gemini API, with an API key).
package gemini

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/xiaojinpro/xjp-gateway/connectors"
)

func init() {
	caddy.RegisterModule(Vertex{})
	caddy.RegisterModule(Gemini{})
}

// Options are the generation options both provider types take.
type Options struct {
	// SafetySettings set how strictly each harm category is blocked, on
	// every request to this provider. Default: the API's own thresholds.
	SafetySettings []SafetySetting `json:"safety_settings,omitempty"`

	// IncludeThoughts asks thinking models for summaries of their
	// reasoning, which OpenAI clients receive as reasoning_content.
	IncludeThoughts bool `json:"include_thoughts,omitempty"`
}

// Vertex is the provider type "vertex": Gemini models on Google Cloud
// Vertex AI, at
// https://{location}-aiplatform.googleapis.com/{api_version}/projects/{project}/locations/{location}/publishers/google/models/{model}
// (the global location at https://aiplatform.googleapis.com, the us and eu
// multi-regions at https://aiplatform.{us|eu}.rep.googleapis.com).
//
// It authenticates with OAuth access tokens from credentials_file, or from
// Application Default Credentials when that is empty
// ($GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login,
// or the metadata server on Google Cloud). Tokens are cached and renewed
// in the background. With api_key set it uses Vertex AI express mode
// instead: the key in x-goog-api-key and the project-less URL
// https://aiplatform.googleapis.com/{api_version}/publishers/google/models/{model}.
//
// An upstream model name with a slash is a full resource name under the
// API version, e.g. projects/p/locations/l/endpoints/123 for a tuned
// model.
type Vertex struct {
	connectors.Common
	Options

	// Project is the Google Cloud project id. Default: the project_id of
	// the service-account credentials. Not used in express mode.
	Project string `json:"project,omitempty"`

	// Location is the region (us-central1, europe-west4, …), global, or the
	// multi-region us or eu. Default: global. Not used in express mode.
	Location string `json:"location,omitempty"`

	// APIVersion is v1 or v1beta1. Default: v1.
	APIVersion string `json:"api_version,omitempty"`

	// CredentialsFile is the path of a service-account key (or other
	// Google credentials JSON). It may hold placeholders such as
	// {env.VERTEX_CREDENTIALS}. Default: Application Default Credentials.
	CredentialsFile string `json:"credentials_file,omitempty"`

	engine
	poolKey string
}

// Gemini is the provider type "gemini": the Gemini API at
// https://generativelanguage.googleapis.com/{api_version}/models/{model},
// authenticated with api_key (sent as x-goog-api-key).
type Gemini struct {
	connectors.Common
	Options

	// APIVersion is v1beta or v1. Default: v1beta.
	APIVersion string `json:"api_version,omitempty"`

	engine
}

// CaddyModule returns the Caddy module information.
func (Vertex) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.vertex",
		New: func() caddy.Module { return new(Vertex) },
	}
}

// CaddyModule returns the Caddy module information.
func (Gemini) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.gemini",
		New: func() caddy.Module { return new(Gemini) },
	}
}

// vertexBaseURL is the API host for a location, or for express mode.
func vertexBaseURL(location string, express bool) string {
	switch {
	case express || location == "global":
		return "https://aiplatform.googleapis.com"
	case location == "us" || location == "eu":
		return "https://aiplatform." + location + ".rep.googleapis.com"
	default:
		return "https://" + location + "-aiplatform.googleapis.com"
	}
}

// Provision resolves secrets, finds the credentials (without network
// I/O: a token is fetched in the background) and builds the endpoint.
func (v *Vertex) Provision(ctx caddy.Context) error {
	v.engine = engine{name: "vertex", common: &v.Common, safety: v.SafetySettings, includeThoughts: v.IncludeThoughts}
	if v.APIVersion == "" {
		v.APIVersion = "v1"
	}
	location := v.Location
	if location == "" {
		location = "global"
	}
	express := v.APIKey != ""
	if err := v.Common.Setup(vertexBaseURL(location, express)); err != nil {
		return err
	}
	v.root = v.BaseURL + "/" + v.APIVersion + "/"
	if express {
		v.models = v.root + "publishers/google/models/"
		return nil
	}

	// A path or project set through a placeholder that resolves to nothing
	// is a mistake, not a request for the defaults.
	repl := caddy.NewReplacer()
	file, err := connectors.ResolveSecret(repl, v.CredentialsFile)
	if err != nil {
		return fmt.Errorf("credentials_file: %w", err)
	}
	if v.project, err = connectors.ResolveSecret(repl, v.Project); err != nil {
		return fmt.Errorf("project: %w", err)
	}
	data, source, err := credentialsJSON(file)
	if err != nil {
		return fmt.Errorf("credentials_file: %w", err)
	}
	key := poolKey(data)
	val, _, err := tokenPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newTokenSource(data, tokenOptions{earlyRefresh: earlyRefresh, refreshEvery: refreshEvery}, ctx.Logger())
	})
	if err != nil {
		return fmt.Errorf("credentials from %s: %w", source, err)
	}
	v.poolKey, v.tokens = key, val.(*tokenSource)

	if v.project == "" {
		v.project = v.tokens.projectID
	}
	if v.project == "" {
		return errors.New("project is required: the credentials (" + source + ") do not name one")
	}
	v.models = v.root + "projects/" + v.project + "/locations/" + location + "/publishers/google/models/"
	return nil
}

var (
	projectPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]*$`)
	locationPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	versionPattern  = regexp.MustCompile(`^v[0-9][a-z0-9]*$`)
)

// Validate checks the options.
func (v *Vertex) Validate() error {
	if v.APIKey != "" {
		if v.CredentialsFile != "" {
			return errors.New("api_key (express mode) and credentials_file are exclusive")
		}
		if v.Project != "" || v.Location != "" {
			return errors.New("express mode (api_key) uses no project or location; remove them, or remove api_key to use OAuth")
		}
	}
	if v.project != "" && !projectPattern.MatchString(v.project) {
		return fmt.Errorf("project %q is not a Google Cloud project id", v.project)
	}
	if v.Location != "" && !locationPattern.MatchString(v.Location) {
		return fmt.Errorf("location %q is not a Google Cloud location", v.Location)
	}
	if !versionPattern.MatchString(v.APIVersion) {
		return fmt.Errorf("api_version %q is not an API version such as v1 or v1beta1", v.APIVersion)
	}
	return validateSafety(v.SafetySettings, true)
}

// Cleanup releases the token source and idle connections.
func (v *Vertex) Cleanup() error {
	if v.poolKey != "" {
		_, _ = tokenPool.Delete(v.poolKey)
		v.poolKey = ""
	}
	return v.Common.Cleanup()
}

// Provision resolves the API key and builds the endpoint.
func (g *Gemini) Provision(caddy.Context) error {
	g.engine = engine{name: "gemini", common: &g.Common, safety: g.SafetySettings, includeThoughts: g.IncludeThoughts}
	if g.APIVersion == "" {
		g.APIVersion = "v1beta"
	}
	if err := g.Common.Setup("https://generativelanguage.googleapis.com"); err != nil {
		return err
	}
	if g.Key() == "" {
		return errors.New("api_key is required for the Gemini API")
	}
	g.root = g.BaseURL + "/" + g.APIVersion + "/"
	g.models = g.root + "models/"
	return nil
}

// Validate checks the options.
func (g *Gemini) Validate() error {
	if !versionPattern.MatchString(g.APIVersion) {
		return fmt.Errorf("api_version %q is not an API version such as v1beta or v1", g.APIVersion)
	}
	return validateSafety(g.SafetySettings, false)
}

var thresholds = map[string]bool{
	"BLOCK_LOW_AND_ABOVE": true, "BLOCK_MEDIUM_AND_ABOVE": true, "BLOCK_ONLY_HIGH": true,
	"BLOCK_NONE": true, "OFF": true, "HARM_BLOCK_THRESHOLD_UNSPECIFIED": true,
}

func validateSafety(settings []SafetySetting, vertex bool) error {
	for _, s := range settings {
		if !strings.HasPrefix(s.Category, "HARM_CATEGORY_") {
			return fmt.Errorf("safety category %q is not a harm category such as HARM_CATEGORY_DANGEROUS_CONTENT", s.Category)
		}
		if !thresholds[s.Threshold] {
			return fmt.Errorf("safety threshold %q must be BLOCK_LOW_AND_ABOVE, BLOCK_MEDIUM_AND_ABOVE, BLOCK_ONLY_HIGH, BLOCK_NONE or OFF", s.Threshold)
		}
		switch s.Method {
		case "":
		case "SEVERITY", "PROBABILITY":
			if !vertex {
				return errors.New("safety method is a Vertex AI option; the Gemini API does not take it")
			}
		default:
			return fmt.Errorf("safety method %q must be SEVERITY or PROBABILITY", s.Method)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Vertex)(nil)
	_ caddy.Validator       = (*Vertex)(nil)
	_ caddy.CleanerUpper    = (*Vertex)(nil)
	_ caddyfile.Unmarshaler = (*Vertex)(nil)
	_ connectors.Connector  = (*Vertex)(nil)
	_ connectors.Named      = (*Vertex)(nil)
	_ caddy.Provisioner     = (*Gemini)(nil)
	_ caddy.Validator       = (*Gemini)(nil)
	_ caddy.CleanerUpper    = (*Gemini)(nil)
	_ caddyfile.Unmarshaler = (*Gemini)(nil)
	_ connectors.Connector  = (*Gemini)(nil)
	_ connectors.Named      = (*Gemini)(nil)
)
