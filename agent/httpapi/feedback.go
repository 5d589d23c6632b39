package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
)

// POST /v1/cascade/feedback: the user says whether an answer was right
// (desktop apps wire thumbs up/down to it). The label is kept with the
// decision in the decision log and, when adaptation is on, feeds the online
// threshold (ServerConfig.Labels).

// feedbackRequest is the body: {"id", "correct", "replace"?}.
type feedbackRequest struct {
	ID      *string `json:"id"`
	Correct *bool   `json:"correct"`
	Replace bool    `json:"replace"`
}

// LabelSink receives every new label with the decision it labels (the
// online threshold of uq/adapt implements it through the daemon).
type LabelSink interface {
	Observe(e decisionlog.Entry)
}

// decodeFeedback validates a feedback body; the error is a *BadRequestError
// naming the field.
func decodeFeedback(body []byte) (feedbackRequest, error) {
	var fr feedbackRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && ute.Field != "":
			return fr, &BadRequestError{Msg: fmt.Sprintf("%s has the wrong type (%s expected)", ute.Field, ute.Type), Param: ute.Field}
		case bytes.HasPrefix([]byte(err.Error()), []byte("json: unknown field ")):
			f := string(bytes.Trim([]byte(err.Error())[len("json: unknown field "):], `"`))
			return fr, &BadRequestError{Msg: fmt.Sprintf("field %s is not supported: send id, correct and optionally replace", f), Param: f}
		}
		return fr, &BadRequestError{Msg: "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return fr, &BadRequestError{Msg: "malformed JSON: more than one value"}
	}
	switch {
	case fr.ID == nil || *fr.ID == "":
		return fr, &BadRequestError{Msg: "missing id: the response's id (a chat completion's id, an Ollama response's cascade.id)", Param: "id"}
	case len(*fr.ID) > 200:
		return fr, &BadRequestError{Msg: "id is too long to be a response id", Param: "id"}
	case fr.Correct == nil:
		return fr, &BadRequestError{Msg: "missing correct: true or false", Param: "correct"}
	}
	return fr, nil
}

func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request) {
	if s.decisionsOff(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, &BadRequestError{Msg: "could not read the request body: " + err.Error()})
		return
	}
	fr, err := decodeFeedback(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lb := decisionlog.Label{Correct: *fr.Correct, Source: decisionlog.SourceFeedback, Weight: 1, Time: s.now().UTC()}
	e, changed, err := s.cfg.Decisions.Label(r.Context(), *fr.ID, lb, fr.Replace)
	var ce *decisionlog.ConflictError
	switch {
	case errors.Is(err, decisionlog.ErrUnknownID):
		s.notFound(w, r, fmt.Sprintf("no decision with id %q in the decision log (never answered, or trimmed by log.max_age / log.max_entries)", *fr.ID))
		return
	case errors.As(err, &ce):
		s.writeJSON(w, r, http.StatusConflict, apiError{Error: apiErrorBody{Message: ce.Error(), Type: "invalid_request_error", Code: "label_conflict"}})
		return
	case err != nil:
		s.writeError(w, r, fmt.Errorf("label decision %s: %w", *fr.ID, err))
		return
	}
	if changed && s.cfg.Labels != nil {
		s.cfg.Labels.Observe(e)
	}
	w.WriteHeader(http.StatusNoContent)
}
