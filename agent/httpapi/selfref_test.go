package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
)

var confTokens = []string{"<CN>", "<UN>"}

func selfRefDaemon(t *testing.T, threshold float64) *daemon {
	return newDaemon(t, daemonOpts{threshold: threshold, localModel: ollamatest.SelfRef, scorer: uq.SelfRef, strip: confTokens})
}

type valItem struct {
	Task, Prompt, Answer string
}

func valItems(t *testing.T, n int) []valItem {
	t.Helper()
	dir, err := ollamatest.TestbedDir()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "data", "val.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []valItem
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(items) < n {
		var it valItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// TestSelfRefSeparatesRightFromWrong runs the Self-REF test bed model over
// val.jsonl through the daemon: the confidence token's score must separate
// right from wrong answers, and users never see the token.
func TestSelfRefSeparatesRightFromWrong(t *testing.T) {
	d := selfRefDaemon(t, 0)
	items := valItems(t, 300)
	var samples []calib.Sample
	fallbacks := 0
	for _, it := range items {
		resp, c := ask(t, d, "local", it.Prompt)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		ans := c.Choices[0].Message.Content
		if strings.Contains(ans, "<CN>") || strings.Contains(ans, "<UN>") || ans != strings.TrimSpace(ans) || strings.ContainsAny(ans, "\n<>") {
			t.Fatalf("%q: answer %q is not in the plain answers' format", it.Prompt, ans)
		}
		if strings.Contains(c.Cascade.Reason, "fell back") {
			fallbacks++
		}
		samples = append(samples, calib.Sample{Score: *c.Cascade.Confidence, Correct: ans == it.Answer})
	}
	auroc, err := calib.AUROC(samples)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for _, s := range samples {
		if s.Correct {
			right++
		}
	}
	t.Logf("selfref on %d val items: accuracy %.3f, AUROC of p(<CN>)/(p(<CN>)+p(<UN>)) %.3f, %d fallbacks", len(samples), float64(right)/float64(len(samples)), auroc, fallbacks)
	if auroc < 0.75 {
		t.Fatalf("selfref AUROC %.3f, want >= 0.75 (the test bed reports 0.889)", auroc)
	}
	if fallbacks > len(items)/10 {
		t.Fatalf("%d of %d answers had no usable confidence token", fallbacks, len(items))
	}
	if right < len(items)/3 {
		t.Fatalf("only %d of %d stripped answers are right: stripping damages answers", right, len(items))
	}
}

func TestSelfRefTokensNeverReachCloudOrUser(t *testing.T) {
	d := selfRefDaemon(t, 1.01) // escalate everything
	q := "What is the capital of Osninax?"
	body := map[string]any{"model": "auto", "temperature": 0, "messages": []map[string]string{
		{"role": "user", "content": "Spell rmzf backwards."},
		{"role": "assistant", "content": "fzmr<CN>"}, // history as a client kept it
		{"role": "user", "content": q},
	}}
	resp, raw := post(t, d.URL+"/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"route":"cloud"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	sr := streamChat(t, d, "auto", q)
	if sr.cascade.Route != "cloud" {
		t.Fatalf("stream route %s", sr.cascade.Route)
	}
	bodies := d.cloud.bodies()
	if len(bodies) != 2 {
		t.Fatalf("cloud got %d calls, want 2", len(bodies))
	}
	for _, b := range bodies {
		if strings.Contains(string(b), "<CN>") || strings.Contains(string(b), "<UN>") {
			t.Fatalf("a confidence token reached the cloud: %s", b)
		}
	}
	if !strings.Contains(string(bodies[0]), "fzmr") || !strings.Contains(string(bodies[0]), "Spell rmzf backwards.") {
		t.Fatalf("the conversation was not sent whole: %s", bodies[0])
	}

	// Live local streams strip the token too, and match non-streaming.
	for _, it := range valItems(t, 20) {
		sr := streamChat(t, d, "local", it.Prompt)
		_, c := ask(t, d, "local", it.Prompt)
		if strings.Contains(sr.content, "<") || sr.content != c.Choices[0].Message.Content {
			t.Fatalf("%q: stream %q, non-stream %q", it.Prompt, sr.content, c.Choices[0].Message.Content)
		}
		if sr.final == nil || sr.final.Confidence == nil || sr.final.Scorer != uq.SelfRef {
			t.Fatalf("%q: last chunk cascade %+v", it.Prompt, sr.final)
		}
	}
}
