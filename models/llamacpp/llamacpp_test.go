package llamacpp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/llamacpp/llamacpptest"
)

// fake is the shared fake llama-server (llamacpptest); route is one of its
// answers: status, content type (JSON when empty), body.
type fake = llamacpptest.Server

type route struct {
	status int
	ctype  string
	body   string
}

func newFake(t *testing.T, routes map[string]route) *fake {
	t.Helper()
	m := make(map[string]llamacpptest.Route, len(routes))
	for k, r := range routes {
		m[k] = llamacpptest.Route{Status: r.status, ContentType: r.ctype, Body: r.body}
	}
	return llamacpptest.New(t, m)
}

func newClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: url, Model: "tiny"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

var question = []models.Message{{Role: "user", Content: "Capital of France?"}}

// want is the answer chatJSON and the stream fixtures both decode to, with
// top alternatives cut to topN.
func want(topN int) *models.Response {
	top := func(alts ...models.TopLogprob) []models.TopLogprob {
		if topN == 0 {
			return nil
		}
		return alts[:min(topN, len(alts))]
	}
	return &models.Response{
		Model:   "tiny",
		Content: "Paris is.",
		Tokens: []models.TokenLogprob{
			{Token: "Paris", Logprob: -0.105, Top: top(
				models.TopLogprob{Token: "Paris", Logprob: -0.105},
				models.TopLogprob{Token: "The", Logprob: -2.41},
				models.TopLogprob{Token: "France", Logprob: -4.7})},
			{Token: " is", Logprob: -1.2, Top: top(
				models.TopLogprob{Token: " is", Logprob: -1.2},
				models.TopLogprob{Token: ".", Logprob: -0.51},
				models.TopLogprob{Token: ",", Logprob: -3.3})},
			{Token: ".", Logprob: -0.02, Top: top(
				models.TopLogprob{Token: ".", Logprob: -0.02},
				models.TopLogprob{Token: " the", Logprob: -4.1},
				models.TopLogprob{Token: "!", Logprob: -5.0})},
		},
		PromptTokens:     12,
		CompletionTokens: 4,
		FinishReason:     "stop",
		Timings: models.Timings{
			PromptEval: 30958 * time.Microsecond,
			Eval:       61500 * time.Microsecond,
			Total:      92458 * time.Microsecond,
		},
	}
}

func TestChatLogprobs(t *testing.T) {
	temp0 := 0.0
	tests := []struct {
		name     string
		req      models.Request
		model    string
		wantBody map[string]any // fields that must be present with these values
		absent   []string       // fields that must not be sent
		topN     int
	}{
		{
			name:     "two alternatives, max tokens, temperature zero",
			req:      models.Request{Messages: question, MaxTokens: 64, Temperature: &temp0, TopLogprobs: 2},
			model:    "tiny",
			wantBody: map[string]any{"logprobs": true, "top_logprobs": 2.0, "max_tokens": 64.0, "temperature": 0.0, "stream": false, "model": "tiny"},
			absent:   []string{"stream_options"},
			topN:     2,
		},
		{
			name:     "no alternatives still asks for one, or logprobs are off",
			req:      models.Request{Messages: question},
			model:    "tiny",
			wantBody: map[string]any{"logprobs": true, "top_logprobs": 1.0},
			absent:   []string{"max_tokens", "temperature"},
			topN:     0,
		},
		{
			name:     "more alternatives than the server sent",
			req:      models.Request{Messages: question, TopLogprobs: 20},
			model:    "",
			wantBody: map[string]any{"top_logprobs": 20.0},
			absent:   []string{"model"},
			topN:     20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "", chatJSON}})
			c := newClient(t, f.URL, func(c *Config) { c.Model = tt.model })
			got, err := c.Chat(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Chat: %v", err)
			}
			w := want(tt.topN)
			w.Model = c.Name()
			if !reflect.DeepEqual(got, w) {
				t.Errorf("Chat =\n%+v\nwant\n%+v", got, w)
			}
			body := f.Body(t, "POST /v1/chat/completions")
			for k, v := range tt.wantBody {
				if !reflect.DeepEqual(body[k], v) {
					t.Errorf("request %s = %v, want %v", k, body[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := body[k]; ok {
					t.Errorf("request has %s = %v, want it absent", k, body[k])
				}
			}
			msgs, _ := json.Marshal(body["messages"])
			if string(msgs) != `[{"content":"Capital of France?","role":"user"}]` {
				t.Errorf("request messages = %s", msgs)
			}
		})
	}
}

func TestChatStreamEqualsChat(t *testing.T) {
	stream := sse(streamRole, streamTok1, streamPing, streamTok2, streamTok3, streamStop, streamUsg, streamDone)
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "text/event-stream", stream}})
	c := newClient(t, f.URL, nil)
	req := models.Request{Messages: question, TopLogprobs: 2}

	var chunks []models.Chunk
	got, err := c.ChatStream(context.Background(), req, func(ch models.Chunk) error {
		chunks = append(chunks, ch)
		return nil
	})
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	body := f.Body(t, "POST /v1/chat/completions")
	if body["stream"] != true || !reflect.DeepEqual(body["stream_options"], map[string]any{"include_usage": true}) {
		t.Errorf("stream request: stream=%v stream_options=%v", body["stream"], body["stream_options"])
	}

	f2 := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "", chatJSON}})
	whole, err := newClient(t, f2.URL, nil).Chat(context.Background(), req)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if !reflect.DeepEqual(got, whole) {
		t.Errorf("ChatStream =\n%+v\nChat =\n%+v", got, whole)
	}
	if !reflect.DeepEqual(got, want(2)) {
		t.Errorf("ChatStream =\n%+v\nwant\n%+v", got, want(2))
	}

	// One chunk per token, each with its own logprobs; the role and finish
	// chunks carry nothing and are not passed on.
	if len(chunks) != 3 {
		t.Fatalf("got %d chunks, want 3: %+v", len(chunks), chunks)
	}
	var text string
	var toks []models.TokenLogprob
	for _, ch := range chunks {
		if len(ch.Tokens) != 1 || ch.Tokens[0].Token != ch.Content {
			t.Errorf("chunk %q has tokens %+v, want its own token", ch.Content, ch.Tokens)
		}
		text += ch.Content
		toks = append(toks, ch.Tokens...)
	}
	if text != got.Content || !reflect.DeepEqual(toks, got.Tokens) {
		t.Errorf("chunks add up to %q %+v, answer is %q %+v", text, toks, got.Content, got.Tokens)
	}
}

func TestChatStreamCountsFromTimings(t *testing.T) {
	stream := sse(streamRole, streamTok1, streamStopTimings, streamDone)
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "text/event-stream", stream}})
	got, err := newClient(t, f.URL, nil).ChatStream(context.Background(), models.Request{Messages: question}, func(models.Chunk) error { return nil })
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	if got.PromptTokens != 12 || got.CompletionTokens != 4 || got.FinishReason != "length" {
		t.Errorf("got prompt=%d completion=%d finish=%q, want 12 (4+8 cached), 4, length", got.PromptTokens, got.CompletionTokens, got.FinishReason)
	}
	if got.Timings.Total != 50*time.Millisecond || got.Timings.Eval != 40*time.Millisecond {
		t.Errorf("timings = %+v", got.Timings)
	}
}

// hijackCut answers 200 with part of a stream, then drops the connection
// without ending the chunked body.
func hijackCut(t *testing.T, partial string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, partial)
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestChatStreamBroken(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		cut     bool // drop the connection instead of ending the body
		kind    error
		errText string
	}{
		{"ends after a token", sse(streamRole, streamTok1), false, models.ErrUnavailable, "before the answer was complete"},
		{"connection drops after a token", sse(streamRole, streamTok1), true, models.ErrUnavailable, "read stream"},
		{"ends mid-line", sse(streamRole) + streamTok1[:60], false, models.ErrUnavailable, "decode stream chunk"},
		{"finish but no [DONE]", sse(streamRole, streamTok1, streamStop, streamUsg), false, models.ErrUnavailable, "[DONE]"},
		{"[DONE] without finish", sse(streamRole, streamTok1, streamDone), false, models.ErrUnavailable, "before the answer was complete"},
		{"error event", sse(streamRole, streamTok1, streamErr), false, models.ErrUnavailable, "Failed to decode the batch"},
		{"old error field", sse(streamRole, streamErrOld), false, models.ErrUnavailable, "server_error"},
		{"empty body", "", false, models.ErrUnavailable, "before the answer was complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.cut {
				url = hijackCut(t, tt.stream)
			} else {
				url = newFake(t, map[string]route{"POST /v1/chat/completions": {200, "text/event-stream", tt.stream}}).URL
			}
			got, err := newClient(t, url, nil).ChatStream(context.Background(), models.Request{Messages: question}, func(models.Chunk) error { return nil })
			if err == nil {
				t.Fatalf("ChatStream = %+v, want an error", got)
			}
			t.Log(err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not mention %q", err, tt.errText)
			}
			var me *models.Error
			if !errors.As(err, &me) || me.Backend != "llamacpp" || me.Model != "tiny" {
				t.Errorf("error %#v is not a *models.Error for llamacpp/tiny", err)
			}
		})
	}
}

func TestChatStreamChunkFuncError(t *testing.T) {
	stop := errors.New("client went away")
	stream := sse(streamRole, streamTok1, streamTok2, streamTok3, streamStop, streamUsg, streamDone)
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "text/event-stream", stream}})
	n := 0
	_, err := newClient(t, f.URL, nil).ChatStream(context.Background(), models.Request{Messages: question}, func(models.Chunk) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("ChatStream = %v after %d chunks, want the chunk func's error after 1", err, n)
	}
	if _, err := newClient(t, f.URL, nil).ChatStream(context.Background(), models.Request{}, nil); err == nil {
		t.Error("ChatStream with a nil func: want an error")
	}
}

func TestChatWithoutLogprobs(t *testing.T) {
	f := newFake(t, map[string]route{"POST /v1/chat/completions": {200, "", chatNoLogprobsJSON}})
	_, err := newClient(t, f.URL, nil).Chat(context.Background(), models.Request{Messages: question})
	var me *models.Error
	if !errors.As(err, &me) || !errors.Is(err, models.ErrUnavailable) || !strings.Contains(me.Hint, "upgrade") {
		t.Errorf("Chat = %v, want ErrUnavailable with an upgrade hint", err)
	}
}

// refusedURL is an address nobody listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestErrorMapping(t *testing.T) {
	type call func(context.Context, *Client) error
	chat := func(ctx context.Context, c *Client) error {
		_, err := c.Chat(ctx, models.Request{Messages: question})
		return err
	}
	stream := func(ctx context.Context, c *Client) error {
		_, err := c.ChatStream(ctx, models.Request{Messages: question}, func(models.Chunk) error { return nil })
		return err
	}
	features := func(ctx context.Context, c *Client) error {
		_, err := c.Features(ctx, "hello")
		return err
	}
	ping := func(ctx context.Context, c *Client) error { return c.Ping(ctx) }
	props := func(ctx context.Context, c *Client) error {
		_, err := c.Props(ctx)
		return err
	}

	tests := []struct {
		name   string
		status int // 0: connection refused
		ctype  string
		body   string
		call   call
		path   string
		kind   error
		hint   string // substring of the hint; "" means no hint
		msg    string // substring of the error text
	}{
		{"refused chat", 0, "", "", chat, "", models.ErrUnavailable, "is llama-server running at http://127.0.0.1:", "connect"},
		{"refused stream", 0, "", "", stream, "", models.ErrUnavailable, "is llama-server running at", "connect"},
		{"refused ping", 0, "", "", ping, "", models.ErrUnavailable, "is llama-server running at", "connect"},
		{"503 loading", 503, "", errLoading, chat, "POST /v1/chat/completions", models.ErrUnavailable, "still loading the model", "Loading model"},
		{"503 loading stream", 503, "", errLoading, stream, "POST /v1/chat/completions", models.ErrUnavailable, "still loading the model", "unavailable_error"},
		{"400 invalid request", 400, "", errInvalid, chat, "POST /v1/chat/completions", models.ErrBadRequest, "", "Only one completion choice is allowed"},
		{"400 context overflow", 400, "", errContext, chat, "POST /v1/chat/completions", models.ErrBadRequest, "(4170 tokens) does not fit the context (4096 tokens)", "exceed_context_size_error"},
		{"400 router model", 400, "", errRouterModel, chat, "POST /v1/chat/completions", models.ErrModelNotFound, `no model "tiny"`, "model not found"},
		{"404 route", 404, "", errNotFound, chat, "POST /other", models.ErrUnavailable, "no /v1/chat/completions", "File Not Found"},
		{"401 api key", 401, "", errAuth, chat, "POST /v1/chat/completions", models.ErrBadRequest, "--api-key", "Invalid API Key"},
		{"500 server error", 500, "", errServer, chat, "POST /v1/chat/completions", models.ErrUnavailable, "", "status 500 server_error: Failed to decode the batch"},
		{"500 plain text", 500, "text/plain", errException, stream, "POST /v1/chat/completions", models.ErrUnavailable, "", "status 500: Unknown Exception"},
		{"501 no embeddings", 501, "", errNoEmbeddings, features, "POST /embedding", models.ErrUnavailable, "start llama-server with --embeddings", "not_supported_error"},
		{"503 health new", 503, "", errLoading, ping, "GET /health", models.ErrUnavailable, "still loading the model", "Loading model"},
		{"503 health old", 503, "", errLoadingOld, ping, "GET /health", models.ErrUnavailable, "still loading the model", "loading model"},
		{"500 health old", 500, "", errHealthFailedOld, ping, "GET /health", models.ErrUnavailable, "", "status 500: error"},
		{"404 props", 404, "", errNotFound, props, "GET /nothing", models.ErrUnavailable, "no /props", "File Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := refusedURL(t)
			if tt.status != 0 {
				url = newFake(t, map[string]route{tt.path: {tt.status, tt.ctype, tt.body}}).URL
			}
			err := tt.call(context.Background(), newClient(t, url, nil))
			if err == nil {
				t.Fatal("want an error")
			}
			t.Log(err)
			var me *models.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v is not a *models.Error", err, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("kind = %v, want %v (%v)", me.Kind, tt.kind, err)
			}
			if tt.hint == "" && me.Hint != "" {
				t.Errorf("hint = %q, want none", me.Hint)
			}
			if !strings.Contains(me.Hint, tt.hint) {
				t.Errorf("hint = %q, want it to contain %q", me.Hint, tt.hint)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := newClient(t, srv.URL, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	_, err := c.Chat(context.Background(), models.Request{Messages: question})
	var me *models.Error
	if !errors.As(err, &me) || !errors.Is(err, models.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Chat = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(me.Hint, "50ms timeout") {
		t.Errorf("hint = %q", me.Hint)
	}
}

func TestFeatures(t *testing.T) {
	inv3 := float32(1 / math.Sqrt(3))
	tests := []struct {
		name string
		body string
		raw  bool
		want []float32
	}{
		// mean of (1,2,3), (3,4,5), (2,0,-2) is (2,2,2)
		{"per-token rows mean-pooled", embPerToken, true, []float32{2, 2, 2}},
		{"per-token rows mean-pooled, normalized", embPerToken, false, []float32{inv3, inv3, inv3}},
		{"one pooled row", embPooledRow, true, []float32{0.6, 0, 0.8}},
		{"one pooled row, normalized", embPooledRow, false, []float32{0.6, 0, 0.8}},
		{"flat vector in an array", embPooledFlat, true, []float32{0.6, 0, 0.8}},
		{"object with index", embObjectIndex, true, []float32{3, 0, 4}},
		{"object with index, normalized", embObjectIndex, false, []float32{0.6, 0, 0.8}},
		{"old object", embObjectOld, true, []float32{3, 0, 4}},
		{"old object, normalized", embObjectOld, false, []float32{0.6, 0, 0.8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]route{"POST /embedding": {200, "", tt.body}})
			c := newClient(t, f.URL, func(c *Config) { c.RawFeatures = tt.raw })
			got, err := c.Features(context.Background(), "hello hello hello")
			if err != nil {
				t.Fatalf("Features: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Features = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("Features = %v, want %v", got, tt.want)
				}
			}
			body := f.Body(t, "POST /embedding")
			if body["content"] != "hello hello hello" || body["embd_normalize"] != -1.0 || body["model"] != "tiny" {
				t.Errorf("request = %v", body)
			}
		})
	}
}

func TestMeanPool(t *testing.T) {
	tests := []struct {
		name    string
		rows    [][]float32
		want    []float32
		wantErr string
	}{
		{"one row is itself", [][]float32{{1, -2, 3}}, []float32{1, -2, 3}, ""},
		{"two rows", [][]float32{{1, 2}, {3, 6}}, []float32{2, 4}, ""},
		{"no rows", nil, nil, "no vectors"},
		{"empty vectors", [][]float32{{}}, nil, "empty"},
		{"ragged", [][]float32{{1, 2}, {3}}, nil, "row 1 has 1 values, row 0 has 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := meanPool(tt.rows)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("meanPool = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("meanPool = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestFeaturesBadBodies(t *testing.T) {
	for _, body := range []string{``, `[]`, `{}`, `"x"`, `[{"index":0,"embedding":[[1,2],[3]]}]`, `[{"index":0,"embedding":[]}]`, `{"embedding":"AAAA"}`} {
		f := newFake(t, map[string]route{"POST /embedding": {200, "", body}})
		_, err := newClient(t, f.URL, nil).Features(context.Background(), "x")
		if !errors.Is(err, models.ErrUnavailable) {
			t.Errorf("body %q: Features error = %v, want ErrUnavailable", body, err)
		}
	}
}
