package httpapi

import (
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models"
)

// Discovery: what Ollama and OpenAI clients ask before anything else.
// HEAD and GET / ("Ollama is running"), POST /api/show, GET /api/ps and
// GET /v1/models/{id}.

// ollamaRunning is Ollama's answer at /.
const ollamaRunning = "Ollama is running"

// handleRoot answers / as Ollama does, so that clients probing for an
// Ollama find the daemon. A browser (Accept: text/html) gets the dashboard
// (serveBrowserRoot).
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	if acceptsHTML(r) {
		s.serveBrowserRoot(w, r)
		return
	}
	writeRunning(w)
}

func writeRunning(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(ollamaRunning))
}

// acceptsHTML reports whether the request's Accept names text/html.
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/html" {
			return true
		}
	}
	return false
}

// offeredCapabilities are the capabilities (Ollama's words) the daemon
// serves through a model: a local model's own capabilities are shown only
// when they are in this set. Insert joins it when the daemon passes it
// through.
var offeredCapabilities = map[string]bool{string(model.CapabilityCompletion): true, string(model.CapabilityEmbedding): true,
	string(model.CapabilityTools): true, string(model.CapabilityVision): true}

// cloudCapabilities are what the daemon offers through the cloud model:
// both providers take tools and images (the cloud model itself may not).
func cloudCapabilities() []string {
	return []string{string(model.CapabilityCompletion), string(model.CapabilityTools), string(model.CapabilityVision)}
}

// describer is the local backend's describer, or nil.
func (s *Server) describer() models.Describer {
	if s.cfg.Describer != nil {
		return s.cfg.Describer
	}
	d, _ := s.cascade.Local().(models.Describer)
	return d
}

// describeLocal describes the local model: the backend's description, else
// its name, its context length when known, completion and the capabilities
// it reports (models.Capabler).
func (s *Server) describeLocal(r *http.Request) (*models.Description, error) {
	if d := s.describer(); d != nil {
		return d.Describe(r.Context(), "")
	}
	desc := &models.Description{Model: s.cascade.Local().Name(), Capabilities: []string{string(model.CapabilityCompletion)}}
	if cb, ok := s.cascade.Local().(models.Capabler); ok {
		if caps, err := cb.Capabilities(r.Context()); err == nil {
			for _, c := range caps {
				if !slices.Contains(desc.Capabilities, c) {
					desc.Capabilities = append(desc.Capabilities, c)
				}
			}
		}
	}
	if cs, ok := s.cascade.Local().(models.ContextSizer); ok {
		if n, err := cs.ContextLength(r.Context()); err == nil {
			desc.ContextLength = n
		}
	}
	return desc, nil
}

// offered filters the local model's capabilities to those the daemon
// offers.
func offered(caps []string) []string {
	var out []string
	for _, c := range caps {
		if offeredCapabilities[c] {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) handleOllamaShow(w http.ResponseWriter, r *http.Request) {
	var sr api.ShowRequest
	err := s.readStrict(w, r, &sr)
	name := sr.Model
	if name == "" {
		name = sr.Name
	}
	var policy cascade.Policy
	if err == nil {
		switch {
		case sr.Verbose:
			err = &BadRequestError{Msg: "verbose is not supported", Param: "verbose"}
		case sr.System != "":
			err = &BadRequestError{Msg: "system is not supported", Param: "system"}
		case sr.Template != "":
			err = &BadRequestError{Msg: "template is not supported", Param: "template"}
		case len(sr.Options) > 0:
			err = &BadRequestError{Msg: "options is not supported", Param: "options"}
		}
	}
	if err == nil {
		policy, err = ollamaPolicy(name)
	}
	if err != nil {
		s.writeOllamaError(w, r, err)
		return
	}
	cloudModel := s.cascade.Cloud().Model()
	if policy == cascade.PolicyCloud {
		s.writeJSON(w, r, http.StatusOK, api.ShowResponse{
			Details:      api.ModelDetails{ParentModel: cloudModel, Family: "cloud"},
			RemoteModel:  cloudModel,
			RemoteHost:   s.cfg.CloudURL,
			ModelInfo:    map[string]any{"general.architecture": "cloud", "general.name": cloudModel},
			Capabilities: capabilities(cloudCapabilities()),
		})
		return
	}
	desc, err := s.describeLocal(r)
	if err != nil {
		s.writeOllamaError(w, r, err)
		return
	}
	info := maps.Clone(desc.ModelInfo)
	if info == nil {
		info = map[string]any{}
	}
	arch, _ := info["general.architecture"].(string)
	if arch == "" {
		arch = "local"
		info["general.architecture"] = arch
	}
	if desc.ContextLength > 0 {
		// The context the daemon runs the model with (num_ctx, else
		// Ollama's default capped at the trained length): what a client
		// must fit its prompt into.
		info[arch+".context_length"] = desc.ContextLength
	}
	caps := offered(desc.Capabilities)
	if policy == cascade.PolicyAuto {
		for _, c := range cloudCapabilities() {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	s.writeJSON(w, r, http.StatusOK, api.ShowResponse{
		Details: api.ModelDetails{ParentModel: desc.Model, Format: desc.Format, Family: desc.Family, Families: desc.Families,
			ParameterSize: desc.ParameterSize, QuantizationLevel: desc.QuantizationLevel},
		Parameters: desc.Parameters, Template: desc.Template, ModelInfo: info,
		Capabilities: capabilities(caps), ModifiedAt: desc.ModifiedAt,
	})
}

func capabilities(cs []string) []model.Capability {
	out := make([]model.Capability, len(cs))
	for i, c := range cs {
		out[i] = model.Capability(c)
	}
	return out
}

// handleOllamaPS lists what the local backend holds in memory of the local
// model (named local) and of the embed model (named as configured): from
// the backend's own list where it has one (Ollama's /api/ps), else the
// local model while the backend answers.
func (s *Server) handleOllamaPS(w http.ResponseWriter, r *http.Request) {
	out := api.ProcessResponse{Models: []api.ProcessModelResponse{}}
	local, embed := s.cascade.Local().Name(), s.embedModel()
	d := s.describer()
	if d == nil {
		if err := s.cascade.Local().Ping(r.Context()); err == nil {
			desc, _ := s.describeLocal(r)
			out.Models = append(out.Models, api.ProcessModelResponse{Name: string(cascade.PolicyLocal), Model: local, ContextLength: desc.ContextLength})
		}
		s.writeJSON(w, r, http.StatusOK, out)
		return
	}
	loaded, err := d.Loaded(r.Context())
	if err != nil {
		s.writeOllamaError(w, r, err)
		return
	}
	for _, m := range loaded {
		var name string
		switch {
		case sameModel(m.Model, local):
			name = string(cascade.PolicyLocal)
		case sameModel(m.Model, embed):
			name = embed
		default:
			continue // another model of the backend: not served here
		}
		out.Models = append(out.Models, api.ProcessModelResponse{
			Name: name, Model: m.Model, Size: m.Size, SizeVRAM: m.SizeVRAM, Digest: m.Digest, ExpiresAt: m.ExpiresAt,
			ContextLength: m.ContextLength,
			Details: api.ModelDetails{ParentModel: m.ParentModel, Format: m.Format, Family: m.Family, Families: m.Families,
				ParameterSize: m.ParameterSize, QuantizationLevel: m.QuantizationLevel},
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// modelDescription is what /v1/models says of a policy.
func (s *Server) modelDescription(p cascade.Policy) string {
	local, cloudModel := s.cascade.Local().Name(), s.cascade.Cloud().Model()
	switch p {
	case cascade.PolicyAuto:
		return "cascade: local model " + local + ", escalating to " + cloudModel + " when not confident"
	case cascade.PolicyLocal:
		return "local model " + local + " only; never leaves the device"
	default:
		return "cloud model " + cloudModel + " only"
	}
}

// handleModel is GET /v1/models/{id}: auto, local and cloud; 404 in
// OpenAI's shape for anything else.
func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	p, err := cascade.ParsePolicy(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, modelInfo{ID: string(p), Object: "model", OwnedBy: "edgecascade", Description: s.modelDescription(p)})
}
