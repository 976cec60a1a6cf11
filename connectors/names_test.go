package connectors_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/connectors/anthropic"
	"github.com/xiaojinpro/xjp-gateway/connectors/gemini"
	"github.com/xiaojinpro/xjp-gateway/connectors/openai"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// provisioner is a connector module as the gateway holds it.
type provisioner interface {
	connectors.Connector
	connectors.Named
	Provision(caddy.Context) error
}

// connectorsAt returns one connector of every HTTP provider type, pointed
// at base, keyed by type name.
func connectorsAt(base string) map[string]provisioner {
	common := func() connectors.Common { return connectors.Common{BaseURL: base, APIKey: "sk-provider-secret"} }
	return map[string]provisioner{
		"openai":     &openai.OpenAI{Common: common()},
		"openrouter": &openai.OpenRouter{OpenAI: openai.OpenAI{Common: common()}},
		"anthropic":  &anthropic.Anthropic{Common: common()},
		"clewdr":     &anthropic.Clewdr{Anthropic: anthropic.Anthropic{Common: common()}},
		"gemini":     &gemini.Gemini{Common: common()},
		"vertex":     &gemini.Vertex{Common: common()},
	}
}

// TestErrorsNameTheConfiguredProvider: whatever fails (credentials,
// billing, an unexpected status, an unreadable answer or stream, no
// connection at all), the message names the provider as the config does,
// not by its type.
func TestErrorsNameTheConfiguredProvider(t *testing.T) {
	t.Parallel()
	answers := map[string]http.HandlerFunc{
		"credentials": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		"billing": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusPaymentRequired)
		},
		"redirect": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "http://elsewhere.invalid/")
			w.WriteHeader(http.StatusFound)
		},
		"garbage": func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.Header.Get("Accept"), "event-stream") {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "event: message_start\ndata: {not json\n\n")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{not json")
		},
	}
	for what, h := range answers {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		for typ, c := range connectorsAt(srv.URL) {
			t.Run(what+"/"+typ, func(t *testing.T) {
				t.Parallel()
				checkNamed(t, c, typ)
			})
		}
	}
	// Connection refused: a port that was just free.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	_ = l.Close()
	for typ, c := range connectorsAt(refused) {
		t.Run("refused/"+typ, func(t *testing.T) {
			t.Parallel()
			checkNamed(t, c, typ)
		})
	}
}

func checkNamed(t *testing.T, c provisioner, typ string) {
	t.Helper()
	if err := c.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	const name = "my-upstream"
	c.SetName(name)
	req := &unified.Request{Model: "m", Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("hi")}}}}

	check := func(how string, err error) {
		t.Helper()
		var ue *unified.Error
		if !errors.As(err, &ue) {
			t.Fatalf("%s: error %v is not a *unified.Error", how, err)
		}
		if !strings.Contains(ue.Message, "provider "+name) {
			t.Errorf("%s: %q does not name provider %s", how, ue.Message, name)
		}
		if strings.Contains(ue.Message, "provider "+typ) {
			t.Errorf("%s: %q names the provider type", how, ue.Message)
		}
		if strings.Contains(ue.Message, "sk-provider-secret") {
			t.Errorf("%s: %q holds the provider key", how, ue.Message)
		}
	}
	ctx := context.Background()
	_, err := c.Generate(ctx, req)
	check("generate", err)
	s, err := c.Stream(ctx, req)
	if err == nil {
		defer s.Close()
		for err == nil {
			_, err = s.Next()
		}
	}
	check("stream", err)
}
