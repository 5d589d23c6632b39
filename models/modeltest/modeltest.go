// Package modeltest is the contract every local backend (models.Model)
// must meet, as one suite with the same cases and assertions for each:
// Ollama (a real server), the llama-server client (against a fake that
// follows llama-server's documented wire format) and the in-process
// llama.cpp engine (real, with the test bed models). Each backend's tests
// call Run.
package modeltest

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// Options describe what the backend under test is given.
type Options struct {
	// Question is a conversation the model answers at temperature 0 in more
	// than two tokens, ending with an end-of-turn token (finish "stop").
	Question []models.Message
	// Other is another conversation, for checks that features depend on the
	// text.
	Other []models.Message
	// Missing returns the error of a backend asked for a model it does not
	// have: from its constructor, or else from a Chat call on it.
	Missing func(t *testing.T) error
}

// topN is how many alternatives the suite asks for at each position.
const topN = 5

// Run runs the contract against the models newModel returns. newModel may
// return the same model each time; it must stop it at the end of the test.
func Run(t *testing.T, newModel func(t *testing.T) models.Model, opts Options) {
	t.Helper()
	if len(opts.Question) == 0 || len(opts.Other) == 0 || opts.Missing == nil {
		t.Fatal("modeltest: Options needs Question, Other and Missing")
	}
	zero := 0.0
	greedy := models.Request{Messages: opts.Question, Temperature: &zero, TopLogprobs: topN}

	t.Run("ChatLogprobs", func(t *testing.T) {
		m := newModel(t)
		resp, err := m.Chat(context.Background(), greedy)
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, topN)
		if resp.FinishReason != "stop" {
			t.Errorf("finish reason %q, want stop", resp.FinishReason)
		}
		if resp.Model != m.Name() {
			t.Errorf("response model %q, want the model's name %q", resp.Model, m.Name())
		}
		if resp.PromptTokens <= 0 {
			t.Errorf("prompt tokens %d, want > 0", resp.PromptTokens)
		}
		if len(resp.Tokens) <= 2 {
			t.Fatalf("the question's answer %q has %d tokens; the suite needs more than 2", resp.Content, len(resp.Tokens))
		}
	})

	t.Run("NoTopLogprobs", func(t *testing.T) {
		req := greedy
		req.TopLogprobs = 0
		resp, err := newModel(t).Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, 0)
	})

	t.Run("MaxTokens", func(t *testing.T) {
		req := greedy
		req.MaxTokens = 2
		resp, err := newModel(t).Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.FinishReason != "length" {
			t.Errorf("finish reason %q, want length", resp.FinishReason)
		}
		if len(resp.Tokens) > 2 || resp.CompletionTokens > 2 || resp.CompletionTokens < 1 {
			t.Errorf("%d tokens, completion tokens %d; want 1-2 with max tokens 2", len(resp.Tokens), resp.CompletionTokens)
		}
		checkResponse(t, resp, topN)
	})

	t.Run("StreamEqualsChat", func(t *testing.T) {
		m := newModel(t)
		want, err := m.Chat(context.Background(), greedy)
		if err != nil {
			t.Fatal(err)
		}
		var chunks []models.Chunk
		got, err := m.ChatStream(context.Background(), greedy, func(c models.Chunk) error {
			chunks = append(chunks, c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, got, topN)
		if got.Content != want.Content || got.FinishReason != want.FinishReason {
			t.Errorf("stream %q (%s), chat %q (%s): want the same answer at temperature 0", got.Content, got.FinishReason, want.Content, want.FinishReason)
		}
		if !sameTokens(got.Tokens, want.Tokens) {
			t.Errorf("stream tokens %v, chat tokens %v", tokenTexts(got.Tokens), tokenTexts(want.Tokens))
		}
		var text strings.Builder
		var toks []models.TokenLogprob
		for _, c := range chunks {
			text.WriteString(c.Content)
			toks = append(toks, c.Tokens...)
		}
		if len(chunks) < 2 {
			t.Errorf("%d chunks for a %d-token answer; want it streamed in pieces", len(chunks), len(got.Tokens))
		}
		if text.String() != got.Content {
			t.Errorf("chunks concatenate to %q, final content %q", text.String(), got.Content)
		}
		if !sameTokens(toks, got.Tokens) {
			t.Errorf("chunk tokens %v, final tokens %v", tokenTexts(toks), tokenTexts(got.Tokens))
		}
	})

	t.Run("ChunkFuncErrorStops", func(t *testing.T) {
		stop := errors.New("client went away")
		calls := 0
		_, err := newModel(t).ChatStream(context.Background(), greedy, func(models.Chunk) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("ChatStream = %v, want the chunk func's error", err)
		}
		if calls != 1 {
			t.Errorf("chunk func called %d times after failing, want once", calls)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		m := newModel(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Chat(ctx, greedy); !errors.Is(err, context.Canceled) {
			t.Errorf("Chat with a canceled context = %v, want context.Canceled", err)
		}
		_, err := m.ChatStream(ctx, greedy, func(models.Chunk) error {
			t.Error("chunk after cancel")
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ChatStream with a canceled context = %v, want context.Canceled", err)
		}
		// Canceled mid-stream: nothing more arrives and the call ends with
		// the context's error, or the answer was already complete.
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		_, err = m.ChatStream(ctx, greedy, func(models.Chunk) error {
			cancel()
			return nil
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ChatStream canceled mid-stream = %v, want context.Canceled", err)
		}
		// The model still answers afterwards.
		if _, err := m.Chat(context.Background(), greedy); err != nil {
			t.Errorf("Chat after a canceled call: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		m := newModel(t)
		want, err := m.Chat(context.Background(), greedy)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		got := make([]string, 4)
		for i := range errs {
			wg.Go(func() {
				var r *models.Response
				if i%2 == 0 {
					r, errs[i] = m.Chat(context.Background(), greedy)
				} else {
					r, errs[i] = m.ChatStream(context.Background(), greedy, func(models.Chunk) error { return nil })
				}
				if r != nil {
					got[i] = r.Content
				}
			})
		}
		wg.Wait()
		for i := range errs {
			if errs[i] != nil || got[i] != want.Content {
				t.Errorf("concurrent call %d: %q, %v; want %q", i, got[i], errs[i], want.Content)
			}
		}
	})

	t.Run("ModelNotFound", func(t *testing.T) {
		err := opts.Missing(t)
		if !errors.Is(err, models.ErrModelNotFound) {
			t.Fatalf("missing model: %v, want models.ErrModelNotFound", err)
		}
		var me *models.Error
		if !errors.As(err, &me) || me.Backend == "" {
			t.Errorf("missing model: %v, want a *models.Error naming the backend", err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		if err := newModel(t).Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Features", func(t *testing.T) {
		m := newModel(t)
		fx, ok := m.(models.FeatureExtractor)
		if !ok {
			t.Skip("the backend has no hidden-state features")
		}
		text := func(msgs []models.Message) string {
			if r, ok := m.(models.Renderer); ok {
				s, err := r.Render(context.Background(), msgs)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			return msgs[len(msgs)-1].Content
		}
		a, err := fx.Features(context.Background(), text(opts.Question))
		if err != nil {
			t.Fatal(err)
		}
		again, err := fx.Features(context.Background(), text(opts.Question))
		if err != nil {
			t.Fatal(err)
		}
		b, err := fx.Features(context.Background(), text(opts.Other))
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || len(a) != len(b) || len(a) != len(again) {
			t.Fatalf("feature sizes %d, %d, %d; want one stable non-zero size", len(a), len(again), len(b))
		}
		for i := range a {
			if math.Abs(float64(a[i]-again[i])) > 1e-4 || math.IsNaN(float64(a[i])) {
				t.Fatalf("features differ between two calls at %d: %v vs %v", i, a[i], again[i])
			}
		}
		if slices.Equal(a, b) {
			t.Errorf("two different texts have the same features")
		}
		if allZero(a) {
			t.Errorf("features are all zero")
		}
	})

	t.Run("Optional", func(t *testing.T) {
		m := newModel(t)
		if cs, ok := m.(models.ContextSizer); ok {
			n, err := cs.ContextLength(context.Background())
			if err != nil || n <= 0 {
				t.Errorf("ContextLength = %d, %v; want > 0", n, err)
			}
		}
		if r, ok := m.(models.Renderer); ok {
			s, err := r.Render(context.Background(), opts.Question)
			last := opts.Question[len(opts.Question)-1].Content
			if err != nil || !strings.Contains(s, last) {
				t.Errorf("Render = %q, %v; want the conversation's text", s, err)
			}
		}
	})
}

// checkResponse checks what every answer must satisfy: text, tokens whose
// texts concatenate to it, log probabilities <= 0, and top alternatives
// (exactly topN when asked) sorted and holding the chosen token.
func checkResponse(t *testing.T, resp *models.Response, topN int) {
	t.Helper()
	if resp == nil || strings.TrimSpace(resp.Content) == "" {
		t.Fatalf("empty answer: %+v", resp)
	}
	if len(resp.Tokens) == 0 {
		t.Fatalf("answer %q has no tokens", resp.Content)
	}
	if strings.Join(tokenTexts(resp.Tokens), "") != resp.Content {
		t.Errorf("tokens %q do not concatenate to the content %q", tokenTexts(resp.Tokens), resp.Content)
	}
	if resp.CompletionTokens < len(resp.Tokens) {
		t.Errorf("completion tokens %d < %d tokens returned", resp.CompletionTokens, len(resp.Tokens))
	}
	for i, tok := range resp.Tokens {
		if tok.Logprob > 0 || math.IsNaN(tok.Logprob) {
			t.Errorf("token %d %q: logprob %v, want <= 0", i, tok.Token, tok.Logprob)
		}
		if topN == 0 {
			continue
		}
		if len(tok.Top) != topN {
			t.Errorf("token %d %q: %d alternatives, want %d", i, tok.Token, len(tok.Top), topN)
			continue
		}
		found := false
		for j, alt := range tok.Top {
			if alt.Logprob > 0 || (j > 0 && alt.Logprob > tok.Top[j-1].Logprob) {
				t.Errorf("token %d: alternatives %v not sorted log probabilities <= 0", i, tok.Top)
			}
			if alt.Token == tok.Token && math.Abs(alt.Logprob-tok.Logprob) < 1e-4 {
				found = true
			}
		}
		if !found {
			t.Errorf("token %d %q (%v) is not among its top alternatives %v", i, tok.Token, tok.Logprob, tok.Top)
		}
	}
}

func tokenTexts(toks []models.TokenLogprob) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.Token
	}
	return out
}

// sameTokens compares token texts and log probabilities (to 1e-4: the
// same computation, possibly batched differently).
func sameTokens(a, b []models.TokenLogprob) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Token != b[i].Token || math.Abs(a[i].Logprob-b[i].Logprob) > 1e-4 {
			return false
		}
	}
	return true
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
