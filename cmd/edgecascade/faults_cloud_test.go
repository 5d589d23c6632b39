package main

// Cloud faults. The cloud here is a fake (cloud/openai/openaitest): a paid
// API cannot be called in tests. The fake follows OpenAI's documented Chat
// Completions wire format, as cloud/openai expects it: POST /v1/chat/completions answers a JSON
// chat.completion object or, with "stream": true, Server-Sent Events of
// chat.completion.chunk objects ended by "data: [DONE]"; errors are
// {"error":{"message","type","param","code"}} with the HTTP status (429 with
// Retry-After); GET /v1/models lists one model. It listens on 127.0.0.1 only.
// Everything else is real: the `edgecascade serve` binary, and Ollama with
// the test bed's weak model as the local model.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
	"github.com/edgecascade/edgecascade/cloud/openai/openaitest"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

const (
	fakeCloudModel = "fake-gpt"
	fakeAnswer     = "Tupelo" // what the fake answers
	fakeCutAfter   = "Tu"     // what streams before a cut, a malformed chunk or a stall
)

// newFakeCloud is the OpenAI-compatible fake the cloud faults run against:
// it answers fakeAnswer in three pieces.
func newFakeCloud(t *testing.T) *openaitest.Server {
	return openaitest.New(t, openaitest.Config{Model: fakeCloudModel, Pieces: []string{fakeCutAfter, "pe", "lo"}})
}

// cloudDaemon is a daemon whose cloud is the fake (or a closed port).
type cloudDaemon struct {
	d    *daemonProc
	fake *openaitest.Server // nil for the closed port
}

func cloudEnv(s *ollamatest.Server, baseURL string) map[string]string {
	return map[string]string{
		"EDGECASCADE_LOCAL_URL":         s.URL,
		"EDGECASCADE_LOCAL_MODEL":       ollamatest.Weak,
		"EDGECASCADE_CLOUD_BASE_URL":    baseURL,
		"EDGECASCADE_CLOUD_MODEL":       fakeCloudModel,
		"EDGECASCADE_CLOUD_API_KEY":     "sk-fault-test",
		"EDGECASCADE_CLOUD_TIMEOUT":     "2s",
		"EDGECASCADE_CLOUD_MAX_RETRIES": "1",
		"EDGECASCADE_CASCADE_THRESHOLD": "1.01", // every auto answer escalates
		// Each row shows one fault's own effect: the circuit breaker, which
		// would open after a few failures, has rows of its own.
		"EDGECASCADE_CLOUD_BREAKER_FAILURES": "1000",
		// Deferred escalations are kept but not sent back to the fake during
		// these rows (the outbox rows show the drain).
		"EDGECASCADE_OUTBOX_DRAIN_RATE": "0.001",
	}
}

func (fx *faultFixtures) cloudDaemon(t *testing.T, refused bool) *cloudDaemon {
	s := needBed(t)
	key := "cloud-daemon"
	if refused {
		key = "cloud-daemon-refused"
	}
	return fx.get(key, func(pt *testing.T) any {
		if refused {
			return &cloudDaemon{d: startServe(pt, cloudEnv(s, cloudtest.RefusedURL(pt)+"/v1"))}
		}
		f := newFakeCloud(pt)
		return &cloudDaemon{d: startServe(pt, cloudEnv(s, f.BaseURL())), fake: f}
	}).(*cloudDaemon)
}

// chatOutcome is what a client got for one chat request.
type chatOutcome struct {
	status  int
	header  http.Header
	body    []byte
	err     error    // transport error (connection closed, ...)
	deltas  []string // streamed content pieces
	events  []string // data payloads of a stream, [DONE] included
	content string
	cascade map[string]any
	errBody map[string]any // the OpenAI error object, in a body or in a stream event
}

// postChat sends a chat request with an easy test bed question and reads the
// whole answer (JSON or Server-Sent Events). It may run outside the test's
// goroutine: every failure goes into the outcome's err.
func postChat(t *testing.T, url, model string, stream bool) chatOutcome {
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"Spell rmzf backwards."}]}`, model, stream)
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return chatOutcome{err: err}
	}
	defer resp.Body.Close()
	o := chatOutcome{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			o.events = append(o.events, data)
			var ev struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
				Cascade map[string]any `json:"cascade"`
				Error   map[string]any `json:"error"`
			}
			if json.Unmarshal([]byte(data), &ev) != nil {
				continue
			}
			if ev.Error != nil {
				o.errBody = ev.Error
			}
			if ev.Cascade != nil {
				o.cascade = ev.Cascade
			}
			for _, c := range ev.Choices {
				if c.Delta.Content != "" {
					o.deltas = append(o.deltas, c.Delta.Content)
				}
			}
		}
		o.err = sc.Err()
		o.content = strings.Join(o.deltas, "")
		return o
	}
	o.body, o.err = io.ReadAll(resp.Body)
	var doc struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Cascade map[string]any `json:"cascade"`
		Error   map[string]any `json:"error"`
	}
	if err := json.Unmarshal(o.body, &doc); err != nil && o.err == nil {
		o.err = fmt.Errorf("status %d: body is not JSON: %w: %s", o.status, err, o.body)
	}
	if len(doc.Choices) > 0 {
		o.content = doc.Choices[0].Message.Content
	}
	o.cascade, o.errBody = doc.Cascade, doc.Error
	return o
}

func (o chatOutcome) done() bool {
	return len(o.events) > 0 && o.events[len(o.events)-1] == "[DONE]"
}

func (o chatOutcome) errText() string {
	if o.errBody == nil {
		return ""
	}
	return fmt.Sprintf("%v: %v", o.errBody["code"], o.errBody["message"])
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Request modes of the cloud cases.
const (
	modeAuto       = "policy-auto"
	modeCloud      = "policy-cloud"
	modeStream     = "stream"
	modeAutoStream = "auto-stream"
)

// cloudFault is one misbehaviour of the cloud, observed in each mode.
type cloudFault struct {
	key, fault string
	mode       openaitest.Fault
	refused    bool
	// frag must appear in the error the daemon reports (the reason under
	// auto, the error message otherwise).
	frag string
	// midStream: under "stream" the failure comes after text was streamed.
	midStream bool
	// ok: the cloud answers in the end (slow, or after a retry).
	ok bool
	// modes limits the request modes (default: all three).
	modes []string
}

func cloudFaults() []cloudFault {
	return []cloudFault{
		{key: "refused", fault: "cloud: connection refused (nothing listens on cloud.base_url)", refused: true, frag: "connection refused"},
		{key: "timeout", mode: openaitest.Fault{Hang: true}, fault: "cloud: accepts the request, never answers (past cloud.timeout)", frag: "timed out after 2s"},
		{key: "429", mode: openaitest.Fault{Status: 429, RetryAfter: "7"}, fault: "cloud: 429 with Retry-After: 7 (longer than the retry wait cap of cloud.timeout/2)", frag: "status 429"},
		{key: "429-then-ok", mode: openaitest.Fault{Status: 429, RetryAfter: "1", Times: 1}, fault: "cloud: 429 with Retry-After: 1 once, then answers", ok: true, modes: []string{modeCloud}},
		{key: "500", mode: openaitest.Fault{Status: 500}, fault: "cloud: 500 with an OpenAI error body, twice", frag: "status 500"},
		{key: "cut", mode: openaitest.Fault{Cut: true}, fault: "cloud: connection drops mid-response (no [DONE])", midStream: true},
		{key: "malformed", mode: openaitest.Fault{Malformed: true}, fault: "cloud: malformed JSON mid-response", midStream: true},
		{key: "slow", mode: openaitest.Fault{Gap: 150 * time.Millisecond}, fault: "cloud: streams slowly (150 ms between chunks), within cloud.timeout", ok: true},
		{key: "stall", mode: openaitest.Fault{Stall: true}, fault: "cloud: begins the answer, then stalls past cloud.timeout", frag: "timed out after 2s", midStream: true},
	}
}

func cloudFaultCases() []faultCase {
	expect := map[string]string{
		modeAuto:       "`auto`: 200, the local answer, the cloud's failure in `cascade.reason`; the escalation deferred to the outbox",
		modeCloud:      "`cloud`: 502 `cloud_error` in the OpenAI error shape naming the provider (and the status, when there was one)",
		modeStream:     "stream: the same error status before the stream begins",
		modeAutoStream: "`auto` stream: 200, the local answer streamed, the cloud's failure in `cascade.reason`; the escalation deferred to the outbox",
	}
	var out []faultCase
	for _, cf := range cloudFaults() {
		modes := cf.modes
		if modes == nil {
			modes = []string{modeAuto, modeCloud, modeStream, modeAutoStream}
		}
		for _, mode := range modes {
			e := expect[mode]
			switch {
			case cf.key == "429-then-ok":
				e = "`cloud`: retried after the Retry-After wait; 200 with the cloud's answer"
			case cf.ok && mode == modeAuto:
				e = "`auto`: 200 from the cloud (`route: cloud`)"
			case cf.ok && mode == modeAutoStream:
				e = "`auto` stream: 200 with the cloud's whole answer"
			case cf.ok:
				e = "`" + strings.TrimPrefix(mode, "policy-") + "`: 200 with the cloud's whole answer"
			case cf.key == "429" && mode == modeCloud:
				e = "`cloud`: 429 `cloud_rate_limited` in the OpenAI error shape naming the provider, with the cloud's Retry-After"
			case cf.key == "429" && mode == modeStream:
				e = "stream: the same 429 with Retry-After before the stream begins"
			case cf.midStream && mode == modeAutoStream:
				e = "`auto` stream: 200, the cloud's text streamed so far, then an error event, no `[DONE]` (too late to fall back)"
			case cf.midStream && mode == modeStream:
				e = "stream: 200, the text streamed so far, then an error event in the OpenAI error shape, no `[DONE]`"
			}
			cf, mode := cf, mode
			out = append(out, faultCase{
				name: "cloud/" + cf.key + "/" + mode, fault: cf.fault, expected: e,
				run: func(t *testing.T, fx *faultFixtures) string { return runCloudFault(t, fx, cf, mode) },
			})
		}
	}
	return out
}

func runCloudFault(t *testing.T, fx *faultFixtures, cf cloudFault, mode string) string {
	cd := fx.cloudDaemon(t, cf.refused)
	if cd.fake != nil {
		cd.fake.Set(cf.mode)
		defer cd.fake.Set(openaitest.Fault{})
	}
	policy := "cloud"
	if mode == modeAuto || mode == modeAutoStream {
		policy = "auto"
	}
	stream := mode == modeStream || mode == modeAutoStream
	o := postChat(t, cd.d.url, policy, stream)
	if o.err != nil {
		t.Fatalf("transport error: %v", o.err)
	}
	attempts := ""
	if cd.fake != nil {
		attempts = fmt.Sprintf("; the cloud saw %d attempt(s)", cd.fake.Attempts())
	}
	switch {
	case cf.ok:
		wantRoute := "cloud"
		if o.status != http.StatusOK || str(o.cascade, "route") != wantRoute || o.content != fakeAnswer {
			t.Fatalf("want 200 with the cloud's answer %q: status %d content %q cascade %v body %s", fakeAnswer, o.status, o.content, o.cascade, o.body)
		}
		if stream && !o.done() {
			t.Fatalf("stream did not end with [DONE]: %q", o.events)
		}
		return fmt.Sprintf("200, route cloud, answer %q%s", o.content, attempts)

	case mode == modeAuto || (mode == modeAutoStream && !cf.midStream):
		reason := str(o.cascade, "reason")
		if o.status != http.StatusOK || str(o.cascade, "route") != "local" || o.content == "" || (stream && !o.done()) || o.cascade["escalated"] != true {
			t.Fatalf("want 200 with the local answer: status %d cascade %v body %s events %q", o.status, o.cascade, o.body, o.events)
		}
		i := strings.Index(reason, "escalation failed")
		if i < 0 {
			t.Fatalf("reason does not say the escalation failed: %q", reason)
		}
		mustContain(t, "reason", reason, "cloud provider openai", cf.frag)
		kind := "200"
		if stream {
			kind = "200 stream"
		}
		if o.cascade["deferred"] != true || !strings.Contains(reason, "deferred as") {
			t.Fatalf("the escalation was not deferred: %v", o.cascade)
		}
		return fmt.Sprintf("%s, route local, escalated: %v, deferred: %v; reason: …%s%s", kind, o.cascade["escalated"], o.cascade["deferred"], normalize(reason[i:]), attempts)

	case stream && cf.midStream:
		if o.status != http.StatusOK || o.errBody == nil || o.done() {
			t.Fatalf("want 200 and an error event without [DONE]: status %d events %q", o.status, o.events)
		}
		if o.content != fakeCutAfter {
			t.Fatalf("streamed %q before the failure, want %q", o.content, fakeCutAfter)
		}
		msg := o.errText()
		mustContain(t, "stream error event", msg, "cloud_error", "cloud provider openai", cf.frag)
		return fmt.Sprintf("200 stream: %q, then error event %s; no [DONE]%s", o.content, normalize(msg), attempts)

	case cf.key == "429":
		if o.status != http.StatusTooManyRequests || o.errBody == nil || o.header.Get("Retry-After") != "7" {
			t.Fatalf("want 429 with Retry-After: 7 in the OpenAI error shape: status %d Retry-After %q body %s",
				o.status, o.header.Get("Retry-After"), o.body)
		}
		msg := o.errText()
		mustContain(t, "error", msg, "cloud_rate_limited", "cloud provider openai", cf.frag)
		return fmt.Sprintf("%d %s; Retry-After: %s%s", o.status, normalize(msg), o.header.Get("Retry-After"), attempts)

	default:
		if o.status != http.StatusBadGateway || o.errBody == nil {
			t.Fatalf("want 502 in the OpenAI error shape: status %d body %s events %q", o.status, o.body, o.events)
		}
		msg := o.errText()
		mustContain(t, "error", msg, "cloud_error", "cloud provider openai", cf.frag)
		return fmt.Sprintf("%d %s%s", o.status, normalize(msg), attempts)
	}
}
