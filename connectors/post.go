package connectors

import (
	"bytes"
	"context"
	"net/http"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Post sends a JSON body to url with the configured extra headers and the
// Accept header a stream or a whole answer needs; auth then sets the
// provider's own headers (credentials, versions). It returns the response
// when its status is 200. Any other answer is read and handed to
// upstreamError, which turns the provider's error body into the failure;
// a transport failure is classified with TransportError.
func (c *Common) Post(ctx context.Context, provider, url string, body []byte, stream bool,
	auth func(http.Header), upstreamError func(status int, body []byte, h http.Header) *unified.Error) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, unified.Errorf(unified.KindInternal, "building upstream request: %v", err)
	}
	h := req.Header
	for k, v := range c.headers {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	if stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	if auth != nil {
		auth(h)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, TransportError(ctx, provider, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, upstreamError(resp.StatusCode, ReadErrorBody(resp), resp.Header)
	}
	return resp, nil
}
