package calib

import (
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/uq"
)

// TestFileCheck: the checks serve, doctor and eval share.
func TestFileCheck(t *testing.T) {
	th := 0.4
	f := &File{LocalModel: "m", Scorers: map[string]ScorerFit{
		"mean_logprob": {Threshold: &th},
		"probe":        {Error: "too few items"},
	}}
	tests := []struct {
		name, model, scorer string
		want                string // "" for no error, else a part of it
	}{
		{"ok", "m", "mean_logprob", ""},
		{"other model", "n", "mean_logprob", `calibrated for local model "m", but local.model is "n": re-run edgecascade calibrate`},
		{"no fit", "m", "min_logprob", `no fit for scorer "min_logprob"`},
		{"no threshold", "m", "probe", "too few items: re-run edgecascade calibrate or choose another cascade.scorer"},
		{"no combined fit", "m", uq.Combined, "no combined fit for cascade.scorer combined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fit, err := f.Check(tc.model, tc.scorer)
			if tc.want == "" {
				if err != nil || fit.Threshold == nil || *fit.Threshold != th {
					t.Fatalf("fit %+v, %v", fit, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := f.CheckModel("m"); err != nil {
		t.Fatal(err)
	}
	if err := f.CheckModel("n"); err == nil {
		t.Fatal("CheckModel accepted another model")
	}
}
