package httpapi_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgecascade/edgecascade/agent/decisionlog"
	"github.com/edgecascade/edgecascade/agent/httpapi"
)

// labelSink records the labels the feedback route passes on.
type labelSink struct {
	mu  sync.Mutex
	got []decisionlog.Entry
}

func (s *labelSink) Observe(e decisionlog.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, e)
}

func (s *labelSink) entries() []decisionlog.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]decisionlog.Entry(nil), s.got...)
}

func feedbackDaemon(t *testing.T) (*daemon, *labelSink) {
	t.Helper()
	l, err := decisionlog.Open(filepath.Join(t.TempDir(), "decisions.db"), decisionlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	sink := &labelSink{}
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, server: func(sc *httpapi.ServerConfig) { sc.Decisions, sc.Labels = l, sink }})
	return d, sink
}

// Both APIs return the id that the decision log keeps: the chat
// completion's id (and its cascade.id, and X-Cascade-Id), the Ollama
// response's cascade.id.
func TestResponseIDsAreLogged(t *testing.T) {
	d, _ := feedbackDaemon(t)
	resp, raw := post(t, d.URL+"/v1/chat/completions", chatBody("auto", "hi", false))
	var oa struct {
		ID      string `json:"id"`
		Cascade struct {
			ID string `json:"id"`
		} `json:"cascade"`
	}
	if err := json.Unmarshal(raw, &oa); err != nil {
		t.Fatal(err)
	}
	if oa.ID == "" || oa.Cascade.ID != oa.ID || resp.Header.Get("X-Cascade-Id") != oa.ID {
		t.Fatalf("id %q, cascade.id %q, header %q", oa.ID, oa.Cascade.ID, resp.Header.Get("X-Cascade-Id"))
	}
	_, raw = post(t, d.URL+"/api/chat", map[string]any{"model": "auto", "stream": false, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
	var ol struct {
		Cascade struct {
			ID string `json:"id"`
		} `json:"cascade"`
	}
	if err := json.Unmarshal(raw, &ol); err != nil {
		t.Fatal(err)
	}
	if ol.Cascade.ID == "" || ol.Cascade.ID == oa.ID {
		t.Fatalf("ollama cascade.id %q (openai %q)", ol.Cascade.ID, oa.ID)
	}
	// A legacy completion's id is logged too, streamed or not, and the
	// group of its cascade field kept.
	resp, raw = post(t, d.URL+"/v1/completions", map[string]any{"model": "auto", "prompt": "hi", "cascade": map[string]any{"group": "g1"}})
	var cmpl struct {
		ID      string `json:"id"`
		Cascade struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		} `json:"cascade"`
	}
	if err := json.Unmarshal(raw, &cmpl); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cmpl.ID, "cmpl-") || cmpl.Cascade.ID != cmpl.ID || resp.Header.Get("X-Cascade-Id") != cmpl.ID || cmpl.Cascade.Group != "g1" {
		t.Fatalf("completion id %q, cascade %+v, header %q", cmpl.ID, cmpl.Cascade, resp.Header.Get("X-Cascade-Id"))
	}
	resp, raw = post(t, d.URL+"/v1/completions", map[string]any{"model": "auto", "prompt": "hi", "stream": true})
	streamID := resp.Header.Get("X-Cascade-Id")
	if !strings.HasPrefix(streamID, "cmpl-") || !strings.Contains(string(raw), `"id":"`+streamID+`"`) {
		t.Fatalf("streamed completion: header id %q, body %s", streamID, raw)
	}
	for _, id := range []string{oa.ID, ol.Cascade.ID, cmpl.ID, streamID} {
		if r, body := post(t, d.URL+"/v1/cascade/feedback", map[string]any{"id": id, "correct": true}); r.StatusCode != http.StatusNoContent {
			t.Fatalf("feedback on %s: %d %s", id, r.StatusCode, body)
		}
	}
}

func TestFeedback(t *testing.T) {
	d, sink := feedbackDaemon(t)
	_, raw := post(t, d.URL+"/v1/chat/completions", chatBody("auto", "hi", false))
	var got struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &got); err != nil || got.ID == "" {
		t.Fatalf("no id in %s", raw)
	}
	id := got.ID
	fb := func(body any) (int, string) {
		r, b := post(t, d.URL+"/v1/cascade/feedback", body)
		return r.StatusCode, string(b)
	}
	tests := []struct {
		name  string
		body  any
		want  int
		param string // for 400s
	}{
		{"first label", map[string]any{"id": id, "correct": false}, 204, ""},
		{"same again", map[string]any{"id": id, "correct": false}, 204, ""},
		{"opposite", map[string]any{"id": id, "correct": true}, 409, ""},
		{"opposite, replace", map[string]any{"id": id, "correct": true, "replace": true}, 204, ""},
		{"unknown id", map[string]any{"id": "chatcmpl-nope", "correct": true}, 404, ""},
		{"no id", map[string]any{"correct": true}, 400, "id"},
		{"empty id", map[string]any{"id": "", "correct": true}, 400, "id"},
		{"no correct", map[string]any{"id": id}, 400, "correct"},
		{"correct not a bool", map[string]any{"id": id, "correct": "yes"}, 400, "correct"},
		{"id not a string", map[string]any{"id": 7, "correct": true}, 400, "id"},
		{"unknown field", map[string]any{"id": id, "correct": true, "stars": 5}, 400, "stars"},
		{"not JSON", "{", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := fb(tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if tt.param != "" && !strings.Contains(body, `"param":"`+tt.param+`"`) {
				t.Fatalf("the error does not name %s: %s", tt.param, body)
			}
		})
	}
	// The sink saw the two changes (first label, replacement), not the
	// repeat or the refused ones.
	es := sink.entries()
	if len(es) != 2 || es[0].Label.Correct || !es[1].Label.Correct || es[1].ID != id || es[1].Label.Source != decisionlog.SourceFeedback || es[1].Score == nil {
		t.Fatalf("sink got %+v", es)
	}
	// The log keeps the label with the decision.
	r, err := http.Get(d.URL + "/v1/cascade/decisions?n=5")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var list struct {
		Data []decisionlog.Entry `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range list.Data {
		if e.ID == id {
			found = e.Label != nil && e.Label.Correct && e.Label.Weight == 1
		}
	}
	if !found {
		t.Fatalf("label not in the log: %+v", list.Data)
	}
}

func TestFeedbackWithoutLog(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	if r, b := post(t, d.URL+"/v1/cascade/feedback", map[string]any{"id": "x", "correct": true}); r.StatusCode != 404 {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
}

func TestGroupKey(t *testing.T) {
	d, _ := feedbackDaemon(t)
	for _, tt := range []struct {
		name   string
		header string
		body   string
		want   int
		group  string
	}{
		{"header", "capitals", "", 200, "capitals"},
		{"body", "", "arith", 200, "arith"},
		{"header wins", "capitals", "arith", 200, "capitals"},
		{"bad header", "no spaces", "", 400, ""},
		{"bad body", "", strings.Repeat("x", 65), 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := chatBody("auto", "hi", false)
			if tt.body != "" {
				b["cascade"] = map[string]any{"group": tt.body}
			}
			buf, _ := json.Marshal(b)
			req, _ := http.NewRequest("POST", d.URL+"/v1/chat/completions", strings.NewReader(string(buf)))
			req.Header.Set("Content-Type", "application/json")
			if tt.header != "" {
				req.Header.Set("X-Cascade-Group", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var c struct {
				Cascade struct {
					Group string `json:"group"`
				} `json:"cascade"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&c)
			if resp.StatusCode != tt.want || c.Cascade.Group != tt.group {
				t.Fatalf("status %d group %q, want %d %q", resp.StatusCode, c.Cascade.Group, tt.want, tt.group)
			}
		})
	}
}
