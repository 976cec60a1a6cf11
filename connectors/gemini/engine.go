package gemini

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// engine is what the vertex and gemini provider types share once
// provisioned: the endpoint, the credentials and the translator.
type engine struct {
	name   string // provider type, for messages
	common *connectors.Common

	// models is the URL prefix of a publisher model (…/models/), root the
	// API version's root (for full resource names such as tuned-model
	// endpoints).
	models, root string

	tokens  *tokenSource // OAuth, when no API key is set
	project string       // scrubbed from upstream messages

	safety          []SafetySetting
	includeThoughts bool
}

func (e *engine) key() string { return e.common.Key() }

// endpoint is the URL of model's generateContent, or of its SSE stream.
func (e *engine) endpoint(model string, stream bool) string {
	method := ":generateContent"
	if stream {
		method = ":streamGenerateContent?alt=sse"
	}
	if strings.ContainsAny(model, "?#% ") {
		segs := strings.Split(model, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		model = strings.Join(segs, "/")
	}
	if strings.Contains(model, "/") {
		return e.root + model + method
	}
	return e.models + model + method
}

// Capabilities implements connectors.Connector.
func (e *engine) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{Dialect: "gemini", Documents: true}
}

// Generate implements connectors.Connector.
func (e *engine) Generate(ctx context.Context, req *unified.Request) (*unified.Response, error) {
	resp, err := e.post(ctx, req, false)
	if err != nil {
		return nil, err
	}
	body, err := connectors.ReadAnswer(ctx, resp, e.name)
	if err != nil {
		return nil, err
	}
	var gr generateResponse
	if err := json.Unmarshal(body, &gr); err != nil {
		return nil, unified.Errorf(unified.KindUpstream, "provider %s returned an unreadable answer", e.name)
	}
	t := translator{e: e}
	events := make([]unified.Event, 0, 8)
	push := func(ev unified.Event) { events = append(events, ev) }
	if err := t.chunk(&gr, push); err != nil {
		return nil, err
	}
	if err := t.end(push, true); err != nil {
		return nil, err
	}
	return unified.Collect(&unified.SliceStream{Events: events})
}

// Stream implements connectors.Connector.
func (e *engine) Stream(ctx context.Context, req *unified.Request) (unified.Stream, error) {
	resp, err := e.post(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return e.newStream(ctx, resp), nil
}

// post sends req and returns the upstream response once its status is 200.
func (e *engine) post(ctx context.Context, req *unified.Request, stream bool) (*http.Response, error) {
	body, err := e.encodeRequest(req)
	if err != nil {
		var ue *unified.Error
		if errors.As(err, &ue) {
			return nil, ue
		}
		return nil, unified.Errorf(unified.KindInternal, "cannot encode the request for provider %s", e.name)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint(req.Model, stream), bytes.NewReader(body))
	if err != nil {
		return nil, unified.Errorf(unified.KindInternal, "building the request for provider %s failed", e.name)
	}
	h := hreq.Header
	for k, v := range e.common.ExtraHeaders() {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	if stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	switch {
	case e.key() != "":
		h.Set("X-Goog-Api-Key", e.key())
	case e.tokens != nil:
		if err := e.tokens.authorize(ctx, h); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The token refresher logs the cause once; logging it on every
			// request would flood the log while the credentials are broken.
			return nil, &unified.Error{Kind: unified.KindUpstream, Retryable: true,
				Message: "provider " + e.name + " cannot authenticate to Google; see the gateway's log"}
		}
	}
	resp, err := e.common.Client().Do(hreq)
	if err != nil {
		return nil, connectors.TransportError(ctx, e.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, e.upstreamError(resp.StatusCode, connectors.ReadErrorBody(resp), resp.Header)
	}
	return resp, nil
}

// SetName implements connectors.Named.
func (e *engine) SetName(name string) { e.name = name }
