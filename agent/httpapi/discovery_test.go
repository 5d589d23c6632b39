package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgecascade/edgecascade/agent/httpapi"
	"github.com/edgecascade/edgecascade/models/mock"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// TestEmbeddingsOpenAISDK: /v1/embeddings answered by the real Ollama's
// weak model, read by the official openai-go client: one vector per input,
// normalized, usage counted, dimensions honoured by truncation and
// renormalization; never the cloud.
func TestEmbeddingsOpenAISDK(t *testing.T) {
	d := newDaemon(t, daemonOpts{threshold: 0.5})
	client := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()
	resp, err := client.Embeddings.New(ctx, oai.EmbeddingNewParams{
		Model: "local", Input: oai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"the cat", "a dog barks"}}, User: oai.String("u1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || resp.Data[1].Index != 1 || resp.Model != "local" || resp.Usage.PromptTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens {
		t.Fatalf("response = %+v", resp)
	}
	full := len(resp.Data[0].Embedding)
	for _, e := range resp.Data {
		if len(e.Embedding) != full || full < 8 || math.Abs(norm(e.Embedding)-1) > 1e-3 {
			t.Fatalf("vector of %d values, norm %v", len(e.Embedding), norm(e.Embedding))
		}
	}
	if slices.Equal(resp.Data[0].Embedding, resp.Data[1].Embedding) {
		t.Fatal("two inputs, one vector")
	}
	short, err := client.Embeddings.New(ctx, oai.EmbeddingNewParams{
		Model: ollamatest.Weak, Input: oai.EmbeddingNewParamsInputUnion{OfString: oai.String("the cat")}, Dimensions: oai.Int(8),
	})
	if err != nil {
		t.Fatal(err)
	}
	v := short.Data[0].Embedding
	if len(v) != 8 || math.Abs(norm(v)-1) > 1e-3 {
		t.Fatalf("dimensions 8: %d values, norm %v", len(v), norm(v))
	}
	// The same direction as the full vector's first 8 values.
	head := resp.Data[0].Embedding[:8]
	for i := range v {
		if math.Abs(v[i]-head[i]/norm(head)) > 1e-3 {
			t.Fatalf("dimensions 8 is not the renormalized head: %v vs %v", v, head)
		}
	}
	_, err = client.Embeddings.New(ctx, oai.EmbeddingNewParams{Model: "local", Input: oai.EmbeddingNewParamsInputUnion{OfString: oai.String("x")}, Dimensions: oai.Int(int64(full + 1))})
	var ae *oai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Param != "dimensions" {
		t.Fatalf("dimensions above the model's: %v", err)
	}
	_, err = client.Embeddings.New(ctx, oai.EmbeddingNewParams{Model: "local", Input: oai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2}}})
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Param != "input" {
		t.Fatalf("token array: %v", err)
	}

	// base64: the little-endian float32 bytes of the same vector.
	_, raw := send(t, "POST", d.URL+"/v1/embeddings", "", nil, `{"model":"local","input":"the cat","encoding_format":"base64"}`)
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &b64); err != nil || len(b64.Data) != 1 {
		t.Fatalf("base64: %v %s", err, raw)
	}
	bs, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(bs) != 4*full {
		t.Fatalf("base64 bytes: %v, %d", err, len(bs))
	}
	for i := range full {
		if x := math.Float32frombits(binary.LittleEndian.Uint32(bs[4*i:])); math.Abs(float64(x)-resp.Data[0].Embedding[i]) > 1e-6 {
			t.Fatalf("base64 value %d: %v vs %v", i, x, resp.Data[0].Embedding[i])
		}
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("embeddings reached the cloud %d times", n)
	}
}

// TestEmbeddingsRefusals: every refused field is a 4xx naming it, in each
// API's shape.
func TestEmbeddingsRefusals(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) { c.Embedder = &mock.Embedder{} }})
	for _, tc := range []struct {
		path, body string
		status     int
		param      string // OpenAI routes
		msg        string // Ollama routes: in the error
	}{
		{"/v1/embeddings", `{"model":"local","input":[[1,2]]}`, 400, "input", ""},
		{"/v1/embeddings", `{"model":"local","input":[1,2]}`, 400, "input", ""},
		{"/v1/embeddings", `{"model":"local","input":[]}`, 400, "input", ""},
		{"/v1/embeddings", `{"model":"local"}`, 400, "input", ""},
		{"/v1/embeddings", `{"model":"cloud","input":"x"}`, 400, "model", ""},
		{"/v1/embeddings", `{"model":"nope","input":"x"}`, 404, "model", ""},
		{"/v1/embeddings", `{"model":"local","input":"x","encoding_format":"int8"}`, 400, "encoding_format", ""},
		{"/v1/embeddings", `{"model":"local","input":"x","dimensions":0}`, 400, "dimensions", ""},
		{"/v1/embeddings", `{"model":"local","input":"x","dimensions":5}`, 400, "dimensions", ""},
		{"/v1/embeddings", `{"model":"local","input":"x","extra":1}`, 400, "extra", ""},
		{"/api/embed", `{"model":"cloud","input":"x"}`, 400, "", "device only"},
		{"/api/embed", `{"model":"local","input":[1]}`, 400, "", "token arrays"},
		{"/api/embed", `{"model":"local","input":"x","mystery":true}`, 400, "", "mystery"},
		{"/api/embeddings", `{"model":"nope","prompt":"x"}`, 404, "", "does not exist"},
		{"/api/embeddings", `{"model":"local","prompt":"x","truncate":true}`, 400, "", "truncate"},
		{"/v1/embeddings", `{"model":"auto","input":"x","policy":"cloud"}`, 400, "X-Cascade-Policy", ""},
		{"/api/embed", `{"model":"auto","input":"x","policy":"cloud"}`, 400, "", "device only"},
	} {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			var hdr map[string]string
			if strings.Contains(tc.body, `"policy":"cloud"`) { // the header, not a body field
				tc.body = strings.Replace(tc.body, `,"policy":"cloud"`, "", 1)
				hdr = map[string]string{"X-Cascade-Policy": "cloud"}
			}
			resp, raw := send(t, "POST", d.URL+tc.path, "", hdr, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if strings.HasPrefix(tc.path, "/api/") {
				var e struct{ Error string }
				if err := json.Unmarshal(raw, &e); err != nil || !strings.Contains(e.Error, tc.msg) {
					t.Fatalf("Ollama error %s, want it to contain %q", raw, tc.msg)
				}
				return
			}
			var e struct{ Error struct{ Param *string } }
			if err := json.Unmarshal(raw, &e); err != nil || e.Error.Param == nil || *e.Error.Param != tc.param {
				t.Fatalf("OpenAI error %s, want param %q", raw, tc.param)
			}
		})
	}
}

// TestOllamaClientEmbedShowPS: the official Ollama Go client against the
// daemon over real Ollama: Heartbeat, Embed, Embeddings, Show for auto,
// local and cloud, ListRunning.
func TestOllamaClientEmbedShowPS(t *testing.T) {
	d := newDaemon(t, daemonOpts{threshold: 0.5})
	u, _ := url.Parse(d.URL)
	c := api.NewClient(u, http.DefaultClient)
	ctx := context.Background()
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	for _, accept := range []string{"", "application/json", "*/*"} {
		resp, raw := send(t, "GET", d.URL+"/", "", map[string]string{"Accept": accept}, "")
		if resp.StatusCode != 200 || string(raw) != "Ollama is running" {
			t.Fatalf("GET / (Accept %q): %d %q", accept, resp.StatusCode, raw)
		}
	}
	// A browser gets the dashboard instead (agent/ui).
	resp, raw := send(t, "GET", d.URL+"/", "", map[string]string{"Accept": "text/html,application/xhtml+xml"}, "")
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `<script src="/ui/app.js"`) {
		t.Fatalf("GET / from a browser: %d %.200q", resp.StatusCode, raw)
	}

	emb, err := c.Embed(ctx, &api.EmbedRequest{Model: "local", Input: []string{"the cat", "a dog"}, Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Embeddings) != 2 || len(emb.Embeddings[0]) != 4 || emb.PromptEvalCount == 0 || emb.Model != "local" {
		t.Fatalf("embed = %+v", emb)
	}
	truncate := false
	one, err := c.Embed(ctx, &api.EmbedRequest{Model: ollamatest.Weak, Input: "the cat", Truncate: &truncate, Options: map[string]any{"seed": 1}})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := c.Embeddings(ctx, &api.EmbeddingRequest{Model: "local", Prompt: "the cat"})
	if err != nil {
		t.Fatal(err)
	}
	if len(legacy.Embedding) != len(one.Embeddings[0]) || len(legacy.Embedding) == 0 {
		t.Fatalf("legacy: %d values, embed %d", len(legacy.Embedding), len(one.Embeddings[0]))
	}
	// The legacy vector is not normalized; normalized, it is /api/embed's.
	n := norm(legacy.Embedding)
	for i, x := range one.Embeddings[0] {
		if math.Abs(legacy.Embedding[i]/n-float64(x)) > 1e-3 {
			t.Fatalf("legacy value %d: %v/%v vs %v", i, legacy.Embedding[i], n, x)
		}
	}

	for _, name := range []string{"auto", "local", "local:latest"} {
		show, err := c.Show(ctx, &api.ShowRequest{Model: name})
		if err != nil {
			t.Fatalf("show %s: %v", name, err)
		}
		arch, _ := show.ModelInfo["general.architecture"].(string)
		cl, _ := show.ModelInfo[arch+".context_length"].(float64)
		if arch == "" || cl <= 0 || show.Template == "" || show.Details.Family == "" || !slices.Contains(show.Capabilities, model.CapabilityCompletion) || show.Details.ParentModel != ollamatest.Weak {
			t.Fatalf("show %s: arch %q context %v caps %v details %+v template %d bytes", name, arch, cl, show.Capabilities, show.Details, len(show.Template))
		}
	}
	show, err := c.Show(ctx, &api.ShowRequest{Model: "cloud"})
	if err != nil {
		t.Fatal(err)
	}
	if show.RemoteModel != ollamatest.Strong || !slices.Equal(show.Capabilities, capsOf("completion", "tools", "vision")) {
		t.Fatalf("show cloud: %+v", show)
	}
	_, err = c.Show(ctx, &api.ShowRequest{Model: "nope"})
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("show nope: %v", err)
	}

	ps, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Models) != 1 || ps.Models[0].Name != "local" || ps.Models[0].Model != ollamatest.Weak+":latest" || ps.Models[0].ContextLength == 0 || ps.Models[0].Size == 0 {
		t.Fatalf("ps = %+v", ps.Models)
	}
}

// TestModelsGet: GET /v1/models/{id} through openai-go.
func TestModelsGet(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	client := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	for _, id := range []string{"auto", "local", "cloud"} {
		m, err := client.Models.Get(context.Background(), id)
		if err != nil || m.ID != id || m.OwnedBy != "edgecascade" {
			t.Fatalf("get %s: %+v %v", id, m, err)
		}
	}
	_, err := client.Models.Get(context.Background(), "gpt-4")
	var ae *oai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != "model_not_found" {
		t.Fatalf("get gpt-4: %v", err)
	}
}

func capsOf(cs ...string) []model.Capability {
	out := make([]model.Capability, len(cs))
	for i, c := range cs {
		out[i] = model.Capability(c)
	}
	return out
}

// TestDiscoveryWithoutDescriber: a backend that cannot describe itself is
// shown by its name, its context length when known and completion; /api/ps
// lists it while it answers; POST / is no route.
func TestDiscoveryWithoutDescriber(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	u, _ := url.Parse(d.URL)
	c := api.NewClient(u, http.DefaultClient)
	ctx := context.Background()
	show, err := c.Show(ctx, &api.ShowRequest{Model: "local"})
	if err != nil {
		t.Fatal(err)
	}
	if show.Details.ParentModel != fakeLocalName || !slices.Equal(show.Capabilities, capsOf("completion")) || show.ModelInfo["general.architecture"] != "local" {
		t.Fatalf("show = %+v", show)
	}
	ps, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Models) != 1 || ps.Models[0].Name != "local" || ps.Models[0].Model != fakeLocalName {
		t.Fatalf("ps = %+v", ps.Models)
	}
	for _, body := range []string{`{"model":"local","verbose":true}`, `{"model":"local","system":"x"}`, `{"model":"local","bogus":1}`} {
		if resp, raw := send(t, "POST", d.URL+"/api/show", "", nil, body); resp.StatusCode != 400 {
			t.Fatalf("show %s: %d %s", body, resp.StatusCode, raw)
		}
	}
	if resp, raw := send(t, "POST", d.URL+"/", "", nil, `{}`); resp.StatusCode != 404 {
		t.Fatalf("POST /: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := send(t, "POST", d.URL+"/v1/embeddings", "", nil, `{"model":"local","input":"x"}`); resp.StatusCode != 501 {
		t.Fatalf("embeddings without an embedder: %d %s", resp.StatusCode, raw)
	}
}

// TestOllamaEmbedEmptyInput: as Ollama, an empty string or array is no
// input and gets no vectors; the legacy route's empty prompt an empty
// embedding.
func TestOllamaEmbedEmptyInput(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(c *httpapi.ServerConfig) { c.Embedder = &mock.Embedder{} }})
	for _, tc := range []struct{ path, body, want string }{
		{"/api/embed", `{"model":"local","input":""}`, `"embeddings":[]`},
		{"/api/embed", `{"model":"local","input":[]}`, `"embeddings":[]`},
		{"/api/embeddings", `{"model":"local","prompt":""}`, `{"embedding":[]}`},
	} {
		resp, raw := send(t, "POST", d.URL+tc.path, "", nil, tc.body)
		if resp.StatusCode != 200 || !strings.Contains(string(raw), tc.want) {
			t.Fatalf("%s %s: %d %s", tc.path, tc.body, resp.StatusCode, raw)
		}
	}
}
