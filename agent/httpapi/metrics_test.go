package httpapi_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

func scrape(t *testing.T, d *daemon) string {
	t.Helper()
	resp, err := http.Get(d.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// metric returns the value of the sample whose line starts with prefix.
func metric(t *testing.T, text, prefix string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + ` ([0-9.e+-]+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", prefix, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetrics(t *testing.T) {
	d := newFakeDaemon(t, daemonOpts{threshold: 0.5, local: fakeLocalUnsure("What is 4721 + 3389?")})
	ask(t, d, "auto", easyQuestion)           // accepted locally
	ask(t, d, "auto", "What is 4721 + 3389?") // the weak model is unsure: escalated
	ask(t, d, "cloud", easyQuestion)
	ask(t, d, "local", easyQuestion)
	health(t, d)

	text := scrape(t, d)
	for prefix, want := range map[string]float64{
		`edgecascade_requests_total{policy="auto",route="local"}`:  1,
		`edgecascade_requests_total{policy="auto",route="cloud"}`:  1,
		`edgecascade_requests_total{policy="cloud",route="cloud"}`: 1,
		`edgecascade_requests_total{policy="local",route="local"}`: 1,
		`edgecascade_escalations_total{cause="low_confidence"}`:    1,
		`edgecascade_confidence_count`:                             3, // the cloud policy has none
		`edgecascade_local_latency_seconds_count`:                  3,
		`edgecascade_cloud_latency_seconds_count`:                  2,
		`edgecascade_cloud_reachable`:                              1,
		`edgecascade_local_up`:                                     1,
	} {
		if got := metric(t, text, prefix); got != want {
			t.Errorf("%s = %v, want %v", prefix, got, want)
		}
	}
	if metric(t, text, `edgecascade_cloud_tokens_total{kind="prompt"}`) <= 0 || metric(t, text, `edgecascade_cloud_tokens_total{kind="completion"}`) <= 0 {
		t.Error("cloud tokens not counted")
	}
	if metric(t, text, "go_goroutines") <= 0 {
		t.Error("runtime metrics missing")
	}
}
