package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/cloud/openai"
	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/models/tokenizer"
	"github.com/edgecascade/edgecascade/uq"
)

// countingProxy forwards to target and counts the calls that reach it, so a
// test can assert that the cloud was (or was not) called.
type countingProxy struct {
	*httptest.Server
	calls atomic.Int64
	// dropUsage removes "usage" from non-streamed answers.
	dropUsage atomic.Bool
	// down makes the cloud unreachable: connections are closed without an
	// answer, and counted in refused.
	down    atomic.Bool
	refused atomic.Int64
	mu      sync.Mutex
	body    [][]byte // request bodies of the calls
}

// bodies returns the request bodies the cloud received.
func (p *countingProxy) bodies() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.body...)
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if !p.dropUsage.Load() || r.Header.Get("Content-Type") != "application/json" {
			return nil
		}
		var doc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			return err
		}
		r.Body.Close()
		delete(doc, "usage")
		b, _ := json.Marshal(doc)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			p.refused.Add(1)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		if r.URL.Path != "/v1/models" { // health probes are not answers
			p.calls.Add(1)
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			p.mu.Lock()
			p.body = append(p.body, b)
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

type daemon struct {
	*httptest.Server
	cascade *cascade.Cascade
	api     *httpapi.Server
	// cloud counts the calls that reach the real cloud (test bed daemons);
	// fake is the fake cloud (fake daemons).
	cloud *countingProxy
	fake  *cloudmock.Provider
}

// cloudCalls is how many calls reached the cloud.
func (d *daemon) cloudCalls() int64 {
	if d.fake != nil {
		return int64(d.fake.Calls())
	}
	return d.cloud.calls.Load()
}

type daemonOpts struct {
	localURL   string // default: the shared test bed
	localModel string // default: the weak model
	scorer     string // default: mean_logprob
	strip      []string
	context    bool            // check prompts against the local context with the test bed's tokenizer
	pregen     *cascade.Pregen // pre-generation probe

	threshold float64
	maxBody   int64
	admission *admission.Limiter          // when set, the local model sits behind it
	server    func(*httpapi.ServerConfig) // security settings and the like
	log       *slog.Logger                // the HTTP API's logger (fake daemons; default: discard)

	// local and cloud, when set, replace the test bed: a daemon on the
	// shared fakes, which needs no Ollama (newFakeDaemon).
	local models.Model
	cloud *cloudmock.Provider
	// energy, when set, measures each local generation (fake daemons).
	energy cascade.EnergyMeter
}

// The fakes' models, named like the test bed's.
const (
	fakeLocalName = "fake-local"
	fakeCloudName = "fake-cloud"
	// fakeLocalAnswer and fakeCloudAnswer are what the fakes answer.
	fakeLocalAnswer = "local answer"
	fakeCloudAnswer = "cloud answer"
	// fakeScore is the fake local answer's mean_logprob score.
	fakeScore = 0.8
)

// fakeLocal is the fake local model: it answers fakeLocalAnswer with a
// mean_logprob score of fakeScore.
func fakeLocal() *mock.Model {
	return &mock.Model{ModelName: fakeLocalName, Answer: models.Response{
		Content: fakeLocalAnswer, Tokens: mock.Tokens(fakeLocalAnswer, math.Log(fakeScore)),
		PromptTokens: 7, CompletionTokens: len(fakeLocalAnswer),
	}}
}

// fakeLocalUnsure is fakeLocal, unsure (a mean_logprob score of 0.1) of
// its answers to the given questions.
func fakeLocalUnsure(questions ...string) *mock.Model {
	m := fakeLocal()
	sure := m.Answer
	m.ChatFunc = func(_ context.Context, req models.Request) (*models.Response, error) {
		resp := sure
		if slices.Contains(questions, req.Messages[len(req.Messages)-1].Content) {
			resp.Tokens = mock.Tokens(resp.Content, math.Log(0.1))
		}
		return &resp, nil
	}
	return m
}

// fakeCloud is the fake cloud provider: it answers fakeCloudAnswer.
func fakeCloud() *cloudmock.Provider {
	return &cloudmock.Provider{ProviderName: "openai", ModelName: fakeCloudName, Answer: cloud.Response{
		Content: fakeCloudAnswer, Usage: cloud.Usage{PromptTokens: 9, CompletionTokens: len(fakeCloudAnswer)},
	}}
}

// newFakeDaemon is newDaemon on the shared fakes (fakeLocal and fakeCloud
// unless o sets others): the real cascade and HTTP API without Ollama.
func newFakeDaemon(t *testing.T, o daemonOpts) *daemon {
	t.Helper()
	if o.local == nil {
		o.local = fakeLocal()
	}
	if o.cloud == nil {
		o.cloud = fakeCloud()
	}
	return newDaemon(t, o)
}

// newDaemon wires the real cascade: local = weak model on real Ollama,
// cloud = strong model through Ollama's OpenAI-compatible API behind a
// counting proxy, served over real HTTP.
func newDaemon(t *testing.T, o daemonOpts) *daemon {
	t.Helper()
	if o.local != nil {
		return fakeDaemon(t, o)
	}
	s := needBed(t)
	if o.localURL == "" {
		o.localURL = s.URL
	}
	if o.localModel == "" {
		o.localModel = ollamatest.Weak
	}
	local, err := ollama.New(ollama.Config{URL: o.localURL, Model: o.localModel, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, s.URL)
	provider, err := openai.New(openai.Config{BaseURL: proxy.URL + "/v1", Model: ollamatest.Strong, Timeout: time.Minute, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if o.scorer == "" {
		o.scorer = uq.MeanLogprob
	}
	scorer, err := uq.Build(o.scorer, uq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var check cascade.ContextCheck
	if o.context {
		bedDir, err := ollamatest.TestbedDir()
		if err != nil {
			t.Fatal(err)
		}
		tk, err := tokenizer.Load(filepath.Join(bedDir, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := local.ContextLength(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		check = cascade.ContextCheck{Counter: tk, Exact: true, Length: n}
	}
	if o.pregen != nil {
		o.pregen.Features = local
	}
	var localModel models.Model = local
	if o.admission != nil {
		localModel = admission.Admit(local, o.admission)
	}
	c, err := cascade.New(localModel, provider, cascade.Routing{Scorer: scorer, Threshold: o.threshold, Pregen: o.pregen},
		cascade.Options{TopLogprobs: 5, StripTokens: o.strip, Context: check, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sc := httpapi.ServerConfig{MaxBodyBytes: o.maxBody, Backend: "ollama", LocalURL: o.localURL, CloudProvider: "openai", CloudURL: proxy.URL + "/v1", Admission: o.admission}
	if o.server != nil {
		o.server(&sc)
	}
	srv := httpapi.NewServer(c, sc, log)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &daemon{Server: hs, cascade: c, api: srv, cloud: proxy}
}

// fakeDaemon serves the cascade of o's fakes.
func fakeDaemon(t *testing.T, o daemonOpts) *daemon {
	t.Helper()
	if o.scorer == "" {
		o.scorer = uq.MeanLogprob
	}
	scorer, err := uq.Build(o.scorer, uq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	local := o.local
	if o.admission != nil {
		local = admission.Admit(local, o.admission)
	}
	c, err := cascade.New(local, o.cloud, cascade.Routing{Scorer: scorer, Threshold: o.threshold, Pregen: o.pregen},
		cascade.Options{TopLogprobs: 5, StripTokens: o.strip, Energy: o.energy, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sc := httpapi.ServerConfig{MaxBodyBytes: o.maxBody, Backend: "fake", LocalURL: "fake://local", CloudProvider: "openai", CloudURL: "fake://cloud", Admission: o.admission}
	if o.server != nil {
		o.server(&sc)
	}
	if o.log != nil {
		log = o.log
	}
	srv := httpapi.NewServer(c, sc, log)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &daemon{Server: hs, cascade: c, api: srv, fake: o.cloud}
}

type cascadeObj struct {
	Route      string   `json:"route"`
	Confidence *float64 `json:"confidence"`
	Threshold  float64  `json:"threshold"`
	Scorer     string   `json:"scorer"`
	LocalModel string   `json:"local_model"`
	CloudModel string   `json:"cloud_model"`
	Escalated  bool     `json:"escalated"`
	Reason     string   `json:"reason"`
}

type completion struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		TotalTokens int `json:"total_tokens"`
	} `json:"usage"`
	Cascade *cascadeObj `json:"cascade"`
	Error   *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func post(t *testing.T, url string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	resp, err := http.Post(url, "application/json", r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func chatBody(model, question string, stream bool) map[string]any {
	// temperature 0: Ollama's OpenAI-compatible endpoint samples at 1.0 by
	// default, whatever the Modelfile says.
	return map[string]any{"model": model, "stream": stream, "temperature": 0, "messages": []map[string]string{{"role": "user", "content": question}}}
}

func ask(t *testing.T, d *daemon, model, question string) (*http.Response, completion) {
	t.Helper()
	resp, raw := post(t, d.URL+"/v1/chat/completions", chatBody(model, question, false))
	var c completion
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return resp, c
}

func newDaemonModel(t *testing.T, localURL, model string) *daemon {
	t.Helper()
	return newDaemon(t, daemonOpts{threshold: 0.5, localURL: localURL, localModel: model})
}

// pollUntil polls cond until it holds, failing the test after a generous
// deadline (a hang, not a timing expectation).
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newAdmission(t *testing.T, running, queue int) *admission.Limiter {
	t.Helper()
	a, err := admission.New(running, queue)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
