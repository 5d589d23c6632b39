//go:build llamacpp

package llamaengine_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/llamaengine"
	"github.com/edgecascade/edgecascade/models/modeltest"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

func testbedModel(t *testing.T, name string) string {
	t.Helper()
	dir, err := ollamatest.TestbedDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "models", name)
}

func open(t *testing.T, name string, mod func(*llamaengine.Config)) *llamaengine.Engine {
	t.Helper()
	cfg := llamaengine.Config{Path: testbedModel(t, name), ChatTemplate: "chatml"}
	if mod != nil {
		mod(&cfg)
	}
	e, err := llamaengine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

var (
	reverse = []models.Message{{Role: "user", Content: "Spell rmzf backwards."}}
	capital = []models.Message{{Role: "user", Content: "What is the capital of Osninax?"}}
)

// TestContract runs the local-backend contract against the engine with
// the test bed's weak model, loaded in this process.
func TestContract(t *testing.T) {
	e := open(t, "weak.gguf", nil)
	modeltest.Run(t, func(*testing.T) models.Model { return e }, modeltest.Options{
		Question: reverse,
		Other:    capital,
		Missing: func(t *testing.T) error {
			_, err := llamaengine.Open(context.Background(), llamaengine.Config{Path: filepath.Join(t.TempDir(), "missing.gguf"), ChatTemplate: "chatml"})
			return err
		},
	})
}

// TestMatchesOllama checks the engine against Ollama's own llama.cpp runner
// on the same GGUF: the same greedy answer, the same log probabilities and
// the same last-token hidden state (Ollama's /api/embed).
func TestMatchesOllama(t *testing.T) {
	s := ollamatest.New(t, ollamatest.Weak)
	o, err := ollama.New(ollama.Config{URL: s.URL, Model: ollamatest.Weak})
	if err != nil {
		t.Fatal(err)
	}
	e := open(t, "weak.gguf", nil)
	zero := 0.0
	for _, q := range [][]models.Message{reverse, capital, {{Role: "user", Content: "What is 3442 - 14?"}}} {
		req := models.Request{Messages: q, Temperature: &zero, TopLogprobs: 3}
		want, err := o.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got.Content != want.Content || got.FinishReason != want.FinishReason || len(got.Tokens) != len(want.Tokens) {
			t.Fatalf("%q: engine %q (%s, %d tokens), ollama %q (%s, %d tokens)", q[0].Content,
				got.Content, got.FinishReason, len(got.Tokens), want.Content, want.FinishReason, len(want.Tokens))
		}
		for i := range got.Tokens {
			g, w := got.Tokens[i], want.Tokens[i]
			if g.Token != w.Token || math.Abs(g.Logprob-w.Logprob) > 1e-3 {
				t.Errorf("%q token %d: engine %q %v, ollama %q %v", q[0].Content, i, g.Token, g.Logprob, w.Token, w.Logprob)
			}
			for j := range min(len(g.Top), len(w.Top)) {
				if g.Top[j].Token != w.Top[j].Token || math.Abs(g.Top[j].Logprob-w.Top[j].Logprob) > 1e-3 {
					t.Errorf("%q token %d alternative %d: engine %v, ollama %v", q[0].Content, i, j, g.Top[j], w.Top[j])
				}
			}
		}
		text, err := e.Render(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		text += got.Content
		fe, err := e.Features(context.Background(), text)
		if err != nil {
			t.Fatal(err)
		}
		fo, err := o.Features(context.Background(), text)
		if err != nil {
			t.Fatal(err)
		}
		if len(fe) != len(fo) {
			t.Fatalf("feature sizes: engine %d, ollama %d", len(fe), len(fo))
		}
		for i := range fe {
			if math.Abs(float64(fe[i]-fo[i])) > 1e-3 {
				t.Fatalf("%q features differ at %d: engine %v, ollama %v", q[0].Content, i, fe[i], fo[i])
			}
		}
	}
}

// TestScoreAnswer feeds answers in and checks their log probabilities
// against generation's.
func TestScoreAnswer(t *testing.T) {
	e := open(t, "weak.gguf", nil)
	zero := 0.0
	gen, err := e.Chat(context.Background(), models.Request{Messages: reverse, Temperature: &zero, TopLogprobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	scored, err := e.ScoreAnswer(context.Background(), reverse, gen.Content, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(scored) != len(gen.Tokens) {
		t.Fatalf("scored %d tokens of %q, generation had %d", len(scored), gen.Content, len(gen.Tokens))
	}
	for i := range scored {
		if scored[i].Token != gen.Tokens[i].Token || math.Abs(scored[i].Logprob-gen.Tokens[i].Logprob) > 1e-4 ||
			len(scored[i].Top) != 3 || scored[i].Top[0] != gen.Tokens[i].Top[0] && math.Abs(scored[i].Top[0].Logprob-gen.Tokens[i].Top[0].Logprob) > 1e-4 {
			t.Errorf("token %d: scored %+v, generated %+v", i, scored[i], gen.Tokens[i])
		}
	}
	// A wrong answer is less likely than the model's own.
	wrong, err := e.ScoreAnswer(context.Background(), reverse, "rmzf", 0)
	if err != nil {
		t.Fatal(err)
	}
	if mean(wrong) >= mean(scored) {
		t.Errorf("mean logprob of a wrong answer %v >= the model's answer %v", mean(wrong), mean(scored))
	}

	// The Self-REF model's confidence token is one special token.
	sr := open(t, "selfref.gguf", nil)
	toks, err := sr.ScoreAnswer(context.Background(), capital, "Tupel<CN>", 5)
	if err != nil {
		t.Fatal(err)
	}
	if last := toks[len(toks)-1]; last.Token != "<CN>" || len(toks) != len("Tupel")+1 {
		t.Errorf("Self-REF answer scored as %d tokens ending in %q, want 6 ending in <CN>", len(toks), last.Token)
	}

	for _, tc := range []struct {
		answer string
		top    int
	}{{"", 0}, {"x", 21}, {"x", -1}} {
		if _, err := e.ScoreAnswer(context.Background(), reverse, tc.answer, tc.top); !errors.Is(err, models.ErrBadRequest) {
			t.Errorf("ScoreAnswer(%q, %d) = %v, want ErrBadRequest", tc.answer, tc.top, err)
		}
	}
}

func mean(toks []models.TokenLogprob) float64 {
	var s float64
	for _, t := range toks {
		s += t.Logprob
	}
	return s / float64(len(toks))
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notGGUF := filepath.Join(dir, "notes.gguf")
	if err := os.WriteFile(notGGUF, []byte("not a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	weak := testbedModel(t, "weak.gguf")
	tests := []struct {
		name string
		cfg  llamaengine.Config
		kind error
		want string
	}{
		{"missing file", llamaengine.Config{Path: filepath.Join(dir, "nope.gguf"), ChatTemplate: "chatml"}, models.ErrModelNotFound, "GGUF"},
		{"not a GGUF", llamaengine.Config{Path: notGGUF, ChatTemplate: "chatml"}, models.ErrUnavailable, "GGUF"},
		// The test bed GGUFs carry no tokenizer.chat_template.
		{"no template", llamaengine.Config{Path: weak}, models.ErrBadRequest, "local.chat_template"},
		{"bad template", llamaengine.Config{Path: weak, ChatTemplate: "vicuna"}, models.ErrBadRequest, "chatml"},
		{"negative context", llamaengine.Config{Path: weak, ChatTemplate: "chatml", ContextSize: -1}, models.ErrBadRequest, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := llamaengine.Open(context.Background(), tt.cfg)
			if err == nil {
				e.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v; want %v mentioning %q", err, tt.kind, tt.want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	e := open(t, "weak.gguf", func(c *llamaengine.Config) { c.ContextSize = 64 })
	neg := -0.5
	long := []models.Message{{Role: "user", Content: strings.Repeat("What is the capital of Osninax? ", 4)}}
	tests := []struct {
		name string
		req  models.Request
		want string
	}{
		{"negative temperature", models.Request{Messages: reverse, Temperature: &neg}, "temperature"},
		{"too many alternatives", models.Request{Messages: reverse, TopLogprobs: 21}, "top logprobs"},
		{"negative max tokens", models.Request{Messages: reverse, MaxTokens: -1}, "max tokens"},
		{"prompt over the context", models.Request{Messages: long}, "does not fit the context (64 tokens)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Chat(context.Background(), tt.req)
			if !errors.Is(err, models.ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Chat = %v; want ErrBadRequest mentioning %q", err, tt.want)
			}
		})
	}
	if n, _ := e.ContextLength(context.Background()); n != 64 {
		t.Errorf("ContextLength = %d, want the configured 64", n)
	}
	// The context defaults to the model's training length (128) when below 4096.
	if n, _ := open(t, "weak.gguf", nil).ContextLength(context.Background()); n != 128 {
		t.Errorf("default ContextLength = %d, want the GGUF's context_length 128", n)
	}
}

func TestDigest(t *testing.T) {
	path := testbedModel(t, "weak.gguf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
	e := open(t, "weak.gguf", nil)
	for range 2 { // computed, then remembered
		got, err := e.Digest(context.Background())
		if err != nil || got != want {
			t.Fatalf("Digest = %q, %v; want %q", got, err, want)
		}
	}
	other, err := open(t, "strong.gguf", nil).Digest(context.Background())
	if err != nil || other == want {
		t.Errorf("strong model digest %q, %v; want another digest", other, err)
	}
}

func TestClose(t *testing.T) {
	e := open(t, "weak.gguf", nil)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Chat(context.Background(), models.Request{Messages: reverse}); !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Chat after Close = %v, want ErrUnavailable saying closed", err)
	}
	if err := e.Ping(context.Background()); !errors.Is(err, models.ErrUnavailable) {
		t.Errorf("Ping after Close = %v, want ErrUnavailable", err)
	}
}

func TestMeanPooling(t *testing.T) {
	last := open(t, "weak.gguf", nil)
	meanE := open(t, "weak.gguf", func(c *llamaengine.Config) { c.Pooling = llamaengine.PoolMean })
	raw := open(t, "weak.gguf", func(c *llamaengine.Config) { c.Pooling = llamaengine.PoolMean; c.RawFeatures = true })
	text := "<|im_start|>user\nSpell rmzf backwards.<|im_end|>\n<|im_start|>assistant\nfzmr"
	a, err := last.Features(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := meanE.Features(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	r, err := raw.Features(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 128 || len(b) != 128 || len(r) != 128 {
		t.Fatalf("sizes %d, %d, %d; want the model's 128", len(a), len(b), len(r))
	}
	if n := norm(a); math.Abs(n-1) > 1e-4 {
		t.Errorf("last-token features have norm %v, want 1", n)
	}
	if n := norm(b); math.Abs(n-1) > 1e-4 {
		t.Errorf("mean features have norm %v, want 1", n)
	}
	if math.Abs(float64(a[0]-b[0])) < 1e-6 && math.Abs(float64(a[1]-b[1])) < 1e-6 {
		t.Errorf("mean and last-token features agree: pooling had no effect")
	}
	// Raw mean features are the normalized ones scaled back.
	n := norm(r)
	for i := range r {
		if math.Abs(float64(r[i])/n-float64(b[i])) > 1e-4 {
			t.Fatalf("raw/|raw| differs from normalized at %d: %v vs %v", i, float64(r[i])/n, b[i])
		}
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestSampling draws at a high temperature: answers stay well-formed and,
// over many draws, more than one answer comes out. The question is one the
// weak model is unsure about (top-p 0.9 keeps several candidates; on a
// question it is sure of, top-p leaves one and every draw agrees).
func TestSampling(t *testing.T) {
	e := open(t, "weak.gguf", nil)
	temp := 5.0
	seen := map[string]bool{}
	for range 8 {
		r, err := e.Chat(context.Background(), models.Request{Messages: []models.Message{{Role: "user", Content: "What is 3442 - 14?"}}, Temperature: &temp, MaxTokens: 8, TopLogprobs: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range r.Tokens {
			if tok.Logprob > 0 || len(tok.Top) != 2 {
				t.Fatalf("token %+v", tok)
			}
		}
		seen[r.Content] = true
	}
	if len(seen) < 2 {
		t.Errorf("8 draws at temperature 5 gave one answer %v", seen)
	}
}
