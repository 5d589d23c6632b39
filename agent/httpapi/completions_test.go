package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// Every field of openai-go's CompletionNewParams (and stream, which the SDK
// sets apart) is honoured, with what the model and the provider received
// asserted, or refused with a 400 naming it.
func TestCompletionFieldTable(t *testing.T) {
	f64 := func(p *float64, v float64) bool { return p != nil && *p == v }
	honoured := map[string]fieldCase{
		"model": {value: "auto", check: func(models.Request, cloud.Request) bool { return true }},
		"prompt": {value: "q", check: func(l models.Request, c cloud.Request) bool {
			return l.Messages[0].Content == "q" && l.Completion == nil && c.Messages[0].Content == "q"
		}},
		"max_tokens": {value: 33, check: func(l models.Request, c cloud.Request) bool { return l.MaxTokens == 33 && c.MaxTokens == 33 }},
		"temperature": {value: 0.3, check: func(l models.Request, c cloud.Request) bool {
			return f64(l.Temperature, 0.3) && f64(c.Temperature, 0.3)
		}},
		"top_p": {value: 0.7, check: func(l models.Request, c cloud.Request) bool { return f64(l.TopP, 0.7) && f64(c.TopP, 0.7) }},
		"frequency_penalty": {value: 0.5, check: func(l models.Request, c cloud.Request) bool {
			return f64(l.FrequencyPenalty, 0.5) && f64(c.FrequencyPenalty, 0.5)
		}},
		"presence_penalty": {value: -0.5, check: func(l models.Request, c cloud.Request) bool {
			return f64(l.PresencePenalty, -0.5) && f64(c.PresencePenalty, -0.5)
		}},
		"seed": {value: 42, check: func(l models.Request, c cloud.Request) bool {
			return l.Seed != nil && *l.Seed == 42 && c.Seed != nil && *c.Seed == 42
		}},
		"stop": {value: "END", check: func(l models.Request, c cloud.Request) bool {
			return reflect.DeepEqual(l.Stop, []string{"END"}) && reflect.DeepEqual(c.Stop, []string{"END"})
		}},
		"logprobs": {value: 2, check: func(_ models.Request, c cloud.Request) bool { return c.Logprobs && c.TopLogprobs == 2 }},
		"user":     {value: "u-1", check: func(_ models.Request, c cloud.Request) bool { return c.User == "u-1" }},
		// suffix is fill-in-the-middle: the local model only (under cloud it
		// is a 400, TestCompletionRouting).
		"suffix": {value: "END", check: func(l models.Request, _ cloud.Request) bool {
			return l.Completion != nil && l.Completion.Suffix == "END" && l.Completion.Prompt == "q"
		}},
		"stream":         {value: false, check: func(models.Request, cloud.Request) bool { return true }},
		"stream_options": {value: map[string]any{"include_usage": true}, extra: map[string]any{"stream": true}, check: func(models.Request, cloud.Request) bool { return true }},
	}
	// Honoured only as their defaults (n 1, best_of 1, echo false): other
	// values are refused.
	refusedValues := map[string]any{"n": 2, "best_of": 2, "echo": true}
	r := newRecorder(t)
	names := append(jsonFields(reflect.TypeOf(oai.CompletionNewParams{})), "stream")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			fc, ok := honoured[name]
			val := any(map[string]any{"x": 1})
			if ok {
				val = fc.value
			} else if v, found := refusedValues[name]; found {
				val = v
			}
			policies := []string{"local", "cloud"}
			if name == "suffix" {
				policies = []string{"local"}
			}
			for _, policy := range policies {
				body := map[string]any{"model": policy, "prompt": "q"}
				for k, v := range fc.extra {
					body[k] = v
				}
				if name != "model" {
					body[name] = val
				}
				resp, raw := post(t, r.d.URL+"/v1/completions", body)
				if !ok {
					if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), name) {
						t.Fatalf("refused field %s: status %d, body %s (want 400 naming it)", name, resp.StatusCode, raw)
					}
					return
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("honoured field %s: status %d, body %s", name, resp.StatusCode, raw)
				}
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if !fc.check(r.local, r.cloud) {
				t.Errorf("field %s: not what the model and the provider received: local %+v, cloud %+v", name, r.local, r.cloud)
			}
		})
	}
	// The defaults of the fields refused otherwise are honoured.
	resp, raw := post(t, r.d.URL+"/v1/completions", map[string]any{"model": "local", "prompt": "q", "n": 1, "best_of": 1, "echo": false})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("n 1, best_of 1, echo false: status %d, %s", resp.StatusCode, raw)
	}
}

// A prompt alone is answered, scored and escalated like a chat; a suffix
// (fill-in-the-middle) or Ollama's raw is a completion the chat providers
// cannot give: under auto it is answered locally with the reason, however
// low its score; under cloud it is a 400 naming the field.
func TestCompletionRouting(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, local: fakeLocalUnsure("q")})
	type result struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
		Response string      `json:"response"`
		Cascade  *cascadeObj `json:"cascade"`
	}
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		status     int
		route      string
		reason     string // in the reason, or the error
	}{
		{"prompt escalates", "/v1/completions", map[string]any{"model": "auto", "prompt": "q"}, 200, "cloud", "score 0.100 < threshold"},
		{"suffix stays local", "/v1/completions", map[string]any{"model": "auto", "prompt": "q", "suffix": "s"}, 200, "local",
			"suffix completion: provider openai takes chat requests only; answered locally, not escalated"},
		{"suffix under cloud", "/v1/completions", map[string]any{"model": "cloud", "prompt": "q", "suffix": "s"}, 400, "", `"param":"suffix"`},
		{"several prompts refused", "/v1/completions", map[string]any{"model": "auto", "prompt": []string{"a", "b"}}, 400, "", `"param":"prompt"`},
		{"generate raw stays local", "/api/generate", map[string]any{"model": "auto", "prompt": "q", "raw": true, "stream": false}, 200, "local",
			"raw completion: provider openai takes chat requests only"},
		{"generate suffix under cloud", "/api/generate", map[string]any{"model": "cloud", "prompt": "q", "suffix": "s", "stream": false}, 400, "", "suffix"},
		{"generate prompt escalates", "/api/generate", map[string]any{"model": "auto", "prompt": "q", "stream": false}, 200, "cloud", "score 0.100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := d.cloudCalls()
			resp, raw := post(t, d.URL+tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.status != 200 {
				errorShape(t, tc.path, raw)
				if !strings.Contains(string(raw), tc.reason) {
					t.Fatalf("error %s does not name %s", raw, tc.reason)
				}
				return
			}
			var res result
			if err := json.Unmarshal(raw, &res); err != nil || res.Cascade == nil {
				t.Fatalf("decode %s: %v", raw, err)
			}
			if res.Cascade.Route != tc.route || !strings.Contains(res.Cascade.Reason, tc.reason) {
				t.Fatalf("cascade %+v, want route %s and reason with %q", res.Cascade, tc.route, tc.reason)
			}
			if calls := d.cloudCalls() - before; (tc.route == "cloud") != (calls == 1) {
				t.Fatalf("%d cloud calls for route %s", calls, tc.route)
			}
		})
	}
}

// The official OpenAI Go SDK reads completions, streamed and not, with the
// legacy logprobs object.
func TestCompletionSDK(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{})
	client := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := oai.CompletionNewParams{
		Model:    "local",
		Prompt:   oai.CompletionNewParamsPromptUnion{OfString: oai.String("q")},
		Logprobs: oai.Int(2),
	}
	resp, err := client.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Text != fakeLocalAnswer || resp.Choices[0].FinishReason != "stop" || resp.Object != "text_completion" {
		t.Fatalf("completion %+v", resp)
	}
	lp := resp.Choices[0].Logprobs
	if len(lp.Tokens) == 0 || len(lp.Tokens) != len(lp.TokenLogprobs) || len(lp.TextOffset) != len(lp.Tokens) || strings.Join(lp.Tokens, "") != fakeLocalAnswer {
		t.Fatalf("logprobs %+v", lp)
	}
	if resp.Usage.TotalTokens == 0 {
		t.Fatalf("usage %+v", resp.Usage)
	}

	params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
	stream := client.Completions.NewStreaming(ctx, params)
	var text strings.Builder
	var toks []string
	usage, finish := false, ""
	for stream.Next() {
		ch := stream.Current()
		if ch.Usage.TotalTokens > 0 {
			usage = true
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Text)
			toks = append(toks, c.Logprobs.Tokens...)
			if c.FinishReason != "" {
				finish = string(c.FinishReason)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != fakeLocalAnswer || strings.Join(toks, "") != fakeLocalAnswer || finish != "stop" || !usage {
		t.Fatalf("stream: text %q, tokens %q, finish %q, usage %v", text.String(), toks, finish, usage)
	}
}
