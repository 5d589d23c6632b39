package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

type logprobsObj struct {
	Content []struct {
		Token       string  `json:"token"`
		Logprob     float64 `json:"logprob"`
		Bytes       []int   `json:"bytes"`
		TopLogprobs []struct {
			Token string `json:"token"`
		} `json:"top_logprobs"`
	} `json:"content"`
}

// logprobs returns the local answer's token logprobs, in OpenAI's format,
// whole and streamed; a cloud answer without them is null, with the reason.
func TestLogprobs(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{})
	body := chatBody("local", "q", false)
	body["logprobs"], body["top_logprobs"] = true, 1
	resp, raw := post(t, d.URL+"/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var c struct {
		Choices []struct {
			Logprobs *logprobsObj `json:"logprobs"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	lp := c.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != len(fakeLocalAnswer) {
		t.Fatalf("logprobs = %s", raw)
	}
	if first := lp.Content[0]; first.Token != "l" || len(first.Bytes) != 1 || first.Bytes[0] != 'l' || len(first.TopLogprobs) != 1 {
		t.Errorf("first token = %+v", first)
	}

	// top_logprobs 0: the chosen tokens, no alternatives.
	body["top_logprobs"] = 0
	_, raw = post(t, d.URL+"/v1/chat/completions", body)
	c.Choices = nil
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Choices[0].Logprobs.Content[0].TopLogprobs); n != 0 {
		t.Errorf("top_logprobs 0 gave %d alternatives", n)
	}

	// Streamed: the tokens ride with the text.
	body["stream"] = true
	resp, raw = post(t, d.URL+"/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var text strings.Builder
	tokens := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		var ch struct {
			Choices []struct {
				Delta    struct{ Content string } `json:"delta"`
				Logprobs *logprobsObj             `json:"logprobs"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(line), &ch); err != nil {
			t.Fatal(err)
		}
		for _, x := range ch.Choices {
			text.WriteString(x.Delta.Content)
			if x.Logprobs != nil {
				tokens += len(x.Logprobs.Content)
			}
		}
	}
	if text.String() != fakeLocalAnswer || tokens != len(fakeLocalAnswer) {
		t.Errorf("stream: text %q, %d tokens with logprobs; want %q, %d", text.String(), tokens, fakeLocalAnswer, len(fakeLocalAnswer))
	}

	// The fake cloud sends no logprobs: null, and the reason says so.
	body = chatBody("cloud", "q", false)
	body["logprobs"] = true
	_, cc := ask2(t, d, body)
	if !strings.Contains(cc.Cascade.Reason, "logprobs null: provider openai sent none") {
		t.Errorf("reason = %q", cc.Cascade.Reason)
	}
}

func ask2(t *testing.T, d *daemon, body map[string]any) ([]byte, completion) {
	t.Helper()
	_, raw := post(t, d.URL+"/v1/chat/completions", body)
	var c completion
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if !bytes.Contains(raw, []byte(`"logprobs":null`)) {
		t.Errorf("logprobs not null: %s", raw)
	}
	return raw, c
}

// Under auto, a confident local answer that is not the JSON the request
// asked for escalates, on both APIs.
func TestJSONModeEscalates(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{})
	body := chatBody("auto", "q", false)
	body["response_format"] = map[string]any{"type": "json_object"}
	_, raw := post(t, d.URL+"/v1/chat/completions", body)
	var c completion
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Cascade == nil || c.Cascade.Route != "cloud" || !strings.Contains(c.Cascade.Reason, "not valid JSON") {
		t.Errorf("response = %s", raw)
	}
	resp, raw := post(t, d.URL+"/api/chat", map[string]any{"model": "auto", "stream": false, "format": map[string]any{"type": "object"},
		"messages": []map[string]string{{"role": "user", "content": "q"}}})
	if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(`"route":"cloud"`)) {
		t.Errorf("/api/chat: status %d, %s", resp.StatusCode, raw)
	}
	// A schema that does not compile is a 400 naming the field.
	body["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x", "schema": map[string]any{"type": 5}}}
	resp, raw = post(t, d.URL+"/v1/chat/completions", body)
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(raw, []byte("response_format.json_schema.schema")) {
		t.Errorf("bad schema: status %d, %s", resp.StatusCode, raw)
	}
	// An external reference is not followed.
	body["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x", "schema": map[string]any{"$ref": "file:///etc/passwd"}}}
	resp, raw = post(t, d.URL+"/v1/chat/completions", body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("external $ref: status %d, %s", resp.StatusCode, raw)
	}
}

// /api/chat and /api/generate return logprobs in Ollama's format.
func TestOllamaLogprobs(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{})
	for _, stream := range []bool{false, true} {
		for _, ep := range []struct {
			path string
			body map[string]any
		}{
			{"/api/chat", map[string]any{"messages": []map[string]string{{"role": "user", "content": "q"}}}},
			{"/api/generate", map[string]any{"prompt": "q"}},
		} {
			body := map[string]any{"model": "local", "stream": stream, "logprobs": true, "top_logprobs": 1}
			for k, v := range ep.body {
				body[k] = v
			}
			resp, raw := post(t, d.URL+ep.path, body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d: %s", ep.path, resp.StatusCode, raw)
			}
			tokens := 0
			for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
				var f struct {
					Logprobs []struct {
						Token       string `json:"token"`
						TopLogprobs []struct {
							Token string `json:"token"`
						} `json:"top_logprobs"`
					} `json:"logprobs"`
				}
				if err := json.Unmarshal(line, &f); err != nil {
					t.Fatal(err)
				}
				for _, lp := range f.Logprobs {
					tokens++
					if len(lp.TopLogprobs) != 1 {
						t.Errorf("%s: token %+v: want 1 alternative", ep.path, lp)
					}
				}
			}
			if tokens != len(fakeLocalAnswer) {
				t.Errorf("%s stream=%v: %d tokens with logprobs, want %d: %s", ep.path, stream, tokens, len(fakeLocalAnswer), raw)
			}
		}
	}
}

// On the test bed's real Ollama, JSON mode constrains the local answer, and
// its logprobs come back.
func TestJSONModeRealOllama(t *testing.T) {
	d := newDaemon(t, daemonOpts{})
	body := chatBody("local", "Give a JSON object with a field name.", false)
	body["response_format"] = map[string]any{"type": "json_object"}
	body["max_tokens"] = 32
	body["logprobs"], body["top_logprobs"] = true, 2
	resp, raw := post(t, d.URL+"/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var c struct {
		Choices []struct {
			Message  struct{ Content string } `json:"message"`
			Logprobs *logprobsObj             `json:"logprobs"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	ch := c.Choices[0]
	if !strings.HasPrefix(strings.TrimSpace(ch.Message.Content), "{") {
		t.Errorf("answer %q does not start a JSON object", ch.Message.Content)
	}
	if ch.Logprobs == nil || len(ch.Logprobs.Content) == 0 || len(ch.Logprobs.Content[0].TopLogprobs) > 2 {
		t.Errorf("logprobs = %s", raw)
	}
}

// A cloud answer streamed with its tokens (OpenAI-compatible providers)
// carries each chunk's tokens in that chunk, as the local answer does; on
// both chat completions and legacy completions.
func TestCloudStreamLogprobsPerChunk(t *testing.T) {
	c := fakeCloud()
	pieces := []string{"Par", "is"}
	c.StreamFunc = func(_ context.Context, req cloud.Request, fn cloud.DeltaFunc) (*cloud.Response, error) {
		var all []models.TokenLogprob
		for _, p := range pieces {
			tok := []models.TokenLogprob{{Token: p, Logprob: -0.5}}
			all = append(all, tok...)
			if req.LogprobsFunc != nil {
				if err := req.LogprobsFunc(tok); err != nil {
					return nil, err
				}
			}
			if err := fn(p); err != nil {
				return nil, err
			}
		}
		return &cloud.Response{Provider: "openai", Content: "Paris", FinishReason: "stop", Logprobs: all}, nil
	}
	d := newFakeDaemon(t, daemonOpts{cloud: c})
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/chat/completions", map[string]any{"model": "cloud", "stream": true, "logprobs": true, "messages": []map[string]string{{"role": "user", "content": "q"}}}},
		{"/v1/completions", map[string]any{"model": "cloud", "stream": true, "logprobs": 0, "prompt": "q"}},
	} {
		resp, raw := post(t, d.URL+tc.path, tc.body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.path, resp.StatusCode, raw)
		}
		var chunks []string
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || line == "[DONE]" {
				continue
			}
			var ch struct {
				Choices []struct {
					Delta    struct{ Content string } `json:"delta"`
					Text     string                   `json:"text"`
					Logprobs *struct {
						Content []struct{ Token string } `json:"content"`
						Tokens  []string                 `json:"tokens"`
					} `json:"logprobs"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(line), &ch); err != nil {
				t.Fatal(err)
			}
			for _, x := range ch.Choices {
				text := x.Delta.Content + x.Text
				var toks []string
				if x.Logprobs != nil {
					toks = x.Logprobs.Tokens
					for _, c := range x.Logprobs.Content {
						toks = append(toks, c.Token)
					}
				}
				if text != "" || len(toks) > 0 {
					chunks = append(chunks, text+"="+strings.Join(toks, ","))
				}
			}
		}
		if got := strings.Join(chunks, " "); got != "Par=Par is=is" {
			t.Errorf("%s: chunks %q, want each piece with its token", tc.path, got)
		}
	}
}
