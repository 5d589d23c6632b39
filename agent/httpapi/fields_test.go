package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// jsonFields lists the json names of a struct type's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// recorder is a daemon on the fakes that keeps the last request each side
// received.
type recorder struct {
	mu    sync.Mutex
	local models.Request
	cloud cloud.Request
	d     *daemon
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	l := fakeLocal()
	// The local model takes tools and images, so that they reach it.
	l.Caps = []string{"completion", "tools", "vision"}
	ans := l.Answer
	l.ChatFunc = func(_ context.Context, req models.Request) (*models.Response, error) {
		r.mu.Lock()
		r.local = req
		r.mu.Unlock()
		resp := ans
		return &resp, nil
	}
	c := fakeCloud()
	cans := c.Answer
	c.CompleteFunc = func(_ context.Context, req cloud.Request) (*cloud.Response, error) {
		r.mu.Lock()
		r.cloud = req
		r.mu.Unlock()
		resp := cans
		return &resp, nil
	}
	r.d = newFakeDaemon(t, daemonOpts{local: l, cloud: c})
	return r
}

// fieldCase is how one field is exercised: the value sent (with extra
// fields it needs) and, when honoured, what the local model and the cloud
// must have received; refused fields must get a 400 naming them.
type fieldCase struct {
	value any
	extra map[string]any
	check func(models.Request, cloud.Request) bool
}

func TestOpenAIFieldTable(t *testing.T) {
	f64 := func(p *float64, v float64) bool { return p != nil && *p == v }
	honoured := map[string]fieldCase{
		"model": {value: "auto", check: func(models.Request, cloud.Request) bool { return true }},
		"messages": {value: []map[string]string{{"role": "user", "content": "q"}}, check: func(l models.Request, c cloud.Request) bool {
			return l.Messages[0].Content == "q" && c.Messages[0].Content == "q"
		}},
		"max_tokens":            {value: 33, check: func(l models.Request, c cloud.Request) bool { return l.MaxTokens == 33 && c.MaxTokens == 33 }},
		"max_completion_tokens": {value: 34, check: func(l models.Request, c cloud.Request) bool { return l.MaxTokens == 34 && c.MaxTokens == 34 }},
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
		"stop": {value: []string{"END"}, check: func(l models.Request, c cloud.Request) bool {
			return reflect.DeepEqual(l.Stop, []string{"END"}) && reflect.DeepEqual(c.Stop, []string{"END"})
		}},
		"logprobs":     {value: true, check: func(_ models.Request, c cloud.Request) bool { return c.Logprobs }},
		"top_logprobs": {value: 3, extra: map[string]any{"logprobs": true}, check: func(_ models.Request, c cloud.Request) bool { return c.TopLogprobs == 3 }},
		"response_format": {value: map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x", "description": "d", "strict": true, "schema": map[string]any{"type": "object"}}},
			check: func(l models.Request, c cloud.Request) bool {
				return l.Format != nil && len(l.Format.Schema) > 0 && c.Format != nil && c.Format.Name == "x" && c.Format.Description == "d" && c.Format.Strict
			}},
		"tools": {value: weatherTools, check: func(l models.Request, c cloud.Request) bool {
			return hasWeatherTool(l.Options) && hasWeatherTool(c.Options)
		}},
		"tool_choice": {value: map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}, extra: map[string]any{"tools": weatherTools},
			check: func(l models.Request, c cloud.Request) bool {
				want := models.ToolChoice{Mode: "function", Name: "get_weather"}
				return l.ToolChoice != nil && *l.ToolChoice == want && c.ToolChoice != nil && *c.ToolChoice == want
			}},
		"parallel_tool_calls": {value: false, extra: map[string]any{"tools": weatherTools}, check: func(l models.Request, c cloud.Request) bool {
			return l.ParallelToolCalls != nil && !*l.ParallelToolCalls && c.ParallelToolCalls != nil && !*c.ParallelToolCalls
		}},
		"user":           {value: "u-1", check: func(_ models.Request, c cloud.Request) bool { return c.User == "u-1" }},
		"stream":         {value: false, check: func(models.Request, cloud.Request) bool { return true }},
		"stream_options": {value: map[string]any{"include_usage": true}, extra: map[string]any{"stream": true}, check: func(models.Request, cloud.Request) bool { return true }},
	}
	// n is honoured only as 1: n > 1 is refused (one answer per request).
	refusedValues := map[string]any{"n": 2}
	r := newRecorder(t)
	for _, name := range jsonFields(reflect.TypeOf(openai.ChatCompletionNewParams{})) {
		t.Run(name, func(t *testing.T) {
			fc, ok := honoured[name]
			val := any(map[string]any{"x": 1})
			if ok {
				val = fc.value
			} else if v, found := refusedValues[name]; found {
				val = v
			}
			for _, policy := range []string{"local", "cloud"} {
				body := map[string]any{"model": policy, "messages": []map[string]string{{"role": "user", "content": "q"}}}
				for k, v := range fc.extra {
					body[k] = v
				}
				if name != "model" {
					body[name] = val
				}
				resp, raw := post(t, r.d.URL+"/v1/chat/completions", body)
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
			if ok {
				r.mu.Lock()
				defer r.mu.Unlock()
				if !fc.check(r.local, r.cloud) {
					t.Errorf("field %s: not what the model and the provider received: local %+v, cloud %+v", name, r.local, r.cloud)
				}
			}
		})
	}
}

func TestOllamaFieldTable(t *testing.T) {
	honoured := map[string]fieldCase{
		// logprobs' effect is on the answer (TestOllamaLogprobs).
		"logprobs":     {value: true, check: func(models.Request, cloud.Request) bool { return true }},
		"top_logprobs": {value: 1, extra: map[string]any{"logprobs": true}, check: func(models.Request, cloud.Request) bool { return true }},
		"model":        {value: "local", check: func(models.Request, cloud.Request) bool { return true }},
		"messages":     {value: []map[string]string{{"role": "user", "content": "q"}}, check: func(l models.Request, _ cloud.Request) bool { return l.Messages[0].Content == "q" }},
		"prompt":       {value: "q", check: func(l models.Request, _ cloud.Request) bool { return l.Messages[len(l.Messages)-1].Content == "q" }},
		"system":       {value: "be brief", check: func(l models.Request, _ cloud.Request) bool { return l.Messages[0].Content == "be brief" }},
		"stream":       {value: false, check: func(models.Request, cloud.Request) bool { return true }},
		"format":       {value: "json", check: func(l models.Request, _ cloud.Request) bool { return l.Format != nil && len(l.Format.Schema) == 0 }},
		// raw and suffix make a completion only the local model can give
		// (TestGenerateCompletionRouting has the routing).
		"suffix": {value: "END", check: func(l models.Request, _ cloud.Request) bool {
			return l.Completion != nil && l.Completion.Suffix == "END" && l.Completion.Prompt == "q" && !l.Completion.Raw
		}},
		"raw": {value: true, check: func(l models.Request, _ cloud.Request) bool {
			return l.Completion != nil && l.Completion.Raw && l.Completion.Prompt == "q"
		}},
		"keep_alive": {value: "5m", check: func(l models.Request, _ cloud.Request) bool {
			return l.KeepAlive != nil && l.KeepAlive.Minutes() == 5
		}},
		"tools": {value: weatherTools, check: func(l models.Request, _ cloud.Request) bool { return hasWeatherTool(l.Options) }},
		"options": {value: map[string]any{"seed": 7, "top_p": 0.5, "stop": []string{"X"}, "num_predict": 9, "top_k": 5, "num_ctx": 4096}, check: func(l models.Request, _ cloud.Request) bool {
			return l.Seed != nil && *l.Seed == 7 && l.TopP != nil && *l.TopP == 0.5 && reflect.DeepEqual(l.Stop, []string{"X"}) && l.MaxTokens == 9 &&
				l.TopK != nil && *l.TopK == 5 && l.NumCtx == 4096
		}},
	}
	r := newRecorder(t)
	for _, ep := range []struct {
		path string
		typ  reflect.Type
		base map[string]any
	}{
		{"/api/chat", reflect.TypeOf(api.ChatRequest{}), map[string]any{"messages": []map[string]string{{"role": "user", "content": "q"}}}},
		{"/api/generate", reflect.TypeOf(api.GenerateRequest{}), map[string]any{"prompt": "q"}},
	} {
		for _, name := range jsonFields(ep.typ) {
			t.Run(ep.path+"/"+name, func(t *testing.T) {
				fc, ok := honoured[name]
				body := map[string]any{"model": "local", "stream": false}
				for k, v := range ep.base {
					body[k] = v
				}
				for k, v := range fc.extra {
					body[k] = v
				}
				switch {
				case ok && name != "model":
					body[name] = fc.value
				case !ok:
					body[name] = refusedSample(name)
				}
				resp, raw := post(t, r.d.URL+ep.path, body)
				if !ok {
					if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), name) {
						t.Fatalf("refused field %s: status %d, body %s (want 400 naming it)", name, resp.StatusCode, raw)
					}
					return
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("honoured field %s: status %d, body %s", name, resp.StatusCode, raw)
				}
				r.mu.Lock()
				defer r.mu.Unlock()
				if !fc.check(r.local, r.cloud) {
					t.Errorf("field %s: not what the model received: %+v", name, r.local)
				}
			})
		}
	}
	// An option that cannot be honoured is refused by name.
	resp, raw := post(t, r.d.URL+"/api/chat", map[string]any{"model": "local", "stream": false,
		"messages": []map[string]string{{"role": "user", "content": "q"}}, "options": map[string]any{"mirostat": 1}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "options.mirostat") {
		t.Errorf("options.mirostat: status %d, body %s (want 400 naming it)", resp.StatusCode, raw)
	}
	// top_k reaches the cloud provider, which names it in the reason when it
	// cannot send it (cloud/openai and cloud/anthropic test NotSent).
	resp, raw = post(t, r.d.URL+"/api/chat", map[string]any{"model": "cloud", "stream": false,
		"messages": []map[string]string{{"role": "user", "content": "q"}}, "options": map[string]any{"top_k": 3}})
	r.mu.Lock()
	gotK := r.cloud.TopK
	r.mu.Unlock()
	if resp.StatusCode != http.StatusOK || gotK == nil || *gotK != 3 {
		t.Errorf("options.top_k under cloud: status %d, body %s, provider got %v", resp.StatusCode, raw, gotK)
	}
}

// weatherTools is a tools field of either API.
var weatherTools = []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather", "description": "weather now",
	"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "additionalProperties": false}}}}

// hasWeatherTool reports whether weatherTools arrived whole (the schema
// keeps the keywords Ollama's own types drop).
func hasWeatherTool(o models.Options) bool {
	return len(o.Tools) == 1 && o.Tools[0].Name == "get_weather" && o.Tools[0].Description == "weather now" &&
		strings.Contains(string(o.Tools[0].Parameters), `"city"`) && strings.Contains(string(o.Tools[0].Parameters), `"additionalProperties":false`)
}

// refusedSample is a value of the right JSON type for a refused Ollama field.
func refusedSample(name string) any {
	switch name {
	case "raw", "truncate", "shift", "_debug_render_only", "logprobs", "think":
		return true
	case "suffix", "template":
		return "x"
	case "context":
		return []int{1}
	case "images":
		return []string{"aGk="}
	case "top_logprobs", "width", "height", "steps":
		return 2
	case "tools":
		return []map[string]any{{"type": "function", "function": map[string]any{"name": "f"}}}
	}
	return json.RawMessage(`{}`)
}

// msgField is an honoured message field of an API: a conversation using it
// and what the model must have received of it.
type msgField struct {
	api, name string
	messages  []map[string]any
	check     func(models.Request) bool
}

// The message fields beside role and content: tool calls, tool results
// and images are honoured (the model receives them); the others are refused
// by name, on both APIs.
func TestMessageFieldTable(t *testing.T) {
	r := newRecorder(t)
	seen := map[string]bool{}
	// The honoured ones, each a conversation and what the model must have
	// received of it.
	toolTurns := func(ollama bool) []map[string]any {
		call := map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}
		result := map[string]any{"role": "tool", "content": "sunny", "tool_call_id": "call_1"}
		if ollama {
			call = map[string]any{"function": map[string]any{"name": "get_weather", "arguments": map[string]any{"city": "Paris"}}}
			result = map[string]any{"role": "tool", "content": "sunny", "tool_name": "get_weather"}
		}
		return []map[string]any{{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "", "tool_calls": []any{call}}, result}
	}
	toolsReceived := func(l models.Request) bool {
		if len(l.Messages) != 3 {
			return false
		}
		a, tm := l.Messages[1], l.Messages[2]
		return len(a.ToolCalls) == 1 && a.ToolCalls[0].Name == "get_weather" && string(a.ToolCalls[0].Arguments) == `{"city":"Paris"}` &&
			tm.Role == "tool" && tm.Content == "sunny" && tm.ToolCallID == a.ToolCalls[0].ID && tm.ToolName == "get_weather"
	}
	const png = "iVBORw0KGgo=" // a PNG signature
	imageReceived := func(l models.Request) bool {
		im := l.Messages[0].Images
		return l.Messages[0].Content == "what is it?" && len(im) == 1 && im[0].MediaType == "image/png" && string(im[0].Data[1:4]) == "PNG"
	}
	honoured := []msgField{
		{"openai", "tool_calls", toolTurns(false), toolsReceived},
		{"openai", "tool_call_id", toolTurns(false), toolsReceived},
		{"openai", "content (image_url part)", []map[string]any{{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "what is it?"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + png}}}}}, imageReceived},
		{"ollama", "tool_calls", toolTurns(true), toolsReceived},
		{"ollama", "tool_name", toolTurns(true), toolsReceived},
		{"ollama", "tool_call_id", []map[string]any{{"role": "user", "content": "weather?"},
			{"role": "assistant", "content": "", "tool_calls": []any{map[string]any{"id": "call_1", "function": map[string]any{"name": "get_weather", "arguments": map[string]any{"city": "Paris"}}}}},
			{"role": "tool", "content": "sunny", "tool_call_id": "call_1"}}, toolsReceived},
		{"ollama", "images", []map[string]any{{"role": "user", "content": "what is it?", "images": []string{png}}}, imageReceived},
	}
	for _, h := range honoured {
		seen[h.name] = h.api == "openai"
		path := "/v1/chat/completions"
		if h.api == "ollama" {
			path = "/api/chat"
		}
		resp, raw := post(t, r.d.URL+path, map[string]any{"model": "local", "stream": false, "messages": h.messages})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s message field %s: status %d, %s", h.api, h.name, resp.StatusCode, raw)
			continue
		}
		r.mu.Lock()
		if !h.check(r.local) {
			t.Errorf("%s message field %s: the model received %+v", h.api, h.name, r.local.Messages)
		}
		r.mu.Unlock()
	}
	for _, typ := range []reflect.Type{
		reflect.TypeOf(openai.ChatCompletionSystemMessageParam{}), reflect.TypeOf(openai.ChatCompletionUserMessageParam{}),
		reflect.TypeOf(openai.ChatCompletionAssistantMessageParam{}), reflect.TypeOf(openai.ChatCompletionDeveloperMessageParam{}),
		reflect.TypeOf(openai.ChatCompletionToolMessageParam{}), reflect.TypeOf(openai.ChatCompletionFunctionMessageParam{}),
	} {
		for _, name := range jsonFields(typ) {
			if _, done := seen[name]; name == "role" || name == "content" || done {
				continue
			}
			seen[name] = true
			resp, raw := post(t, r.d.URL+"/v1/chat/completions", map[string]any{"model": "local",
				"messages": []map[string]any{{"role": "assistant", "content": "a", name: map[string]any{"x": 1}}, {"role": "user", "content": "q"}}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "messages[0]."+name) {
				t.Errorf("message field %s: status %d, %s (want 400 naming it)", name, resp.StatusCode, raw)
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no message fields enumerated")
	}
	for _, name := range jsonFields(reflect.TypeOf(api.Message{})) {
		if name == "role" || name == "content" || slices.ContainsFunc(honoured, func(h msgField) bool { return h.api == "ollama" && h.name == name }) {
			continue
		}
		v := any("x")
		if name == "images" {
			v = []string{"aGk="}
		} else if name == "tool_calls" {
			v = []map[string]any{{"function": map[string]any{"name": "f", "arguments": map[string]any{}}}}
		}
		resp, raw := post(t, r.d.URL+"/api/chat", map[string]any{"model": "local", "stream": false,
			"messages": []map[string]any{{"role": "user", "content": "q", name: v}}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "messages[0]."+name) {
			t.Errorf("/api/chat message field %s: status %d, %s (want 400 naming it)", name, resp.StatusCode, raw)
		}
	}
}
