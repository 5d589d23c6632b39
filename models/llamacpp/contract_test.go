package llamacpp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/modeltest"
)

// modelFake is a llama-server that "generates": llama-server cannot be
// built here, so this httptest server stands in for it, speaking its
// documented wire format (the shapes of the fixtures in fixtures_test.go:
// tools/server/server-task.cpp to_json_oaicompat_chat and
// to_json_oaicompat_chat_stream, completion_token_output::probs_vector_to_json,
// README.md for /health, /props, /embedding with --pooling none and
// /apply-template; router mode's "model not found" from
// tools/server/server-models.cpp). Its "model" is deterministic: it answers
// the longest word of the last message spelled backwards, two bytes a
// token, ignoring temperature.
type modelFake struct {
	model string
}

func (f modelFake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"status": "ok" }`)
	})
	mux.HandleFunc("GET /props", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"default_generation_settings":{"n_ctx":256,"params":{"n_predict":-1}},"total_slots":1,"chat_template":"<|im_start|>...","build_info":"b6385-a1b2c3d4"}`)
	})
	mux.HandleFunc("POST /apply-template", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Messages []models.Message }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, errInvalid)
			return
		}
		b, _ := json.Marshal(map[string]string{"prompt": chatml(req.Messages)})
		writeJSON(w, 200, string(b))
	})
	mux.HandleFunc("POST /embedding", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Content string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Content == "" {
			writeJSON(w, 400, errInvalid)
			return
		}
		// --pooling none: one row per token (here per byte), unnormalized.
		rows := make([][]float64, len(req.Content))
		for i := range len(req.Content) {
			b := float64(req.Content[i])
			rows[i] = []float64{b, float64(i + 1), math.Sin(b)}
		}
		out, _ := json.Marshal([]map[string]any{{"index": 0, "embedding": rows}})
		writeJSON(w, 200, string(out))
	})
	mux.HandleFunc("POST /v1/chat/completions", f.chat)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func chatml(msgs []models.Message) string {
	var sb strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&sb, "<|im_start|>%s\n%s<|im_end|>\n", m.Role, m.Content)
	}
	return sb.String() + "<|im_start|>assistant\n"
}

// answerTokens is the fake model's answer to msgs, two bytes a token.
func answerTokens(msgs []models.Message) []string {
	words := strings.FieldsFunc(msgs[len(msgs)-1].Content, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	longest := ""
	for _, w := range words {
		if len(w) > len(longest) {
			longest = w
		}
	}
	b := []byte(longest)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	var toks []string
	for i := 0; i < len(b); i += 2 {
		toks = append(toks, string(b[i:min(i+2, len(b))]))
	}
	return toks
}

// tokenJSON is one logprobs.content entry with n alternatives, the chosen
// token first.
func tokenJSON(id int, tok string, lp float64, n int) map[string]any {
	entry := func(id int, tok string, lp float64) map[string]any {
		bs := []int{}
		for _, c := range []byte(tok) {
			bs = append(bs, int(c))
		}
		return map[string]any{"id": id, "token": tok, "bytes": bs, "logprob": lp}
	}
	e := entry(id, tok, lp)
	top := []map[string]any{entry(id, tok, lp)}
	for j := 1; j < n; j++ {
		top = append(top, entry(1000+j, fmt.Sprintf("alt%d", j), lp-float64(j)))
	}
	e["top_logprobs"] = top
	return e
}

func (f modelFake) chat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model         string           `json:"model"`
		Messages      []models.Message `json:"messages"`
		Stream        bool             `json:"stream"`
		Logprobs      bool             `json:"logprobs"`
		TopLogprobs   int              `json:"top_logprobs"`
		MaxTokens     int              `json:"max_tokens"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		writeJSON(w, 400, errInvalid)
		return
	}
	if req.Model != f.model {
		writeJSON(w, 400, errRouterModel)
		return
	}
	toks := answerTokens(req.Messages)
	finish := "stop"
	if req.MaxTokens > 0 && len(toks) > req.MaxTokens {
		toks, finish = toks[:req.MaxTokens], "length"
	}
	var entries []map[string]any
	for i, t := range toks {
		entries = append(entries, tokenJSON(i+1, t, -0.05*float64(i+1), req.TopLogprobs))
	}
	nPredicted := len(toks)
	if finish == "stop" { // the end-of-generation token adds no text
		entries = append(entries, tokenJSON(259, "", -0.01, req.TopLogprobs))
		nPredicted++
	}
	prompt := len(chatml(req.Messages))
	usage := map[string]int{"completion_tokens": nPredicted, "prompt_tokens": prompt, "total_tokens": prompt + nPredicted}
	timings := map[string]any{"cache_n": 0, "prompt_n": prompt, "prompt_ms": 1.5, "predicted_n": nPredicted, "predicted_ms": 2.5}
	if !req.Stream {
		body := map[string]any{
			"choices": []any{map[string]any{"finish_reason": finish, "index": 0,
				"message":  map[string]any{"role": "assistant", "content": strings.Join(toks, "")},
				"logprobs": map[string]any{"content": entries}}},
			"created": 1757141666, "model": f.model, "object": "chat.completion", "id": "chatcmpl-fake",
			"usage": usage, "timings": timings,
		}
		b, _ := json.Marshal(body)
		writeJSON(w, 200, string(b))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	send := func(v any) bool {
		if r.Context().Err() != nil {
			return false // the client went away
		}
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
		return true
	}
	chunk := func(choices []any) map[string]any {
		return map[string]any{"choices": choices, "created": 1757141666, "id": "chatcmpl-fake", "model": f.model, "object": "chat.completion.chunk"}
	}
	if !send(chunk([]any{map[string]any{"finish_reason": nil, "index": 0, "delta": map[string]any{"role": "assistant", "content": nil}}})) {
		return
	}
	for i, t := range toks {
		c := map[string]any{"finish_reason": nil, "index": 0, "delta": map[string]any{"content": t},
			"logprobs": map[string]any{"content": []any{entries[i]}}}
		if !send(chunk([]any{c})) {
			return
		}
	}
	if !send(chunk([]any{map[string]any{"finish_reason": finish, "index": 0, "delta": map[string]any{}}})) {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		last := chunk([]any{})
		last["usage"], last["timings"] = usage, timings
		if !send(last) {
			return
		}
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

// TestContract runs the local-backend contract against the client talking
// to modelFake.
func TestContract(t *testing.T) {
	s := httptest.NewServer(modelFake{model: "tiny"}.handler())
	t.Cleanup(s.Close)
	modeltest.Run(t, func(t *testing.T) models.Model { return newClient(t, s.URL, nil) }, modeltest.Options{
		Question: []models.Message{{Role: "user", Content: "Spell backwards backwards."}},
		Other:    []models.Message{{Role: "user", Content: "What is the capital of Osninax?"}},
		Missing: func(t *testing.T) error {
			c := newClient(t, s.URL, func(c *Config) { c.Model = "no-such-model" })
			_, err := c.Chat(context.Background(), models.Request{Messages: []models.Message{{Role: "user", Content: "hi"}}})
			return err
		},
	})
}

func TestRender(t *testing.T) {
	msgs := []models.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Capital of France?"}}
	f := newFake(t, map[string]route{
		// README.md, POST /apply-template: {"prompt": "..."}.
		"POST /apply-template": {200, "", `{"prompt":"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n"}`},
	})
	got, err := newClient(t, f.URL, nil).Render(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if got != chatml(msgs) {
		t.Errorf("Render = %q, want %q", got, chatml(msgs))
	}
	body := f.Body(t, "POST /apply-template")
	if m, _ := body["messages"].([]any); len(m) != 2 || body["model"] != "tiny" {
		t.Errorf("apply-template request %v: want the two messages and the model", body)
	}
	for name, rt := range map[string]route{
		"no prompt":  {200, "", `{}`},
		"not json":   {200, "", `<html>`},
		"old server": {404, "", errNotFound},
	} {
		f := newFake(t, map[string]route{"POST /apply-template": rt})
		if _, err := newClient(t, f.URL, nil).Render(context.Background(), msgs); err == nil {
			t.Errorf("%s: Render succeeded", name)
		}
	}
}
