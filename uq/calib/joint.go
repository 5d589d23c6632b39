package calib

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// The joint threshold search of a multi-stage cascade: local stages in
// order, each accepting its answer iff its score >= its threshold, then the
// cloud, which always accepts. One search chooses every local stage's
// threshold at once for the cheapest configuration whose accepted local
// answers (over all local stages together) are certified right at least
// Target of the time.

// JointSample is one labelled item as every local stage answered it.
type JointSample struct {
	// Scores and Correct are each local stage's score in [0, 1] and
	// whether its answer was right, in stage order.
	Scores  []float64 `json:"scores"`
	Correct []bool    `json:"correct"`
	// Latency is each stage's latency on the item in seconds, the local
	// stages then the cloud; nil (or shorter) uses the stages' estimates.
	Latency []float64 `json:"latency,omitempty"`
	// CloudCorrect reports whether the cloud's answer was right (for the
	// cascade's whole accuracy; it does not enter the certificate).
	CloudCorrect bool `json:"cloud_correct"`
}

// StageCost is what one answer of a stage costs, where a sample does not
// say: seconds, joules, and price (the cloud's).
type StageCost struct {
	Name    string  `json:"name"`
	Latency float64 `json:"latency_s"`
	Energy  float64 `json:"energy_j"`
	Price   float64 `json:"price"`
}

// Objective is what the joint search minimizes and the promise it keeps:
// accepted local answers right at least Target of the time, with
// probability at least 1-Delta; under that, the smallest weighted sum of
// cloud share, price, mean latency, p95 latency and energy a query, within
// the caps. All weights zero means the cloud share alone.
type Objective struct {
	Target float64 `json:"target"`
	Delta  float64 `json:"delta"`

	CloudWeight   float64 `json:"cloud_weight,omitempty"`
	PriceWeight   float64 `json:"price_weight,omitempty"`
	LatencyWeight float64 `json:"latency_weight,omitempty"`
	P95Weight     float64 `json:"p95_weight,omitempty"`
	EnergyWeight  float64 `json:"energy_weight,omitempty"`

	// Caps; 0 means none.
	MaxCloudRate   float64 `json:"max_cloud_rate,omitempty"`
	MaxMeanLatency float64 `json:"max_mean_latency_s,omitempty"`
	MaxP95Latency  float64 `json:"max_p95_latency_s,omitempty"`
	MaxEnergy      float64 `json:"max_energy_j,omitempty"`

	// Grid is the number of candidate thresholds of each local stage but
	// the walked one (DefaultGrid when 0); the walked stage's candidates
	// are all its distinct scores.
	Grid int `json:"grid,omitempty"`
	// Walk says which local stage's threshold walks in fixed sequence:
	// WalkLast (the default), WalkFirst, or WalkBoth (both families of
	// paths, Bonferroni over all of them).
	Walk string `json:"walk,omitempty"`
}

// Objective.Walk values.
const (
	WalkLast  = "last"
	WalkFirst = "first"
	WalkBoth  = "both"
)

// DefaultGrid is Objective.Grid's default.
const DefaultGrid = 10

// Outcome is what a configuration of thresholds does on a set of samples.
type Outcome struct {
	Thresholds []float64 `json:"thresholds"`
	Samples    int       `json:"samples"`
	// StageShare is the share of items each stage answered, the local
	// stages then the cloud; CloudRate is the last.
	StageShare []float64 `json:"stage_share"`
	CloudRate  float64   `json:"cloud_rate"`
	// Accepted and Errors count the accepted local answers and the wrong
	// ones among them; AcceptedAccuracy is 1 - Errors/Accepted (0 when none).
	Accepted         int     `json:"accepted"`
	Errors           int     `json:"errors"`
	AcceptedAccuracy float64 `json:"accepted_accuracy"`
	// Accuracy is the whole cascade's (the cloud's answers included).
	Accuracy float64 `json:"accuracy"`
	// MeanLatency and P95Latency are per query, in seconds, every stage
	// tried included; LocalLatency is the local stages' part (local
	// compute a query).
	MeanLatency  float64 `json:"mean_latency_s"`
	P95Latency   float64 `json:"p95_latency_s"`
	LocalLatency float64 `json:"local_latency_s"`
	Energy       float64 `json:"energy_j"`
	Price        float64 `json:"price"`
}

// JointResult is the configuration the joint search chose.
type JointResult struct {
	Outcome
	Objective Objective `json:"objective"`
	// Paths is the number of fixed sequences tested (the grids of the
	// stages after the first), each at level Delta/Paths; Tested the
	// configurations tested over all of them.
	Paths  int `json:"paths"`
	Tested int `json:"tested"`
	// ErrorBound is the Clopper–Pearson upper bound at level 1-Delta/Paths
	// on the error rate of accepted local answers; below 1-Target.
	ErrorBound float64 `json:"error_bound"`
	// Cost is the minimized objective on the calibration samples.
	Cost      float64 `json:"cost"`
	Guarantee string  `json:"guarantee"`
}

// JointTargetAccuracy chooses the thresholds of every local stage jointly
// (Learn-then-Test): the thresholds of the stages after the first range
// over a grid (Objective.Grid candidates each: quantiles of their scores,
// plus accept-all and accept-none), and for each point of it, a path,
// the first stage's threshold walks its distinct scores from strictest to
// loosest as a fixed sequence of tests at level Delta/Paths (Bonferroni
// over the paths): each configuration is certified when the
// Clopper–Pearson bound on the error of its accepted local answers is below
// 1-Target, and the path stops at the first that is not. With probability
// at least 1-Delta every certified configuration, the chosen one included,
// keeps the promise on exchangeable data. Configurations accepting fewer
// than MinAccepted(Target, Delta/Paths) local answers are skipped (a rule
// on scores only, as in TargetAccuracy). The chosen configuration is the
// certified one of least cost within the caps; with one local stage it is
// TargetAccuracy's threshold.
//
// stages are the costs of the local stages then the cloud (len(Scores)+1).
func JointTargetAccuracy(samples []JointSample, stages []StageCost, o Objective) (JointResult, error) {
	if err := checkOpenUnit("target", o.Target); err != nil {
		return JointResult{}, err
	}
	if err := checkOpenUnit("delta", o.Delta); err != nil {
		return JointResult{}, err
	}
	k, err := checkJoint(samples, stages)
	if err != nil {
		return JointResult{}, err
	}
	grid := o.Grid
	if grid == 0 {
		grid = DefaultGrid
	}
	if o.Walk != "" && o.Walk != WalkFirst && o.Walk != WalkLast && o.Walk != WalkBoth {
		return JointResult{}, fmt.Errorf("%w: walk: want first, last or both, got %q", ErrInvalidParameter, o.Walk)
	}
	if grid < 2 {
		return JointResult{}, &ParamError{Name: "grid", Value: float64(grid), Want: "at least 2"}
	}
	var paths [][]float64 // each with the walked stage's threshold at EscalateAll
	var walked []int
	for _, ws := range o.walkedStages(k) {
		for _, p := range pathGrid(samples, k, grid, ws) {
			paths, walked = append(paths, p), append(walked, ws)
		}
	}
	level := o.Delta / float64(len(paths))
	need := minAccepted(o.Target, level)
	alpha := 1 - o.Target
	n := len(samples)

	var (
		best      *JointResult
		tested    int
		lastFail  string
		anyTested bool
	)
	for pi, path := range paths {
		ws := walked[pi]
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(samples[b].Scores[ws], samples[a].Scores[ws]) })
		th := slices.Clone(path)
		w := newWalk(samples, stages, th)
		for j := 0; j <= n; {
			// Config: the walked stage's threshold admits order[:j].
			if w.accepted >= need {
				anyTested = true
				tested++
				b := cpUpper(w.errors, w.accepted, level)
				if !(b < alpha) {
					lastFail = fmt.Sprintf("%d accepted local answers with %d errors, error bound %.4g >= %.4g", w.accepted, w.errors, b, alpha)
					break
				}
				out := w.outcome(th, o.needP95())
				if cost, ok := o.cost(out); ok && (best == nil || cost < best.Cost || cost == best.Cost && out.LocalLatency < best.LocalLatency) {
					best = &JointResult{Outcome: out, ErrorBound: b, Cost: cost}
				}
			}
			if j == n {
				break
			}
			// Lower the walked stage's threshold to the next tie run.
			s := samples[order[j]].Scores[ws]
			th[ws] = s
			for j < n && samples[order[j]].Scores[ws] == s {
				w.set(order[j], routeOf(samples[order[j]], stages, th, 0))
				j++
			}
		}
	}
	paths0 := len(paths)
	notCert := func(reason string) error {
		return &NotCertifiableError{Target: o.Target, Delta: o.Delta, Samples: n, MinAccepted: need, Reason: reason}
	}
	switch {
	case best == nil && !anyTested:
		return JointResult{}, notCert(fmt.Sprintf("no configuration accepts %d local answers", need))
	case best == nil && lastFail != "":
		return JointResult{}, notCert("no configuration certified within the caps (last: " + lastFail + ")")
	case best == nil:
		return JointResult{}, notCert("no certified configuration meets the caps")
	}
	best.Outcome = Apply(samples, stages, best.Thresholds)
	best.Objective, best.Paths, best.Tested = o, paths0, tested
	best.Guarantee = fmt.Sprintf(
		"With probability at least %s over the calibration draw, at least %s of the answers the local stages accept are right on data exchangeable with the %d calibration samples (error bound %.4g at level %.3g: %d paths of thresholds tested in fixed sequence, Bonferroni over the paths; %.1f%% answered locally).",
		percent(1-o.Delta), percent(o.Target), n, best.ErrorBound, level, paths0, 100*(1-best.CloudRate))
	return *best, nil
}

func (o Objective) needP95() bool { return o.P95Weight > 0 || o.MaxP95Latency > 0 }

// cost is the objective of an outcome, and whether it keeps the caps.
func (o Objective) cost(out Outcome) (float64, bool) {
	if o.MaxCloudRate > 0 && out.CloudRate > o.MaxCloudRate ||
		o.MaxMeanLatency > 0 && out.MeanLatency > o.MaxMeanLatency ||
		o.MaxP95Latency > 0 && out.P95Latency > o.MaxP95Latency ||
		o.MaxEnergy > 0 && out.Energy > o.MaxEnergy {
		return 0, false
	}
	cw := o.CloudWeight
	if cw == 0 && o.PriceWeight == 0 && o.LatencyWeight == 0 && o.P95Weight == 0 && o.EnergyWeight == 0 {
		cw = 1
	}
	return cw*out.CloudRate + o.PriceWeight*out.Price + o.LatencyWeight*out.MeanLatency + o.P95Weight*out.P95Latency + o.EnergyWeight*out.Energy, true
}

// checkJoint validates the samples and costs and returns the number of
// local stages.
func checkJoint(samples []JointSample, stages []StageCost) (int, error) {
	if len(samples) == 0 {
		return 0, ErrNoSamples
	}
	k := len(samples[0].Scores)
	if k == 0 || len(stages) != k+1 {
		return 0, &ParamError{Name: "stages", Value: float64(len(stages)), Want: fmt.Sprintf("one cost per local stage and the cloud (%d)", k+1)}
	}
	for i, s := range samples {
		if len(s.Scores) != k || len(s.Correct) != k {
			return 0, fmt.Errorf("%w: sample %d has %d scores and %d labels, want %d", ErrInvalidParameter, i, len(s.Scores), len(s.Correct), k)
		}
		for _, v := range s.Scores {
			if err := checkScore(i, v, true); err != nil {
				return 0, err
			}
		}
	}
	for _, c := range stages {
		for _, v := range []float64{c.Latency, c.Energy, c.Price} {
			if err := checkNonNegative("stage cost", v); err != nil {
				return 0, err
			}
		}
	}
	return k, nil
}

// pathGrid is the grid of the stages other than the walked one (ws): each
// takes accept-all (0), grid-2 quantiles of its scores, and accept-none;
// the walked stage's threshold starts at accept-none.
func pathGrid(samples []JointSample, k, grid, ws int) [][]float64 {
	out := [][]float64{{}}
	for s := range k {
		cands := []float64{EscalateAll}
		if s != ws {
			scores := make([]float64, len(samples))
			for i, x := range samples {
				scores[i] = x.Scores[s]
			}
			slices.Sort(scores)
			cands = []float64{0}
			for q := 1; q <= grid-2; q++ {
				v := scores[int(float64(q)/float64(grid-1)*float64(len(scores)-1))]
				if v > cands[len(cands)-1] {
					cands = append(cands, v)
				}
			}
			cands = append(cands, EscalateAll)
		}
		var next [][]float64
		for _, prefix := range out {
			for _, c := range cands {
				next = append(next, append(slices.Clone(prefix), c))
			}
		}
		out = next
	}
	return out
}

// walkedStages are the local stages whose threshold walks in fixed
// sequence (Objective.Walk).
func (o Objective) walkedStages(k int) []int {
	switch {
	case k == 1 || o.Walk == WalkFirst:
		return []int{0}
	case o.Walk == WalkBoth:
		return []int{0, k - 1}
	}
	return []int{k - 1}
}

// route is where one sample ends under some thresholds.
type route struct {
	stage   int // the answering stage; k is the cloud
	correct bool
	latency float64 // every stage tried
	local   float64 // the local stages' part
	energy  float64
	price   float64
}

// routeOf walks one sample through the stages from stage from on.
func routeOf(x JointSample, stages []StageCost, th []float64, from int) route {
	k := len(x.Scores)
	var r route
	lat := func(s int) float64 {
		if s < len(x.Latency) {
			return x.Latency[s]
		}
		return stages[s].Latency
	}
	for s := from; s < k; s++ {
		r.latency += lat(s)
		r.local += lat(s)
		r.energy += stages[s].Energy
		if x.Scores[s] >= th[s] {
			r.stage, r.correct = s, x.Correct[s]
			return r
		}
	}
	r.latency += lat(k)
	r.energy += stages[k].Energy
	r.price += stages[k].Price
	r.stage, r.correct = k, x.CloudCorrect
	return r
}

// walk keeps the running counts of a path as the first stage takes more
// samples.
type walk struct {
	samples  []JointSample
	stages   []StageCost
	routes   []route
	accepted int
	errors   int
}

func newWalk(samples []JointSample, stages []StageCost, th []float64) *walk {
	w := &walk{samples: samples, stages: stages, routes: make([]route, len(samples))}
	for i, x := range samples {
		w.routes[i] = routeOf(x, stages, th, 0)
		w.count(w.routes[i], 1)
	}
	return w
}

// count adds (sign 1) or removes (-1) a route from the running counts.
func (w *walk) count(r route, sign int) {
	if r.stage < len(w.stages)-1 {
		w.accepted += sign
		if !r.correct {
			w.errors += sign
		}
	}
}

func (w *walk) set(i int, r route) {
	w.count(w.routes[i], -1)
	w.routes[i] = r
	w.count(r, 1)
}

func (w *walk) outcome(th []float64, p95 bool) Outcome {
	return summarize(w.routes, len(w.stages), th, p95)
}

// Apply is what the thresholds do on samples (the local stages' thresholds
// in order; the cloud always accepts).
func Apply(samples []JointSample, stages []StageCost, th []float64) Outcome {
	routes := make([]route, len(samples))
	for i, x := range samples {
		routes[i] = routeOf(x, stages, th, 0)
	}
	return summarize(routes, len(stages), th, true)
}

func summarize(routes []route, nStages int, th []float64, p95 bool) Outcome {
	n := len(routes)
	o := Outcome{Thresholds: slices.Clone(th), Samples: n, StageShare: make([]float64, nStages)}
	var right int
	lats := make([]float64, 0, n)
	for _, r := range routes {
		o.StageShare[r.stage]++
		if r.correct {
			right++
		}
		if r.stage < nStages-1 {
			o.Accepted++
			if !r.correct {
				o.Errors++
			}
		}
		o.MeanLatency += r.latency
		o.LocalLatency += r.local
		o.Energy += r.energy
		o.Price += r.price
		lats = append(lats, r.latency)
	}
	if n == 0 {
		return o
	}
	fn := float64(n)
	for i := range o.StageShare {
		o.StageShare[i] /= fn
	}
	o.CloudRate = o.StageShare[nStages-1]
	if o.Accepted > 0 {
		o.AcceptedAccuracy = 1 - float64(o.Errors)/float64(o.Accepted)
	}
	o.Accuracy = float64(right) / fn
	o.MeanLatency /= fn
	o.LocalLatency /= fn
	o.Energy /= fn
	o.Price /= fn
	if p95 {
		slices.Sort(lats)
		o.P95Latency = lats[int(math.Ceil(0.95*fn))-1]
	}
	return o
}

// StageByStage chooses the local thresholds one stage at a time, the way
// the joint search is compared with: each stage's threshold is
// TargetAccuracy's on the items the stages before it escalate, at level
// Delta/k for k local stages (so that all k certificates hold together),
// the last local stage's included. A stage whose threshold cannot be
// certified accepts nothing. It returns the thresholds in stage order.
func StageByStage(samples []JointSample, target, delta float64) ([]float64, error) {
	if len(samples) == 0 {
		return nil, ErrNoSamples
	}
	k := len(samples[0].Scores)
	th := make([]float64, k)
	reach := samples
	for s := range k {
		sub := make([]Sample, len(reach))
		for i, x := range reach {
			sub[i] = Sample{Score: x.Scores[s], Correct: x.Correct[s]}
		}
		th[s] = EscalateAll
		if r, err := TargetAccuracy(sub, target, delta/float64(k)); err == nil {
			th[s] = r.Threshold
		} else if !errors.Is(err, ErrNotCertifiable) {
			return nil, err
		}
		var next []JointSample
		for _, x := range reach {
			if x.Scores[s] < th[s] {
				next = append(next, x)
			}
		}
		reach = next
		if len(reach) == 0 {
			for t := s + 1; t < k; t++ {
				th[t] = EscalateAll
			}
			break
		}
	}
	return th, nil
}
