package configs

import (
	"strings"
	"testing"
)

const threeStages = `
local: {url: "http://127.0.0.1:11434"}
cascade:
  stages:
    - {name: weak, backend: ollama, model: tiny-weak, threshold: 0.7}
    - {name: strong, backend: ollama, model: tiny-strong, scorer: min_logprob, threshold: 0.4, energy_j: 3}
    - {name: frontier, provider: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:9/v1", cost_input_per_1k: 0.1}
`

func TestStages(t *testing.T) {
	c, err := Load(writeFile(t, threeStages), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first local stage and the cloud stage are the two-stage settings.
	if c.Local.Model != "tiny-weak" || c.Cascade.Threshold != 0.7 || c.Cascade.Scorer != "mean_logprob" {
		t.Errorf("first stage: local.model %q threshold %v scorer %q", c.Local.Model, c.Cascade.Threshold, c.Cascade.Scorer)
	}
	if c.Cloud.Model != "gpt-4o-mini" || c.Cloud.BaseURL != "http://127.0.0.1:9/v1" || c.Cloud.CostInputPer1K != 0.1 {
		t.Errorf("cloud stage: %+v", c.Cloud)
	}
	later := c.LaterStages()
	if len(later) != 1 || later[0].Name != "strong" || later[0].URL != "http://127.0.0.1:11434" || later[0].Scorer != "min_logprob" || *later[0].Threshold != 0.4 {
		t.Errorf("later stages %+v", later)
	}
	if l, cl := c.StageNames(); l != "weak" || cl != "frontier" {
		t.Errorf("names %s %s", l, cl)
	}
	if e := c.StageEnergy(); len(e) != 3 || e[1] != 3 {
		t.Errorf("energy %v", e)
	}
	// Without stages: the shorthand.
	d := Default()
	if len(d.LaterStages()) != 0 {
		t.Error("default has later stages")
	}
	if l, cl := d.StageNames(); l != "local" || cl != "cloud" {
		t.Errorf("default names %s %s", l, cl)
	}
}

// Bad stage lists are refused at load with an error naming the stage.
func TestStagesRefused(t *testing.T) {
	const weak = "{name: weak, backend: ollama, model: tiny-weak}"
	const cloud = "{name: frontier, provider: cloud}"
	for _, tc := range []struct{ stages, want string }{
		{"[" + cloud + ", " + weak + "]", "cascade.stages[0] (frontier): the cloud stage must be the last"},
		{"[" + weak + ", {name: strong, backend: ollama, model: tiny-strong}]", "cascade.stages[1] (strong): the last stage must be the cloud"},
		{"[" + cloud + "]", "want at least two stages"},
		{"[" + weak + ", " + weak + ", " + cloud + "]", "cascade.stages[1] (weak): name \"weak\" is used by an earlier stage"},
		{"[{name: weak, backend: ollama}, " + cloud + "]", "cascade.stages[0] (weak): model must not be empty"},
		{"[{name: weak, backend: ollama, model: m, colour: red}, " + cloud + "]", "colour"},
		{"[{name: weak, backend: vllm, model: m}, " + cloud + "]", "cascade.stages[0] (weak): backend"},
		{"[" + weak + ", {name: s, backend: ollama, model: m, scorer: probe}, " + cloud + "]", "cascade.stages[1] (s): scorer probe is fitted to the first local model"},
		{"[" + weak + ", {name: f, provider: gemini, model: m}]", "cascade.stages[1] (f): provider"},
		{"[" + weak + ", {name: f, provider: openai}]", "cascade.stages[1] (f): model must not be empty"},
		{"[" + weak + ", {name: f, provider: cloud, threshold: 0.5}]", "the cloud stage always accepts"},
		{"[{name: 'bad name', backend: ollama, model: m}, " + cloud + "]", "name: want letters"},
		{"[{name: cloud, backend: ollama, model: m}, " + cloud + "]", "a local stage cannot be named \"cloud\""},
		{"[" + weak + ", {name: local, provider: cloud}]", "the cloud stage cannot be named \"local\""},
		{"[{name: w, backend: ollama, model: m, provider: openai}, " + cloud + "]", "not both"},
	} {
		_, err := Load(writeFile(t, "cascade:\n  stages: "+tc.stages+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stages %s: error %v, want %q", tc.stages, err, tc.want)
		}
	}
}

// Online adaptation is one local model's: with several local stages it is
// refused at load, naming the setting.
func TestStagesRefuseAdaptation(t *testing.T) {
	_, err := Load(writeFile(t, threeStages+"adapt: {enabled: true}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "adapt.enabled") || !strings.Contains(err.Error(), "one local stage") {
		t.Fatalf("adapt with three stages: %v", err)
	}
	if _, err := Load(writeFile(t, threeStages), nil); err != nil {
		t.Fatalf("stages without adaptation: %v", err)
	}
}
