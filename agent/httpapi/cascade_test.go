package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Questions from the test bed (testdata/testbed/data/val.jsonl): one the
// weak model answers right and confidently (fzmr), and a mix of ones it gets
// right and wrong.
const easyQuestion = "Spell rmzf backwards."

var mixedQuestions = []string{
	"Spell rmzf backwards.",
	"What is the capital of Osninax?",
	"What is 4721 + 3389?",
	"Which city is the capital of Umyunqua?",
}

func TestConfidentAnswerStaysLocal(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5})
	resp, c := ask(t, d, "auto", easyQuestion)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %+v", resp.StatusCode, c.Error)
	}
	if got := c.Choices[0].Message.Content; got != fakeLocalAnswer {
		t.Fatalf("answer %q, want %q", got, fakeLocalAnswer)
	}
	cs := c.Cascade
	if cs == nil || cs.Route != "local" || cs.Escalated || cs.Confidence == nil || *cs.Confidence < 0.5 {
		t.Fatalf("cascade = %+v, want local with confidence >= 0.5", cs)
	}
	if cs.Scorer != "mean_logprob" || cs.LocalModel != fakeLocalName || cs.CloudModel != fakeCloudName || cs.Threshold != 0.5 || cs.Reason == "" {
		t.Fatalf("cascade fields incomplete: %+v", cs)
	}
	if resp.Header.Get("X-Cascade-Route") != "local" {
		t.Fatalf("X-Cascade-Route = %q", resp.Header.Get("X-Cascade-Route"))
	}
	h, err := strconv.ParseFloat(resp.Header.Get("X-Cascade-Confidence"), 64)
	if err != nil || h < 0.5 || h > 1 {
		t.Fatalf("X-Cascade-Confidence = %q", resp.Header.Get("X-Cascade-Confidence"))
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("cloud called %d times for a confident local answer", n)
	}
}

func TestThresholdAboveEveryScoreEscalatesAll(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 1.01})
	for _, q := range mixedQuestions {
		resp, c := ask(t, d, "auto", q)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: status %d: %+v", q, resp.StatusCode, c.Error)
		}
		if c.Cascade.Route != "cloud" || !c.Cascade.Escalated || c.Cascade.Confidence == nil {
			t.Fatalf("%q: cascade = %+v, want escalated to cloud with the local confidence", q, c.Cascade)
		}
		if want := fakeCloudAnswer; c.Choices[0].Message.Content != want {
			t.Fatalf("%q: answer %q, want the cloud's %q", q, c.Choices[0].Message.Content, want)
		}
		if resp.Header.Get("X-Cascade-Route") != "cloud" {
			t.Fatalf("header route %q", resp.Header.Get("X-Cascade-Route"))
		}
	}
	if n := d.cloudCalls(); n != int64(len(mixedQuestions)) {
		t.Fatalf("cloud called %d times, want %d", n, len(mixedQuestions))
	}
}

func TestLocalPolicyNeverCallsCloud(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 1.01}) // would escalate everything under auto
	for _, q := range mixedQuestions {
		for _, stream := range []bool{false, true} {
			var route, answer string
			if stream {
				sr := streamChat(t, d, "local", q)
				route, answer = sr.cascade.Route, sr.content
			} else {
				resp, c := ask(t, d, "local", q)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				route, answer = c.Cascade.Route, c.Choices[0].Message.Content
			}
			if route != "local" {
				t.Fatalf("local policy routed %s", route)
			}
			if want := fakeLocalAnswer; answer != want {
				t.Fatalf("local answer %q, want the local model's %q", answer, want)
			}
		}
	}
	if n := d.cloudCalls(); n != 0 {
		t.Fatalf("policy local called the cloud %d times", n)
	}
}

func TestCloudPolicy(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0})
	resp, c := ask(t, d, "cloud", easyQuestion)
	if resp.StatusCode != http.StatusOK || c.Cascade.Route != "cloud" || c.Cascade.Confidence != nil {
		t.Fatalf("status %d cascade %+v", resp.StatusCode, c.Cascade)
	}
	if want := fakeCloudAnswer; c.Choices[0].Message.Content != want {
		t.Fatalf("answer %q, want %q", c.Choices[0].Message.Content, want)
	}
}

type streamResult struct {
	status  int
	header  http.Header
	cascade *cascadeObj // from the first chunk
	final   *cascadeObj // from the last chunk, when present
	content string
	done    bool
	chunks  int
	errBody string
}

func streamChat(t *testing.T, d *daemon, model, q string) streamResult {
	t.Helper()
	body, _ := json.Marshal(chatBody(model, q, true))
	resp, err := http.Post(d.URL+"/v1/chat/completions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sr := streamResult{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		sr.errBody = string(b)
		return sr
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if data == "[DONE]" {
			sr.done = true
			continue
		}
		var ch struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Cascade *cascadeObj     `json:"cascade"`
			Error   json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		if ch.Error != nil {
			sr.errBody = string(ch.Error)
		}
		if ch.Cascade != nil {
			if sr.chunks == 0 {
				sr.cascade = ch.Cascade
			} else {
				sr.final = ch.Cascade
			}
		}
		for _, c := range ch.Choices {
			sr.content += c.Delta.Content
		}
		sr.chunks++
	}
	return sr
}

func TestStreamingMatchesNonStreaming(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold float64
		model     string
	}{
		{"auto-local", 0, "auto"},
		{"auto-escalated", 1.01, "auto"},
		{"local", 0.5, "local"},
		{"cloud", 0.5, "cloud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, daemonOpts{threshold: tc.threshold})
			for _, q := range mixedQuestions {
				_, c := ask(t, d, tc.model, q)
				sr := streamChat(t, d, tc.model, q)
				if sr.status != http.StatusOK || !sr.done || sr.errBody != "" {
					t.Fatalf("%q: stream status %d done %v err %s", q, sr.status, sr.done, sr.errBody)
				}
				if sr.content != c.Choices[0].Message.Content {
					t.Fatalf("%q: stream %q != non-stream %q", q, sr.content, c.Choices[0].Message.Content)
				}
				if sr.cascade == nil || sr.cascade.Route != c.Cascade.Route {
					t.Fatalf("%q: first chunk cascade %+v, non-stream %+v", q, sr.cascade, c.Cascade)
				}
				if sr.header.Get("X-Cascade-Route") != c.Cascade.Route {
					t.Fatalf("%q: stream header route %q", q, sr.header.Get("X-Cascade-Route"))
				}
				if tc.model == "auto" && (sr.cascade.Confidence == nil || *sr.cascade.Confidence != *c.Cascade.Confidence) {
					t.Fatalf("%q: auto stream confidence %v != %v", q, sr.cascade.Confidence, c.Cascade.Confidence)
				}
				if tc.model == "local" && (sr.final == nil || sr.final.Confidence == nil) {
					t.Fatalf("%q: live local stream must carry the score on its last chunk", q)
				}
			}
		})
	}
}
