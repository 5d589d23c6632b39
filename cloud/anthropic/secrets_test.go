package anthropic

// Ping and API key tests, against anthropictest (helpers_test.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/cloud/anthropic/anthropictest"
	"github.com/edgecascade/edgecascade/cloud/cloudtest"
)

// TestPingWireFormat: Ping asks for one model. Its answers and failures
// (401, 5xx and 529 not retried) are in the contract (contract_test.go).
func TestPingWireFormat(t *testing.T) {
	t.Parallel()
	f := anthropictest.New(t, anthropictest.Config{})
	if err := newTestClient(t, f.URL, nil).Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if r := f.Last(); len(f.Requests()) != 1 || r.Method != "GET" || r.Path != "/v1/models" || r.Query != "limit=1" {
		t.Errorf("ping sent %d requests, the last %s %s?%s; want one GET /v1/models?limit=1", len(f.Requests()), r.Method, r.Path, r.Query)
	}
}

// Servers may echo what they were sent, the credential header included; the
// key must not reach any error message.
func TestAPIKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	echo := func(r *http.Request) string {
		return "you sent " + r.Header.Get("Authorization") + r.Header.Get("X-Api-Key")
	}
	stream := func(c *Client) error { _, err := c.Stream(context.Background(), testRequest(), nil); return err }
	tests := []struct {
		name    string
		handler handler
		call    func(c *Client) error
	}{
		{
			name: "error body message",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 401, "authentication_error", echo(r))
			},
		},
		{
			name: "error body type and request id",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(403)
				_, _ = fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":"no"},"request_id":%q}`, echo(r), echo(r))
			},
		},
		{
			name: "bare string error",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(400)
				_, _ = fmt.Fprintf(w, `{"error":%q}`, echo(r))
			},
		},
		{
			name: "plain-text body",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(403)
				_, _ = io.WriteString(w, echo(r))
			},
		},
		{
			name: "request-id header",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("request-id", echo(r))
				w.WriteHeader(400)
			},
		},
		{
			name: "error event mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteSSE(w, messageStart(), anthropictest.ErrorEvent("overloaded_error", echo(r)))
			},
			call: stream,
		},
		{
			name: "undecodable error event",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteSSE(w, messageStart(), sse{Type: "error", Data: echo(r)})
			},
			call: stream,
		},
		{
			name: "malformed event",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteSSE(w, sse{Type: "message_start", Data: fmt.Sprintf(`{"type": %q`, echo(r))})
			},
			call: stream,
		},
		{
			name: "ping",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				anthropictest.WriteError(w, 401, "authentication_error", echo(r))
			},
			call: func(c *Client) error { return c.Ping(context.Background()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.handler)
			c := newTestClient(t, f.URL, func(c *Config) { c.MaxRetries = 0 })
			call := tt.call
			if call == nil {
				call = func(c *Client) error { _, err := c.Complete(context.Background(), testRequest()); return err }
			}
			err := call(c)
			if err == nil {
				t.Fatal("want error")
			}
			if auth := lastRequest(f).header.Get("Authorization"); !strings.Contains(auth, testKey) {
				t.Fatalf("the fake did not receive the key (Authorization %q)", auth)
			}
			noKey(t, err)
			var ae *APIError
			if errors.As(err, &ae) && strings.Contains(ae.Type+ae.Message+ae.RequestID, testKey) {
				t.Errorf("API key in APIError fields: %+v", *ae)
			}
		})
	}
}

func TestConfigDoesNotPrintKey(t *testing.T) {
	t.Parallel()
	cfg := Config{BaseURL: "https://api.anthropic.com", Model: "m", APIKey: testKey}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cloudtest.NotFormatted(t, testKey, cfg, c, cfg.LogValue().String())
}
