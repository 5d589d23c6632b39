package adapt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// world is a simulated local model: a score uniform in [0, 1] and a chance
// of being right that depends on the score through acc.
type world struct {
	rng *rand.Rand
	acc func(score float64) float64
}

func (w world) draw() (float64, bool) {
	s := w.rng.Float64()
	return s, w.rng.Float64() < w.acc(s)
}

// trueAccuracy is the accuracy of the answers with scores at or above t.
func trueAccuracy(acc func(float64) float64, t float64) float64 {
	if t >= 1 {
		return 1
	}
	sum, n := 0.0, 0
	for s := t; s < 1; s += 1e-4 {
		sum += acc(s)
		n++
	}
	return sum / float64(n)
}

// run feeds n decisions of w to e under its own thresholds: escalated ones
// are all labelled (agreement, with a perfect cloud), accepted ones with
// probability explore (exploration).
func run(e *Engine, w world, group string, n int, explore float64, start int) {
	for i := range n {
		id := fmt.Sprintf("%s-%d", group, start+i)
		s, ok := w.draw()
		t, _ := e.Threshold(group)
		accepted := s >= t
		e.Record(Decision{ID: id, Group: group, Score: s, Accepted: accepted})
		switch {
		case !accepted:
			e.Label(id, group, ok, SourceAgreement)
		case w.rng.Float64() < explore:
			e.Label(id, group, ok, SourceExploration)
		}
	}
}

// Starting with no calibration (escalate everything), the engine converges
// to a threshold whose accepted answers are at least the target right, and
// well below escalating everything.
func TestConvergesFromConservative(t *testing.T) {
	acc := func(s float64) float64 { return 0.7 + 0.3*s } // accuracy at t: 0.85+0.15t
	w := world{rng: rand.New(rand.NewPCG(1, 2)), acc: acc}
	e := New(Config{Target: 0.9, Delta: 0.1, Window: 1000})
	if th, _ := e.Threshold(""); th != EscalateAll {
		t.Fatalf("starts at %v, want EscalateAll", th)
	}
	run(e, w, "", 3000, 0.05, 0)
	th, prob := e.Threshold("")
	// The best threshold: accuracy at t is 0.85 + 0.15t >= 0.9 from t =
	// 1/3; the bound's price is a higher one, but far from escalating all.
	if th < 1.0/3 || th >= 0.95 {
		t.Fatalf("threshold %.3f, want in [0.33, 0.95) (best 0.33)", th)
	}
	if a := trueAccuracy(acc, th); a < 0.9 {
		t.Fatalf("accepted accuracy %.3f at %.3f", a, th)
	}
	if prob == nil {
		t.Fatal("no refitted map")
	}
	if got := prob(0.9); math.Abs(got-acc(0.9)) > 0.1 {
		t.Fatalf("refitted map: p(0.9) = %.3f, want about %.2f", got, acc(0.9))
	}
	st := e.Status()
	if (st.Global.Bound != nil && *st.Global.Bound < 0.9) || st.Global.Labels[SourceAgreement] == 0 || st.Global.Total[SourceExploration] == 0 {
		t.Fatalf("status %+v", st.Global)
	}
}

// The world drifts under a calibrated threshold: its accepted answers fall
// under the target; the threshold moves up, a drift is reported, and the
// accepted accuracy is back above the target.
func TestDriftMovesUp(t *testing.T) {
	var drifts []Drift
	e := New(Config{Target: 0.9, Delta: 0.1, Window: 600, Initial: 0.5, OnDrift: func(d Drift) { drifts = append(drifts, d) }})
	before := world{rng: rand.New(rand.NewPCG(3, 4)), acc: func(s float64) float64 { return 0.6 + 0.4*s }}
	run(e, before, "", 1500, 0.15, 0) // exploration and feedback
	th0, _ := e.Threshold("")
	after := func(s float64) float64 { return 0.2 + 0.7*s } // at th0 the accuracy falls under 0.9
	if a := trueAccuracy(after, th0); a >= 0.88 {
		t.Fatalf("the drift is too mild: %.3f at %.3f", a, th0)
	}
	run(e, world{rng: rand.New(rand.NewPCG(5, 6)), acc: after}, "", 1500, 0.15, 1500)
	th1, _ := e.Threshold("")
	if th1 <= th0 {
		t.Fatalf("threshold %.3f -> %.3f: did not move up", th0, th1)
	}
	if a := trueAccuracy(after, th1); a < 0.9 {
		t.Fatalf("accepted accuracy after the drift %.3f at %.3f", a, th1)
	}
	if len(drifts) == 0 || !drifts[0].Below {
		t.Fatalf("drifts %+v", drifts)
	}
}

// Label weighting: exploration labels are a small share of the accepted
// answers, agreement labels all of the escalated ones. Pooling them would
// weigh the accepted set toward the escalated (low-score) side; the
// post-stratified estimate weighs each side by its count.
func TestStrataWeighting(t *testing.T) {
	w := &window{Total: map[string]int{}}
	// 100 escalated decisions at 0.6, all labelled, 60% right; 900
	// accepted at 0.9, 45 labelled, 44 right.
	for i := range 100 {
		w.Items = append(w.Items, item{ID: fmt.Sprint("a", i), Score: 0.6, Labelled: true, Correct: i < 60, Source: SourceAgreement})
	}
	for i := range 900 {
		it := item{ID: fmt.Sprint("b", i), Score: 0.9, Accepted: true}
		if i < 45 {
			it.Labelled, it.Correct, it.Source = true, i < 44, SourceExploration
		}
		w.Items = append(w.Items, it)
	}
	p, neff, ok := w.strataAt(0.5, 1).estimate()
	want := 0.1*0.6 + 0.9*44.0/45
	if !ok || math.Abs(p-want) > 1e-9 {
		t.Fatalf("estimate %.4f, want %.4f (pooled would be %.4f)", p, want, 104.0/145)
	}
	if neff >= 145 || neff < 45 {
		t.Fatalf("effective labels %.1f, want between 45 and 145", neff)
	}
	// Above the accepted side only exploration speaks.
	if p, _, _ := w.strataAt(0.8, 1).estimate(); math.Abs(p-44.0/45) > 1e-9 {
		t.Fatalf("estimate at 0.8: %.4f", p)
	}
}

// Per-group thresholds: a group with enough labels and a harder world gets
// its own, higher threshold; a group with few labels shares the global one.
func TestGroupFallback(t *testing.T) {
	e := New(Config{Target: 0.9, Delta: 0.1, Window: 1000, GroupMinLabels: 100})
	easy := world{rng: rand.New(rand.NewPCG(7, 8)), acc: func(s float64) float64 { return 0.7 + 0.3*s }}
	hard := world{rng: rand.New(rand.NewPCG(9, 10)), acc: func(s float64) float64 { return 0.3 + 0.5*s }}
	for i := range 30 {
		run(e, easy, "easy", 50, 0.05, i*50)
		run(e, hard, "hard", 20, 0.05, i*20)
	}
	run(e, easy, "rare", 10, 0.05, 0)
	thEasy, _ := e.Threshold("easy")
	thHard, _ := e.Threshold("hard")
	thRare, _ := e.Threshold("rare")
	thGlobal, _ := e.Threshold("")
	if thHard <= thEasy {
		t.Fatalf("hard %.3f <= easy %.3f", thHard, thEasy)
	}
	if thRare != thGlobal {
		t.Fatalf("a group with few labels has %.3f, the global %.3f", thRare, thGlobal)
	}
	if a := trueAccuracy(hard.acc, thHard); a < 0.9 {
		t.Fatalf("hard group's accepted accuracy %.3f at %.3f", a, thHard)
	}
	own := map[string]bool{}
	for _, g := range e.Status().Groups {
		own[g.Group] = g.Own
	}
	if !own["easy"] || !own["hard"] || own["rare"] {
		t.Fatalf("own thresholds: %v", own)
	}
}

// The state survives a restart: saved, loaded, the same thresholds.
func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adapt.json")
	cfg := Config{Target: 0.9, Delta: 0.1, Window: 500}
	e := New(cfg)
	run(e, world{rng: rand.New(rand.NewPCG(11, 12)), acc: func(s float64) float64 { return 0.6 + 0.4*s }}, "g", 1500, 0.05, 0)
	if err := e.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"", "g"} {
		a, _ := e.Threshold(g)
		b, _ := l.Threshold(g)
		if a != b {
			t.Fatalf("group %q: threshold %v saved, %v loaded", g, a, b)
		}
	}
	if a, b := e.Status().Global.Total, l.Status().Global.Total; a[SourceAgreement] != b[SourceAgreement] {
		t.Fatalf("label totals %v saved, %v loaded", a, b)
	}
	if n, err := Load(filepath.Join(t.TempDir(), "none.json"), cfg); err != nil || n.Status().Global.Decisions != 0 {
		t.Fatalf("no file: %v", err)
	}
}

// A label for a decision that is not in the window is refused.
func TestLabelUnknown(t *testing.T) {
	e := New(Config{Window: 2})
	e.Record(Decision{ID: "a", Score: 0.5})
	e.Record(Decision{ID: "b", Score: 0.5})
	e.Record(Decision{ID: "c", Score: 0.5})
	if e.Label("a", "", true, SourceFeedback) || !e.Label("c", "", true, SourceFeedback) {
		t.Fatal("the window keeps the last 2")
	}
}
