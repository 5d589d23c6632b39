package cascade

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgecascade/edgecascade/models"
)

// The stages of a cascade: the local ones in order (the first is the
// cascade's local model, the others Options.Stages), then the cloud, which
// always accepts. The two-stage shorthand is the case of one local stage.

// localStage is one local stage as a request walks it.
type localStage struct {
	index   int
	name    string
	model   models.Model
	routing *Routing
}

// localStages are the local stages under routing r.
func (c *Cascade) localStages(r *Routing) []localStage {
	out := make([]localStage, 0, 1+len(c.opts.Stages))
	out = append(out, localStage{index: 0, name: c.localName(), model: c.local, routing: r})
	for i, s := range c.opts.Stages {
		out = append(out, localStage{index: i + 1, name: s.Name, model: s.Model, routing: &r.Stages[i]})
	}
	return out
}

// multiStage reports whether the cascade has more than one local stage.
func (c *Cascade) multiStage() bool { return len(c.opts.Stages) > 0 }

func (c *Cascade) localName() string {
	if c.opts.LocalName != "" {
		return c.opts.LocalName
	}
	return RouteLocal
}

func (c *Cascade) cloudName() string {
	if c.opts.CloudName != "" {
		return c.opts.CloudName
	}
	return RouteCloud
}

// StageNames are the names of the cascade's stages, in order, the cloud
// last.
func (c *Cascade) StageNames() []string {
	names := []string{c.localName()}
	for _, s := range c.opts.Stages {
		names = append(names, s.Name)
	}
	return append(names, c.cloudName())
}

// StageModels are the local models of the stages after the first.
func (c *Cascade) StageModels() []Stage { return append([]Stage(nil), c.opts.Stages...) }

// toCloud marks d as answered by the cloud stage.
func (c *Cascade) toCloud(d *Decision, latency time.Duration) {
	d.Route, d.Stage, d.cloud = c.cloudName(), len(c.opts.Stages)+1, true
	d.Stages = append(d.Stages[:len(d.Stages):len(d.Stages)], StageTry{Name: d.Route, LatencyMS: ms(latency)})
}

// atStage sets the local stage whose answer d is about: its threshold,
// scorer and model.
func (d *Decision) atStage(st localStage) {
	d.Threshold, d.Scorer, d.LocalModel = st.routing.Threshold, st.routing.Scorer.Name(), st.model.Name()
}

// tried notes a local stage the request tried: with its score, or skipped
// with the reason.
func (d *Decision) tried(st localStage, s *scored, g generation, skipped string) {
	t := StageTry{Name: st.name, LatencyMS: ms(g.latency), EnergyJ: g.energy, Skipped: skipped, latency: g.latency}
	if s != nil && s.err == nil {
		t.Score = s.raw()
	}
	d.Stages = append(d.Stages[:len(d.Stages):len(d.Stages)], t)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stageDownCause says that a local stage after the first, or before the
// last, could not answer and was skipped.
func stageDownCause(name string, err error) Cause {
	why := localUnavailableCause(err)
	why.Text = fmt.Sprintf("stage %s unavailable (%v); skipped", name, err)
	return why
}

// stageCapabilityCause says that a local stage was skipped because it does
// not take the request's tools or images (another local stage does).
func stageCapabilityCause(name string, e *UnsupportedError) Cause {
	return Cause{CauseCapability, fmt.Sprintf("stage %s skipped: %s", name, strings.TrimSuffix(e.Error(), ": use model auto or cloud"))}
}

// skipStage says why local stage i of several is skipped before it
// generates, nil when it is not: the preflight skipped the first (the
// first model's context or probe), or the stage does not take the
// request's tools or images (another stage does: gather and runLocalStages
// checked).
func (c *Cascade) skipStage(ctx context.Context, i int, st localStage, p plan, req Request) *Cause {
	if !c.multiStage() {
		return nil
	}
	if i == 0 && p.skipFirst {
		why := stageSkippedCause(st.name, *p.skip)
		return &why
	}
	if ue := unsupportedBy(ctx, st.model, req); ue != nil {
		why := stageCapabilityCause(st.name, ue)
		return &why
	}
	return nil
}

// stageSkippedCause says that the preflight (context length, pre-generation
// probe) skipped a local stage: the next stage answers, not the cloud.
func stageSkippedCause(name string, why Cause) Cause {
	text := strings.TrimSuffix(strings.TrimSuffix(why.Text, "; sent to the cloud"), "; skipped local generation")
	return Cause{why.Kind, fmt.Sprintf("stage %s skipped: %s", name, text)}
}

// staged prefixes a stage's own causes (its score, its format) with its name when there is more than
// one local stage.
func (c *Cascade) staged(st localStage, why []Cause) []Cause {
	if !c.multiStage() {
		return why
	}
	out := make([]Cause, len(why))
	for i, w := range why {
		switch w.Kind {
		case CauseAccepted, CauseLowConfidence, CauseUnscorable, CauseScoreNote, CauseFormat:
			w.Text = "stage " + st.name + ": " + w.Text
		}
		out[i] = w
	}
	return out
}
