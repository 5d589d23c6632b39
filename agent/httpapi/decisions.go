package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"io"
)

// DecisionLog stores decisions (agent/decisionlog implements it).
type DecisionLog interface {
	Append(e decisionlog.Entry)
	Tail(ctx context.Context, n int) ([]decisionlog.Entry, error)
	Export(ctx context.Context, w io.Writer) (int, error)
	// WriteErr is the error of the last write, nil when it succeeded.
	WriteErr() error
	// Label labels the decision of response id (feedback.go).
	Label(ctx context.Context, id string, lb decisionlog.Label, replace bool) (decisionlog.Entry, bool, error)
}

// entry is the decision log's record of one answer. The prompt is kept as a
// hash unless content logging is on.
func (s *Server) entry(policy cascade.Policy, req cascade.Request, res *cascade.Result) decisionlog.Entry {
	d := res.Decision
	h := sha256.New()
	for _, m := range req.Messages {
		h.Write([]byte(m.Role))
		h.Write([]byte{0})
		h.Write([]byte(m.Content))
		h.Write([]byte{0})
	}
	e := decisionlog.Entry{
		Time: s.now().UTC(), ID: d.ID, Group: d.Group, Policy: string(policy), Route: d.Route, Escalated: d.Escalated, Scorer: d.Scorer,
		Score: d.Score, Confidence: d.Confidence, Threshold: d.Threshold, Reason: d.Reason,
		LocalModel: d.LocalModel, CloudModel: d.CloudModel, CloudProvider: d.CloudProvider,
		LocalMS: float64(res.LocalLatency.Microseconds()) / 1000, LocalJ: res.LocalEnergy, CloudMS: float64(res.CloudLatency.Microseconds()) / 1000,
		PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens, Cost: res.Cost,
		PromptHash: hex.EncodeToString(h.Sum(nil)), DeferredID: d.DeferredID, User: req.User,
	}
	if e.Cloud = d.FromCloud(); !e.Cloud {
		e.CloudModel = ""
	}
	if lb := res.Label; lb != nil {
		e.Label = &decisionlog.Label{Correct: lb.Correct, Source: lb.Source, Weight: lb.Weight, Time: e.Time}
	}
	if s.cfg.LogContent && len(req.Messages) > 0 {
		e.Prompt = req.Messages[len(req.Messages)-1].Content
		e.Answer = res.Content
	}
	return e
}

func (s *Server) decisionsOff(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Decisions == nil {
		s.notFound(w, r, "the decision log is off")
		return true
	}
	return false
}

func (s *Server) handleDecisions(w http.ResponseWriter, r *http.Request) {
	if s.decisionsOff(w, r) {
		return
	}
	n := 20
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 100000 {
			s.writeError(w, r, &BadRequestError{Msg: "n must be an integer between 1 and 100000", Param: "n"})
			return
		}
	}
	entries, err := s.cfg.Decisions.Tail(r.Context(), n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"object": "list", "data": entries})
}

func (s *Server) handleDecisionsExport(w http.ResponseWriter, r *http.Request) {
	if s.decisionsOff(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if _, err := s.cfg.Decisions.Export(r.Context(), w); err != nil {
		noteError(r.Context(), fmt.Errorf("decision export: %w", err))
	}
}
