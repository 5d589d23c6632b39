// Package adapt keeps the cascade's threshold true to its promise while the
// questions and the local model drift: from labelled decisions in a sliding
// window it keeps, per group, the lowest threshold whose accepted answers
// are right at least Target of the time with confidence 1-Delta, by a bound
// that stays valid when checked after every label (bound.go). It is pure
// (no I/O but State's file) and safe for concurrent use; the daemon feeds
// it decisions and labels (agent/learn) and reads thresholds from it.
// docs/adaptation.md explains the choices.
package adapt

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/edgecascade/edgecascade/uq/calib"
)

// Label sources (the decision log's).
const (
	SourceFeedback    = "feedback"
	SourceAgreement   = "agreement"
	SourceExploration = "exploration"
)

// Sources lists the label sources in the order status shows them.
var Sources = []string{SourceFeedback, SourceAgreement, SourceExploration}

// EscalateAll is the threshold that escalates every answer (scores are in
// [0, 1]): where a window with no evidence starts, and where it goes when
// no threshold's bound reaches the target.
const EscalateAll = calib.EscalateAll

// Config configures an Engine. Zero fields take the defaults.
type Config struct {
	// Target is the accepted answers' accuracy to keep (default 0.9);
	// Delta the bound's error probability (default 0.1: 90% confidence).
	Target, Delta float64
	// Window is how many decisions each window keeps (default 300): the
	// global one and each group's.
	Window int
	// MinLabels is how many labels a window needs before its bound moves
	// the threshold (default 30); GroupMinLabels how many a group needs to
	// get its own threshold (default 60): the others share the global one.
	MinLabels, GroupMinLabels int
	// MinSupport is how many labels at or above a candidate threshold it
	// needs to be tested; the candidates with fewer are skipped. Default:
	// the fewest labels for which a perfect record would clear the target
	// (Target+Slack+0.01) with the bound: below that a test can only fail,
	// and a failed test ends the search (about 50 for a 90% target at 90%
	// confidence).
	MinSupport int
	// Slack: a threshold below the one in force is taken only when its
	// bound clears Target+Slack (default 0.01), so that it does not
	// oscillate.
	Slack float64
	// CloudAccuracy is how often the cloud that labels by agreement and
	// exploration is right (default 1). A right local answer is labelled
	// wrong when the cloud is wrong, so those labels say "right" at about
	// the local accuracy times CloudAccuracy: their counts of right answers
	// are divided by it (capped at the labels' number).
	CloudAccuracy float64
	// Grid is how many candidate thresholds are tried, at quantiles of the
	// window's scores (default 40).
	Grid int
	// Initial is the starting threshold (the offline calibration's); 0 or
	// NaN: EscalateAll (no calibration, start conservative). InitialMap is
	// the starting score-to-probability map (nil: the raw score).
	Initial    float64
	InitialMap func(float64) float64
	// OnDrift, when set, is called (without the engine's lock) each time
	// the bound on a window's accepted accuracy at the threshold in force
	// crosses Target.
	OnDrift func(Drift)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v <= 0 || math.IsNaN(*v) {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Target, 0.9)
	def(&c.Delta, 0.1)
	def(&c.Slack, 0.01)
	def(&c.CloudAccuracy, 1)
	c.CloudAccuracy = math.Min(c.CloudAccuracy, 1)
	def(&c.Initial, EscalateAll)
	defi(&c.Window, 300)
	defi(&c.MinLabels, 30)
	defi(&c.GroupMinLabels, 60)
	if c.MinSupport <= 0 {
		c.MinSupport = 1
		for c.MinSupport < 100000 && LowerBound(float64(c.MinSupport), float64(c.MinSupport), c.Delta) < math.Min(c.Target+c.Slack+0.01, 0.999) {
			c.MinSupport++
		}
	}
	defi(&c.Grid, 40)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Drift says that a window's bound crossed the target: Below when the
// accepted answers' accuracy may have fallen under it (the threshold moves
// up: Threshold is the new one), else when it is back above.
type Drift struct {
	Group     string    `json:"group"`
	Below     bool      `json:"below"`
	Bound     float64   `json:"bound"`
	Target    float64   `json:"target"`
	Previous  float64   `json:"previous_threshold"`
	Threshold float64   `json:"threshold"`
	Time      time.Time `json:"time"`
}

// Decision is one scored answer in auto mode.
type Decision struct {
	ID    string
	Group string
	Score float64
	// Accepted is whether the local answer was accepted when decided (else
	// it escalated): the two are labelled at different rates.
	Accepted bool
}

// item is a decision in a window, with its label once known.
type item struct {
	ID       string  `json:"id"`
	Score    float64 `json:"s"`
	Accepted bool    `json:"a,omitempty"`
	Labelled bool    `json:"l,omitempty"`
	Correct  bool    `json:"c,omitempty"`
	Source   string  `json:"src,omitempty"`
}

// window is the state of one group (or the global one).
type window struct {
	Items     []item   `json:"items"`
	Threshold float64  `json:"threshold"`
	Bound     *float64 `json:"bound,omitempty"`
	// Below is whether the bound at the threshold in force was below the
	// target at the last check.
	Below bool `json:"below,omitempty"`
	// Map is the refitted probability map (nil until MinLabels).
	Map *calib.Isotonic `json:"map,omitempty"`
	// Total counts every label ever taken, by source.
	Total map[string]int `json:"total"`
}

// Engine is the online threshold.
type Engine struct {
	cfg    Config
	mu     sync.Mutex
	global *window
	groups map[string]*window
	// changes counts state changes (State's callers save when it moved).
	changes uint64
}

// New returns an engine at its starting point.
func New(cfg Config) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{cfg: cfg, global: cfg.newWindow(), groups: map[string]*window{}}
}

func (c Config) newWindow() *window {
	return &window{Threshold: c.Initial, Total: map[string]int{}}
}

// Config returns the engine's configuration with its defaults.
func (e *Engine) Config() Config { return e.cfg }

// Threshold is the threshold and probability map in force for a group: the
// group's own when it has GroupMinLabels labels, else the global one. prob
// is nil when neither the engine nor the configuration has a map.
func (e *Engine) Threshold(group string) (threshold float64, prob func(float64) float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.windowFor(group)
	prob = e.cfg.InitialMap
	if m := w.Map; m != nil {
		prob = m.Predict
	} else if m := e.global.Map; m != nil {
		prob = m.Predict
	}
	return w.Threshold, prob
}

func (e *Engine) windowFor(group string) *window {
	if g, ok := e.groups[group]; ok && group != "" && g.labels() >= e.cfg.GroupMinLabels {
		return g
	}
	return e.global
}

func (w *window) labels() int {
	n := 0
	for _, it := range w.Items {
		if it.Labelled {
			n++
		}
	}
	return n
}

// Record adds a decision to the global window and its group's.
func (e *Engine) Record(d Decision) {
	if math.IsNaN(d.Score) || math.IsInf(d.Score, 0) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	it := item{ID: d.ID, Score: d.Score, Accepted: d.Accepted}
	e.global.push(it, e.cfg.Window)
	if d.Group != "" {
		g, ok := e.groups[d.Group]
		if !ok {
			g = e.cfg.newWindow()
			g.Threshold = e.global.Threshold
			e.groups[d.Group] = g
		}
		g.push(it, e.cfg.Window)
	}
	e.changes++
}

func (w *window) push(it item, max int) {
	w.Items = append(w.Items, it)
	if over := len(w.Items) - max; over > 0 {
		w.Items = slices.Delete(w.Items, 0, over)
	}
}

// Label labels the decision id (in group) and moves the thresholds. It
// reports false when the decision is not in the window (too old, or never
// recorded).
func (e *Engine) Label(id, group string, correct bool, source string) bool {
	var drifts []Drift
	e.mu.Lock()
	ok := e.global.label(id, correct, source)
	if ok {
		if d, moved := e.recompute(e.global, ""); moved {
			drifts = append(drifts, d)
		}
		if g, has := e.groups[group]; has && group != "" && g.label(id, correct, source) {
			if d, moved := e.recompute(g, group); moved {
				drifts = append(drifts, d)
			}
		}
		e.changes++
	}
	e.mu.Unlock()
	if e.cfg.OnDrift != nil {
		for _, d := range drifts {
			e.cfg.OnDrift(d)
		}
	}
	return ok
}

func (w *window) label(id string, correct bool, source string) bool {
	for i := len(w.Items) - 1; i >= 0; i-- {
		if it := &w.Items[i]; it.ID == id {
			it.Labelled, it.Correct, it.Source = true, correct, source
			w.Total[source]++
			return true
		}
	}
	return false
}

// strata are the window's counts at or above a candidate threshold: N
// decisions and n labels (k right) of those escalated (A) and accepted (B)
// when decided.
type strata struct {
	NA, NB, nA, nB, kA, kB float64
}

func (w *window) strataAt(t, cloudAccuracy float64) strata {
	var s strata
	for _, it := range w.Items {
		if it.Score < t {
			continue
		}
		c := 0.0
		if it.Correct {
			c = 1
			if it.Source != SourceFeedback {
				c = 1 / cloudAccuracy
			}
		}
		if it.Accepted {
			s.NB++
			if it.Labelled {
				s.nB++
				s.kB += c
			}
		} else {
			s.NA++
			if it.Labelled {
				s.nA++
				s.kA += c
			}
		}
	}
	return s
}

// minStratum is how many labels each stratum needs for the post-
// stratified estimate; with fewer in one, the labels are pooled (one label
// must not speak for hundreds of decisions).
const minStratum = 10

// estimate is the accepted answers' accuracy at a threshold, post-
// stratified by how the decisions were labelled (escalated ones nearly all
// by agreement, accepted ones by a share: exploration and feedback), with
// Kish's effective sample size; when a stratum has fewer than minStratum
// labels, the labels are pooled. ok is false when there are no labels.
func (s strata) estimate() (p, neff float64, ok bool) {
	n := s.nA + s.nB
	switch {
	case n == 0:
		return 0, 0, false
	case s.nA < minStratum || s.nB < minStratum:
		return math.Min(1, (s.kA+s.kB)/n), n, true
	}
	wA, wB := s.NA/(s.NA+s.NB), s.NB/(s.NA+s.NB)
	p = wA*math.Min(1, s.kA/s.nA) + wB*math.Min(1, s.kB/s.nB)
	neff = 1 / (wA*wA/s.nA + wB*wB/s.nB)
	return p, neff, true
}

// bound is the lower confidence bound on the accuracy at or above t, and
// the labels it rests on.
func (w *window) bound(t, delta, q float64) (float64, int) {
	s := w.strataAt(t, q)
	p, neff, ok := s.estimate()
	if !ok {
		return 0, 0
	}
	return LowerBound(p*neff, neff, delta), int(s.nA + s.nB)
}

// upper is the upper confidence bound on the accuracy at or above t.
func (w *window) upper(t, delta, q float64) float64 {
	p, neff, ok := w.strataAt(t, q).estimate()
	if !ok {
		return 1
	}
	return UpperBound(p*neff, neff, delta)
}

// candidates are thresholds at quantiles of the window's scores, highest
// first.
func (w *window) candidates(grid int) []float64 {
	scores := make([]float64, len(w.Items))
	for i, it := range w.Items {
		scores[i] = it.Score
	}
	slices.SortFunc(scores, func(a, b float64) int { return cmp.Compare(b, a) })
	var out []float64
	for i := 1; i <= grid; i++ {
		j := i*len(scores)/grid - 1
		if j < 0 {
			continue
		}
		if t := scores[j]; len(out) == 0 || t < out[len(out)-1] {
			out = append(out, t)
		}
	}
	return out
}

// recompute moves the window's threshold and refits its map after a label.
// Both moves rest on the confidence sequence, so that checking after every
// label raises no false alarm:
//   - up when the threshold in force is shown to fail: the upper bound on
//     its accepted accuracy is under the target (a drift). It moves to the
//     lowest candidate above whose lower bound holds the target, or to
//     EscalateAll when none does (every answer then gets an agreement
//     label, and the window refills with evidence);
//   - down, while the threshold holds, through the candidates below it as
//     long as each one's lower bound clears Target+Slack (fixed-sequence
//     testing, as in Learn-then-Test: each at level Delta, stopping at the
//     first failure): a lower threshold is taken only when it is certified.
//
// Candidates with fewer than MinSupport labels at or above them are not
// tested (they are chosen on the scores and label counts alone, not on the
// labels' values). It reports a drift when the threshold in force starts or
// stops failing.
func (e *Engine) recompute(w *window, group string) (Drift, bool) {
	if w.labels() < e.cfg.MinLabels {
		return Drift{}, false
	}
	prev, target, delta, q := w.Threshold, e.cfg.Target, e.cfg.Delta, e.cfg.CloudAccuracy
	type cand struct{ t, p, neff float64 }
	var cands []cand // highest first, each with MinSupport
	for _, t := range w.candidates(e.cfg.Grid) {
		s := w.strataAt(t, q)
		p, neff, ok := s.estimate()
		if !ok || int(s.nA+s.nB) < e.cfg.MinSupport {
			continue
		}
		cands = append(cands, cand{t, p, neff})
	}
	lower := func(c cand) float64 { return LowerBound(c.p*c.neff, c.neff, delta) }
	before, _ := w.bound(prev, delta, q)
	failing := prev < EscalateAll && w.upper(prev, delta, q) < target
	chosen := prev
	if !failing {
		for _, c := range cands {
			if c.t >= prev {
				continue
			}
			if c.p < target+e.cfg.Slack || lower(c) < target+e.cfg.Slack {
				break
			}
			chosen = c.t
		}
	} else {
		chosen = EscalateAll
		for i := len(cands) - 1; i >= 0; i-- {
			if c := cands[i]; c.t > prev && c.p >= target && lower(c) >= target {
				chosen = c.t
				break
			}
		}
	}
	w.Threshold, w.Bound = chosen, nil
	if b, support := w.bound(chosen, delta, q); chosen < EscalateAll && support >= e.cfg.MinSupport {
		w.Bound = &b
	}
	if m, err := calib.FitIsotonic(w.samples()); err == nil {
		w.Map = &m
	}
	if failing != w.Below {
		w.Below = failing
		return Drift{Group: group, Below: failing, Bound: before, Target: target, Previous: prev, Threshold: chosen, Time: e.cfg.Now().UTC()}, true
	}
	return Drift{}, false
}

func (w *window) samples() []calib.Sample {
	var out []calib.Sample
	for _, it := range w.Items {
		if it.Labelled {
			out = append(out, calib.Sample{Score: it.Score, Correct: it.Correct})
		}
	}
	return out
}
