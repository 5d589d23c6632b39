package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models"
)

// Embeddings: POST /v1/embeddings (OpenAI), POST /api/embed and the legacy
// POST /api/embeddings (Ollama). They are answered by the local backend
// with ServerConfig.EmbedModel and never by the cloud: the model field
// names auto, local or the embed model itself; cloud is refused.

// maxEmbedInputs bounds the inputs of one request (OpenAI's limit).
const maxEmbedInputs = 2048

// embedder is the local backend's embedder: ServerConfig.Embedder, else the
// cascade's local model when it computes embeddings.
func (s *Server) embedder() models.Embedder {
	if s.cfg.Embedder != nil {
		return s.cfg.Embedder
	}
	e, _ := s.cascade.Local().(models.Embedder)
	return e
}

// embedModel is the backend's model for embeddings.
func (s *Server) embedModel() string {
	if s.cfg.EmbedModel != "" {
		return s.cfg.EmbedModel
	}
	return s.cascade.Local().Name()
}

// errNoEmbedder is the answer when the local backend computes no embeddings.
type noEmbedderError struct{ backend string }

func (e *noEmbedderError) Error() string {
	return fmt.Sprintf("the local backend %s computes no embeddings (use local.backend ollama or llamacpp-server)", e.backend)
}

// embedModelError is a model an embeddings request may not name.
type embedModelError struct {
	model, embed string
	cloud        bool
}

func (e *embedModelError) Error() string {
	if e.cloud {
		return fmt.Sprintf("model %q: embeddings are computed on the device only (use local, auto or %s)", e.model, e.embed)
	}
	return fmt.Sprintf("model %q does not exist: embeddings use local, auto or %s", e.model, e.embed)
}

// checkEmbedModel accepts auto, local and the embed model (with or without
// :latest); cloud is a 400, anything else a 404. The X-Cascade-Policy
// header may say auto or local; cloud there is a 400 naming it.
func (s *Server) checkEmbedModel(h http.Header, model string) error {
	embed := s.embedModel()
	if p, err := policyFromHeader(h, cascade.PolicyAuto); err != nil {
		return err
	} else if p == cascade.PolicyCloud {
		return &BadRequestError{Msg: fmt.Sprintf("header %s: cloud: embeddings are computed on the device only", PolicyHeader), Param: PolicyHeader}
	}
	switch {
	case model == "":
		return &BadRequestError{Msg: "missing model: use local, auto or " + embed, Param: "model"}
	case model == string(cascade.PolicyCloud) || model == "cloud:latest":
		return &embedModelError{model: model, embed: embed, cloud: true}
	case model == string(cascade.PolicyLocal), model == string(cascade.PolicyAuto),
		strings.TrimSuffix(model, ":latest") == string(cascade.PolicyLocal), strings.TrimSuffix(model, ":latest") == string(cascade.PolicyAuto),
		sameModel(model, embed):
		return nil
	}
	return &embedModelError{model: model, embed: embed}
}

// sameModel reports whether Ollama names a and b the same model (a missing
// tag is :latest).
func sameModel(a, b string) bool {
	tag := func(s string) string {
		if !strings.Contains(s[strings.LastIndex(s, "/")+1:], ":") {
			return s + ":latest"
		}
		return s
	}
	return tag(a) == tag(b)
}

// embedStatus is the status and OpenAI body of an embeddings error.
func embedStatus(err error) (int, apiError) {
	var ne *noEmbedderError
	var me *embedModelError
	switch {
	case errors.As(err, &ne):
		return http.StatusNotImplemented, apiError{Error: apiErrorBody{Message: err.Error(), Type: "invalid_request_error", Code: "embeddings_unsupported"}}
	case errors.As(err, &me):
		p := "model"
		if me.cloud {
			return http.StatusBadRequest, apiError{Error: apiErrorBody{Message: err.Error(), Type: "invalid_request_error", Code: "invalid_request", Param: &p}}
		}
		return http.StatusNotFound, apiError{Error: apiErrorBody{Message: err.Error(), Type: "invalid_request_error", Code: "model_not_found", Param: &p}}
	}
	return statusOf(err)
}

func (s *Server) writeEmbedError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := embedStatus(err)
	setErrorHeaders(w.Header(), err)
	noteError(r.Context(), err)
	if ollamaPath(r.URL.Path) {
		if status == 499 {
			status = http.StatusBadRequest
		}
		s.writeJSON(w, r, status, map[string]string{"error": body.Error.Message})
		return
	}
	s.writeJSON(w, r, status, body)
}

// readStrict reads a body within the size limit and decodes it into v,
// refusing unknown fields by name.
func (s *Server) readStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readOllama(w, r)
	if err != nil {
		return err
	}
	return decodeBody(body, v, true)
}

// embedInput reads input: a string or an array of strings. Token arrays
// (an array of integers, or of arrays of integers) are refused.
func embedInput(raw json.RawMessage, allowEmpty bool) ([]string, error) {
	bad := func(msg string) error { return &BadRequestError{Msg: msg, Param: "input"} }
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, bad("missing input: a string or an array of strings")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		switch {
		case one != "":
			return []string{one}, nil
		case allowEmpty: // Ollama: an empty string is no input
			return []string{}, nil
		}
		return nil, bad("input must not be an empty string")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, bad("input must be a string or an array of strings")
	}
	if len(items) == 0 && !allowEmpty {
		return nil, bad("input must not be an empty array")
	}
	if len(items) > maxEmbedInputs {
		return nil, bad(fmt.Sprintf("input has %d items, at most %d", len(items), maxEmbedInputs))
	}
	out := make([]string, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			if t := bytes.TrimSpace(it); len(t) > 0 && (t[0] == '[' || t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
				return nil, bad("input: token arrays are not supported; send text")
			}
			return nil, bad(fmt.Sprintf("input[%d] must be a string", i))
		}
		if out[i] == "" && !allowEmpty {
			return nil, bad(fmt.Sprintf("input[%d] must not be an empty string", i))
		}
	}
	return out, nil
}

// shorten cuts each vector to dims values and L2-normalizes it again (as
// OpenAI's text-embedding-3 and Ollama's dimensions do); dims larger than
// the model's vectors is refused.
func shorten(vecs [][]float32, dims int, model string) error {
	for _, v := range vecs {
		if dims > len(v) {
			return &BadRequestError{Msg: fmt.Sprintf("dimensions %d is more than model %s gives (%d)", dims, model, len(v)), Param: "dimensions"}
		}
	}
	for i, v := range vecs {
		v = v[:dims]
		var sum float64
		for _, x := range v {
			sum += float64(x) * float64(x)
		}
		if n := math.Sqrt(sum); n > 0 {
			for j := range v {
				v[j] = float32(float64(v[j]) / n)
			}
		}
		vecs[i] = v
	}
	return nil
}

// embed runs req on the local backend.
func (s *Server) embed(r *http.Request, req models.EmbedRequest) (*models.Embeddings, error) {
	info(r.Context()).policy = cascade.PolicyLocal
	e := s.embedder()
	if e == nil {
		return nil, &noEmbedderError{backend: s.cfg.Backend}
	}
	req.Model = s.embedModel()
	return e.Embed(r.Context(), req)
}

type openAIEmbeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	// User identifies the end user to OpenAI's abuse monitoring; it has no
	// effect on the vectors (there either), and is not stored.
	User *string `json:"user"`
}

type openAIEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type openAIEmbeddingsResponse struct {
	Object string            `json:"object"`
	Data   []openAIEmbedding `json:"data"`
	Model  string            `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	var er openAIEmbeddingsRequest
	err := s.readStrict(w, r, &er)
	var inputs []string
	if err == nil {
		err = s.checkEmbedModel(r.Header, er.Model)
	}
	if err == nil {
		inputs, err = embedInput(er.Input, false)
	}
	if err == nil {
		switch er.EncodingFormat {
		case "", "float", "base64":
		default:
			err = &BadRequestError{Msg: fmt.Sprintf("encoding_format must be float or base64, got %q", er.EncodingFormat), Param: "encoding_format"}
		}
	}
	if err == nil && er.Dimensions != nil && *er.Dimensions < 1 {
		err = &BadRequestError{Msg: fmt.Sprintf("dimensions must be at least 1, got %d", *er.Dimensions), Param: "dimensions"}
	}
	var res *models.Embeddings
	if err == nil {
		res, err = s.embed(r, models.EmbedRequest{Input: inputs})
	}
	if err == nil && er.Dimensions != nil {
		err = shorten(res.Vectors, *er.Dimensions, res.Model)
	}
	if err != nil {
		s.writeEmbedError(w, r, err)
		return
	}
	out := openAIEmbeddingsResponse{Object: "list", Model: er.Model, Data: make([]openAIEmbedding, len(res.Vectors))}
	for i, v := range res.Vectors {
		out.Data[i] = openAIEmbedding{Object: "embedding", Index: i, Embedding: v}
		if er.EncodingFormat == "base64" {
			b := make([]byte, 0, 4*len(v))
			for _, x := range v {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
			}
			out.Data[i].Embedding = base64.StdEncoding.EncodeToString(b)
		}
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = res.PromptTokens, res.PromptTokens
	s.writeJSON(w, r, http.StatusOK, out)
}

// ollamaEmbedRequest is api.EmbedRequest with input kept raw, so that its
// shape is checked here.
type ollamaEmbedRequest struct {
	api.EmbedRequest
	Input json.RawMessage `json:"input"`
}

func keepAlive(d *api.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.Duration
	return &v
}

func (s *Server) handleOllamaEmbed(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	var er ollamaEmbedRequest
	err := s.readStrict(w, r, &er)
	var inputs []string
	if err == nil {
		err = s.checkEmbedModel(r.Header, er.Model)
	}
	if err == nil {
		inputs, err = embedInput(er.Input, true)
	}
	if err == nil && er.Dimensions < 0 {
		err = &BadRequestError{Msg: fmt.Sprintf("dimensions must be at least 1, got %d", er.Dimensions), Param: "dimensions"}
	}
	var res *models.Embeddings
	if err == nil {
		res, err = s.embed(r, models.EmbedRequest{Input: inputs, Truncate: er.Truncate, Options: er.Options, KeepAlive: keepAlive(er.KeepAlive)})
	}
	if err == nil && er.Dimensions > 0 {
		err = shorten(res.Vectors, er.Dimensions, res.Model)
	}
	if err != nil {
		s.writeEmbedError(w, r, err)
		return
	}
	vecs := res.Vectors
	if vecs == nil {
		vecs = [][]float32{}
	}
	s.writeJSON(w, r, http.StatusOK, api.EmbedResponse{Model: er.Model, Embeddings: vecs, PromptEvalCount: res.PromptTokens, TotalDuration: s.now().Sub(start)})
}

func (s *Server) handleOllamaEmbeddings(w http.ResponseWriter, r *http.Request) {
	var er api.EmbeddingRequest
	err := s.readStrict(w, r, &er)
	if err == nil {
		err = s.checkEmbedModel(r.Header, er.Model)
	}
	if err != nil {
		s.writeEmbedError(w, r, err)
		return
	}
	out := api.EmbeddingResponse{Embedding: []float64{}}
	if er.Prompt == "" { // as Ollama: an empty prompt has an empty embedding
		s.writeJSON(w, r, http.StatusOK, out)
		return
	}
	res, err := s.embed(r, models.EmbedRequest{Input: []string{er.Prompt}, Raw: true, Options: er.Options, KeepAlive: keepAlive(er.KeepAlive)})
	if err == nil && len(res.Vectors) != 1 {
		err = fmt.Errorf("the local backend returned %d vectors for one prompt", len(res.Vectors))
	}
	if err != nil {
		s.writeEmbedError(w, r, err)
		return
	}
	for _, x := range res.Vectors[0] {
		out.Embedding = append(out.Embedding, float64(x))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
