package httpapi

import (
	"bytes"
	"errors"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Fuzz targets for the request decoders. The seed corpora are in
// testdata/fuzz/<FuzzName>/ plus the f.Add calls; plain `go test` runs them,
// `go test -fuzz=FuzzDecodeChatRequest -fuzztime=10m ./agent/httpapi/` explores.

const fuzzLimit = 4096

// requestSeeds are bodies every decoder is seeded with.
var requestSeeds = []string{
	`{"model":"auto","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"local","stream":true,"max_tokens":16,"temperature":0.2,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
	`{"model":"cloud:latest","prompt":"hi","system":"s","options":{"temperature":0,"num_predict":8},"stream":false}`,
	`{"model":"auto","messages":[{"role":"user","content":"hi","images":["aGk="]}],"options":{"num_predict":-1}}`,
	`{"model":"auto","keep_alive":"5m","format":"json","think":true,"messages":[{"role":"assistant","content":"x","tool_calls":[{"function":{"name":"f","arguments":{}}}]}]}`,
	`{"model":"auto","max_tokens":1e9,"messages":[]}`,
	`{"model":"auto","messages":"hi"}`,
	"{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
	`[1,2]`, `null`, `{}`, `{"model":"gpt-4"}`, `{"model":"auto","messages":[{"role":"user","content":"hi"}]} {}`,
}

// checkDecoded is the property of every decoder: a typed 4xx error, or a
// request the cascade can run.
func checkDecoded(t *testing.T, policy cascade.Policy, req cascade.Request, err error) {
	t.Helper()
	if err != nil {
		var (
			bad   *BadRequestError
			um    *cascade.UnknownModelError
			large *TooLargeError
		)
		if !errors.As(err, &bad) && !errors.As(err, &um) && !errors.As(err, &large) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if status, body := statusOf(err); status < 400 || status > 499 || body.Error.Message == "" {
			t.Fatalf("error %v maps to status %d %+v", err, status, body)
		}
		return
	}
	if !slices.Contains(cascade.Policies, policy) {
		t.Fatalf("policy %q", policy)
	}
	if len(req.Messages) == 0 {
		t.Fatal("a valid request without messages")
	}
	content := false
	for _, m := range req.Messages {
		if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
			t.Fatalf("role %q passed", m.Role)
		}
		content = content || strings.TrimSpace(m.Content) != ""
	}
	if !content && (req.Completion == nil || req.Completion.Suffix == "") {
		t.Fatal("a valid request whose messages are all empty (and no suffix to fill in before)")
	}
	if req.MaxTokens < 0 || req.MaxTokens > maxMaxTokens {
		t.Fatalf("max tokens %d passed", req.MaxTokens)
	}
	if tp := req.Temperature; tp != nil && !(*tp >= 0 && *tp <= 2) {
		t.Fatalf("temperature %v passed", *tp)
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, policy, req, err := decodeChatRequest(bytes.NewReader(body), fuzzLimit)
		if int64(len(body)) > fuzzLimit {
			var large *TooLargeError
			if !errors.As(err, &large) {
				t.Fatalf("%d bytes over a %d limit: %v", len(body), fuzzLimit, err)
			}
		}
		checkDecoded(t, policy, req, err)
	})
}

func FuzzDecodeOllamaChat(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, policy, req, err := decodeOllamaChat(body)
		checkDecoded(t, policy, req, err)
	})
}

func FuzzDecodeOllamaGenerate(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, policy, req, err := decodeOllamaGenerate(body)
		checkDecoded(t, policy, req, err)
	})
}

func FuzzParseCompletionRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`{"model":"auto","prompt":"q","suffix":"s"}`, `{"model":"local","prompt":["q"],"logprobs":5,"echo":false}`,
		`{"model":"cloud","prompt":["a","b"]}`, `{"model":"auto","prompt":"","suffix":"x","n":1,"best_of":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, policy, req, err := parseCompletionRequest(body)
		checkDecoded(t, policy, req, err)
		if err == nil && req.TopLogprobs > maxCompletionLogprobs {
			t.Fatalf("logprobs %d passed", req.TopLogprobs)
		}
	})
}

// FuzzPolicyHeader: the header never turns a local request into one that
// may leave the device, and a bad value is a 400.
func FuzzPolicyHeader(f *testing.F) {
	for _, h := range []string{"", "auto", "local", "cloud", "LOCAL", " local ", "remote", "local,cloud"} {
		for _, p := range cascade.Policies {
			f.Add(h, string(p))
		}
	}
	f.Fuzz(func(t *testing.T, header, body string) {
		bp, err := cascade.ParsePolicy(body)
		if err != nil {
			return
		}
		h := http.Header{}
		h.Set(PolicyHeader, header)
		got, err := policyFromHeader(h, bp)
		if err != nil {
			var bad *BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !slices.Contains(cascade.Policies, got) {
			t.Fatalf("policy %q", got)
		}
		if bp == cascade.PolicyLocal && got != cascade.PolicyLocal {
			t.Fatalf("body local with header %q became %s", header, got)
		}
		if strings.EqualFold(strings.TrimSpace(h.Get(PolicyHeader)), "local") && got != cascade.PolicyLocal {
			t.Fatalf("header local with body %s became %s", bp, got)
		}
	})
}
