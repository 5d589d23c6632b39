// Package report turns labelled evaluation records into the evaluation
// report of `edgecascade eval`: one number set per scorer (how well the score
// separates right from wrong local answers, how well it is calibrated, what
// the cascade achieves at its threshold against the always-local,
// always-cloud, random and oracle routers), broken down per task, written as
// Markdown, JSON and plots.
//
// Every number lives in Report, which encodes as JSON without NaN: a number
// that is undefined on the data (AUROC when every answer is right, say) is a
// nil pointer (JSON null) and a note says why.
package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// ReliabilityBins is the number of equal-width bins of the expected
// calibration error and the reliability diagram.
const ReliabilityBins = 10

// CloudFraction is the share of always-cloud accuracy for which the report
// gives the smallest cloud-call rate that reaches it.
const CloudFraction = 0.95

// Sentinel errors. Every error returned by Build wraps one of them.
var (
	// ErrNoRecords means the input held no records.
	ErrNoRecords = errors.New("no records")
	// ErrNoScorers means the input named no scorer.
	ErrNoScorers = errors.New("no scorers")
	// ErrMissingScore means a scorer has no score on some records.
	ErrMissingScore = errors.New("missing score")
	// ErrInvalidScore means a raw score or calibrated probability is NaN or
	// outside [0, 1].
	ErrInvalidScore = errors.New("invalid score")
	// ErrInvalidSetup means a scorer setup is unusable (empty or duplicate
	// name, non-finite threshold, target or delta out of range).
	ErrInvalidSetup = errors.New("invalid scorer setup")
)

// MissingScoreError names a scorer that has no score on some records.
type MissingScoreError struct {
	// Scorer is the scorer's name.
	Scorer string
	// Missing is the number of records without its score.
	Missing int
	// Records is the number of records.
	Records int
	// First is the position in Input.Records of the first such record.
	First int
}

func (e *MissingScoreError) Error() string {
	return fmt.Sprintf("scorer %q has no score on %d of %d records (first at record %d)",
		e.Scorer, e.Missing, e.Records, e.First)
}

// Unwrap returns ErrMissingScore.
func (e *MissingScoreError) Unwrap() error { return ErrMissingScore }

// ScoreError names a record whose score is unusable.
type ScoreError struct {
	// Scorer is the scorer's name.
	Scorer string
	// Record is the position in Input.Records.
	Record int
	// Value is the offending raw score or calibrated probability.
	Value float64
	// Calibrated is true when Value came out of the scorer's calibrator.
	Calibrated bool
}

func (e *ScoreError) Error() string {
	what := "score"
	if e.Calibrated {
		what = "calibrated probability"
	}
	return fmt.Sprintf("scorer %q: record %d has %s %v, want in [0, 1]", e.Scorer, e.Record, what, e.Value)
}

// Unwrap returns ErrInvalidScore.
func (e *ScoreError) Unwrap() error { return ErrInvalidScore }

// Input is what Build needs: the evaluated records and how each scorer was
// set up to route.
type Input struct {
	// Records are the evaluated items; every one must carry a score for
	// every scorer in Scorers. Cloud-dependent numbers use the records with
	// a cloud label (Record.CloudCorrect set).
	Records []labelled.Record
	// Scorers lists the scorers to report on, in display order.
	Scorers []ScorerSetup
	// LocalModel names the local model, for the header.
	LocalModel string
	// CloudModel names the cloud model.
	CloudModel string
	// Data is the data set's file name.
	Data string
	// DataHash identifies the data set's content, e.g. a SHA-256 hex digest.
	DataHash string
	// Generated is the report's date; the zero time means now.
	Generated time.Time
	// Prices price the cloud's tokens; without a configured price the
	// report shows tokens only.
	Prices Prices
}

// ScorerSetup is one scorer's routing configuration: accept the local answer
// iff its raw score >= Threshold.
type ScorerSetup struct {
	// Name is the scorer's name, the key into Record.Scores.
	Name string
	// Threshold applies to the raw score; it must be finite.
	Threshold float64
	// Calibrator maps the raw score to the probability that the local
	// answer is right; nil means the raw score is that probability.
	Calibrator calib.Calibrator
	// Method is how the threshold was chosen (e.g. "target_accuracy").
	Method string
	// Target is the accuracy promised among accepted answers; 0 if the
	// method promises none, otherwise in (0, 1).
	Target float64
	// Delta is the allowed probability that the promise fails; 0 if none,
	// otherwise in (0, 1).
	Delta float64
	// Guarantee says in one sentence what the threshold promises.
	Guarantee string
}

// Report is the whole evaluation, ready to encode as JSON.
type Report struct {
	// Generated is the report's date.
	Generated time.Time `json:"generated"`
	// LocalModel names the local model.
	LocalModel string `json:"local_model"`
	// CloudModel names the cloud model.
	CloudModel string `json:"cloud_model"`
	// Data is the data set's file name.
	Data string `json:"data"`
	// DataHash identifies the data set's content.
	DataHash string `json:"data_hash"`
	// ReliabilityBins is the number of bins of ECE and the diagrams.
	ReliabilityBins int `json:"reliability_bins"`
	// CloudFraction is the share of always-cloud accuracy that
	// ScorerResult.Cascade.CallRateForCloudFraction refers to.
	CloudFraction float64 `json:"cloud_fraction"`
	// Overall covers every record, with the curves and diagrams.
	Overall Group `json:"overall"`
	// Tasks breaks the key numbers down per task, sorted by task name; nil
	// when no record carries a task.
	Tasks []Group `json:"tasks,omitempty"`
}

// Group is the numbers over one set of records: all of them, or one task's.
type Group struct {
	// Task is the task name; empty for the overall group and for records
	// without a task.
	Task string `json:"task"`
	// Records is the number of records.
	Records int `json:"records"`
	// CloudRecords is the number of records with a cloud label; every
	// cloud-dependent number is computed on those.
	CloudRecords int `json:"cloud_records"`
	// LocalAccuracy is the accuracy of always answering locally.
	LocalAccuracy float64 `json:"local_accuracy"`
	// CloudAccuracy is the accuracy of always escalating; null without
	// cloud labels.
	CloudAccuracy *float64 `json:"cloud_accuracy"`
	// OracleAccuracy is the accuracy of the router that escalates exactly
	// when the local answer is wrong and the cloud's is right.
	OracleAccuracy *float64 `json:"oracle_accuracy"`
	// OracleCallRate is the oracle's cloud-call rate.
	OracleCallRate *float64 `json:"oracle_call_rate"`
	// Costs is what always-local, always-cloud and the oracle spend on the
	// cloud; null without cloud labels.
	Costs *Costs `json:"costs"`
	// Scorers holds one result per scorer, in Input.Scorers order.
	Scorers []ScorerResult `json:"scorers"`
	// Notes explain skipped or partial numbers.
	Notes []string `json:"notes,omitempty"`
}

// ScorerResult is one scorer's numbers over a group.
type ScorerResult struct {
	// Name is the scorer's name.
	Name string `json:"name"`
	// Method is how the threshold was chosen.
	Method string `json:"method,omitempty"`
	// Calibrator names the score-to-probability map: "isotonic", "platt",
	// "none" or the Go type of a custom one.
	Calibrator string `json:"calibrator"`
	// Threshold is the raw-score threshold in force.
	Threshold float64 `json:"threshold"`
	// Target is the promised accuracy among accepted answers, if any.
	Target *float64 `json:"target"`
	// Delta is the allowed failure probability of that promise, if any.
	Delta *float64 `json:"delta"`
	// Guarantee is the threshold method's promise.
	Guarantee string `json:"guarantee,omitempty"`

	// Accepted is the number of records answered locally.
	Accepted int `json:"accepted"`
	// CallRate is the share of records escalated to the cloud.
	CallRate float64 `json:"call_rate"`
	// AcceptedAccuracy is the share of accepted answers that are right;
	// null when nothing is accepted.
	AcceptedAccuracy *float64 `json:"accepted_accuracy"`
	// TargetMet reports AcceptedAccuracy >= Target; null without a target
	// or without accepted answers.
	TargetMet *bool `json:"target_met"`

	// AUROC is the area under the ROC curve of the raw score as a detector
	// of right local answers; null when all answers are right or all wrong.
	AUROC *float64 `json:"auroc"`
	// AUPRC is the average precision of the raw score for right local
	// answers; null when no answer is right.
	AUPRC *float64 `json:"auprc"`
	// ECE is the expected calibration error of the calibrated probability.
	ECE float64 `json:"ece"`
	// MCE is the largest calibration gap over non-empty bins.
	MCE float64 `json:"mce"`
	// Reliability holds the reliability-diagram bins (overall group only).
	Reliability []calib.ReliabilityBin `json:"reliability,omitempty"`
	// RiskCoverage is the risk–coverage curve of the raw score (overall
	// group only).
	RiskCoverage []calib.RiskCoveragePoint `json:"risk_coverage,omitempty"`

	// Cascade holds the cloud-dependent numbers; null without cloud labels.
	Cascade *CascadeResult `json:"cascade"`
	// Notes explain undefined numbers.
	Notes []string `json:"notes,omitempty"`
}

// CascadeResult is what routing on one scorer achieves, on the records with
// a cloud label.
type CascadeResult struct {
	// Records is the number of records with a cloud label.
	Records int `json:"records"`
	// CallRate is the share of those records escalated at the threshold.
	CallRate float64 `json:"call_rate"`
	// Accuracy is the cascade's accuracy at the threshold.
	Accuracy float64 `json:"accuracy"`
	// RandomAccuracy is the expected accuracy of escalating at random at
	// the same call rate.
	RandomAccuracy float64 `json:"random_accuracy"`
	// CurveArea is the area under the accuracy vs. call-rate curve.
	CurveArea float64 `json:"curve_area"`
	// CallRateForCloudFraction is the smallest call rate on the curve whose
	// accuracy reaches CloudFraction of always-cloud accuracy.
	CallRateForCloudFraction float64 `json:"call_rate_for_cloud_fraction"`
	// AccuracyAtCloudFraction is the accuracy at that call rate.
	AccuracyAtCloudFraction float64 `json:"accuracy_at_cloud_fraction"`
	// Curve is the accuracy vs. call-rate curve (overall group only).
	Curve []calib.CascadePoint `json:"curve,omitempty"`
	// Cost is the cascade's cloud spending at the threshold.
	Cost CostResult `json:"cost"`
}

// scored holds one scorer's validated raw scores and probabilities, parallel
// to Input.Records.
type scored struct {
	setup ScorerSetup
	raw   []float64
	prob  []float64
}

// Build computes the report. It fails on empty input, a scorer missing from
// some records, an unusable score or an invalid setup.
func Build(in Input) (*Report, error) {
	if len(in.Records) == 0 {
		return nil, fmt.Errorf("build report: %w", ErrNoRecords)
	}
	if len(in.Scorers) == 0 {
		return nil, fmt.Errorf("build report: %w", ErrNoScorers)
	}
	scorers := make([]scored, len(in.Scorers))
	seen := make(map[string]bool, len(in.Scorers))
	for i, s := range in.Scorers {
		if seen[s.Name] {
			return nil, fmt.Errorf("build report: %w: scorer %q listed twice", ErrInvalidSetup, s.Name)
		}
		seen[s.Name] = true
		sc, err := scoreRecords(in.Records, s)
		if err != nil {
			return nil, fmt.Errorf("build report: %w", err)
		}
		scorers[i] = sc
	}

	gen := in.Generated
	if gen.IsZero() {
		gen = time.Now().UTC().Truncate(time.Second)
	}
	r := &Report{
		Generated:       gen,
		LocalModel:      in.LocalModel,
		CloudModel:      in.CloudModel,
		Data:            in.Data,
		DataHash:        in.DataHash,
		ReliabilityBins: ReliabilityBins,
		CloudFraction:   CloudFraction,
	}
	all := make([]int, len(in.Records))
	for i := range all {
		all[i] = i
	}
	var err error
	if r.Overall, err = buildGroup("", in.Records, all, scorers, in.Prices, true); err != nil {
		return nil, fmt.Errorf("build report: %w", err)
	}

	byTask := map[string][]int{}
	tagged := false
	for i, rec := range in.Records {
		byTask[rec.Task] = append(byTask[rec.Task], i)
		tagged = tagged || rec.Task != ""
	}
	if tagged {
		tasks := make([]string, 0, len(byTask))
		for t := range byTask {
			tasks = append(tasks, t)
		}
		slices.Sort(tasks)
		for _, t := range tasks {
			g, err := buildGroup(t, in.Records, byTask[t], scorers, in.Prices, false)
			if err != nil {
				return nil, fmt.Errorf("build report: task %q: %w", t, err)
			}
			r.Tasks = append(r.Tasks, g)
		}
	}
	return r, nil
}

// scoreRecords validates a setup and extracts its scores from every record.
func scoreRecords(recs []labelled.Record, s ScorerSetup) (scored, error) {
	if s.Name == "" {
		return scored{}, fmt.Errorf("%w: empty scorer name", ErrInvalidSetup)
	}
	if math.IsNaN(s.Threshold) || math.IsInf(s.Threshold, 0) {
		return scored{}, fmt.Errorf("%w: scorer %q threshold %v, want finite", ErrInvalidSetup, s.Name, s.Threshold)
	}
	if !(s.Target == 0 || (s.Target > 0 && s.Target < 1)) {
		return scored{}, fmt.Errorf("%w: scorer %q target %v, want 0 (none) or in (0, 1)", ErrInvalidSetup, s.Name, s.Target)
	}
	if !(s.Delta == 0 || (s.Delta > 0 && s.Delta < 1)) {
		return scored{}, fmt.Errorf("%w: scorer %q delta %v, want 0 (none) or in (0, 1)", ErrInvalidSetup, s.Name, s.Delta)
	}
	sc := scored{setup: s, raw: make([]float64, len(recs)), prob: make([]float64, len(recs))}
	missing := &MissingScoreError{Scorer: s.Name, Records: len(recs), First: -1}
	for i, rec := range recs {
		v, ok := rec.Scores[s.Name]
		if !ok {
			if missing.Missing == 0 {
				missing.First = i
			}
			missing.Missing++
			continue
		}
		if !(v >= 0 && v <= 1) {
			return scored{}, &ScoreError{Scorer: s.Name, Record: i, Value: v}
		}
		p := v
		if s.Calibrator != nil {
			p = s.Calibrator.Predict(v)
			if !(p >= 0 && p <= 1) {
				return scored{}, &ScoreError{Scorer: s.Name, Record: i, Value: p, Calibrated: true}
			}
		}
		sc.raw[i], sc.prob[i] = v, p
	}
	if missing.Missing > 0 {
		return scored{}, missing
	}
	return sc, nil
}

// buildGroup computes the numbers over the records at idx. detail adds the
// curves and diagram bins.
func buildGroup(task string, recs []labelled.Record, idx []int, scorers []scored, prices Prices, detail bool) (Group, error) {
	g := Group{Task: task, Records: len(idx)}
	var cloudIdx []int
	right := 0
	for _, i := range idx {
		if recs[i].LocalCorrect {
			right++
		}
		if recs[i].CloudCorrect != nil {
			cloudIdx = append(cloudIdx, i)
		}
	}
	g.LocalAccuracy = float64(right) / float64(len(idx))
	g.CloudRecords = len(cloudIdx)
	switch {
	case len(cloudIdx) == 0:
		g.Notes = append(g.Notes, "no cloud labels: always-cloud, oracle, random routing, cascade accuracy and the accuracy vs. call-rate curve are skipped")
	case len(cloudIdx) < len(idx):
		g.Notes = append(g.Notes, fmt.Sprintf("cloud labels on only %d of %d records: cloud-dependent numbers use those %d", len(cloudIdx), len(idx), len(cloudIdx)))
	}
	if len(cloudIdx) > 0 {
		acc, rate, err := calib.OracleAccuracy(cascadeSamples(recs, cloudIdx, nil))
		if err != nil {
			return Group{}, fmt.Errorf("oracle: %w", err)
		}
		g.OracleAccuracy, g.OracleCallRate = &acc, &rate
		cloudRight := 0
		for _, i := range cloudIdx {
			if *recs[i].CloudCorrect {
				cloudRight++
			}
		}
		g.CloudAccuracy = ptr(float64(cloudRight) / float64(len(cloudIdx)))
		var notes []string
		g.Costs, notes = buildCosts(recs, cloudIdx, prices)
		if detail { // once, on the overall group; the task groups' numbers say the same
			g.Notes = append(g.Notes, notes...)
		}
	}
	for _, sc := range scorers {
		res, err := buildScorer(recs, idx, cloudIdx, sc, prices, detail)
		if err != nil {
			return Group{}, fmt.Errorf("scorer %q: %w", sc.setup.Name, err)
		}
		if res.Cascade != nil {
			res.Cascade.Cost.setSavings(g.Costs.AlwaysCloud.spend(g.Costs.SavingsBasis), g.Costs.SavingsBasis)
		}
		g.Scorers = append(g.Scorers, res)
	}
	return g, nil
}

// buildScorer computes one scorer's numbers over the records at idx;
// cloudIdx are those with a cloud label.
func buildScorer(recs []labelled.Record, idx, cloudIdx []int, sc scored, prices Prices, detail bool) (ScorerResult, error) {
	s := sc.setup
	res := ScorerResult{
		Name:       s.Name,
		Method:     s.Method,
		Calibrator: calibratorName(s.Calibrator),
		Threshold:  s.Threshold,
		Guarantee:  s.Guarantee,
	}
	if s.Target > 0 {
		res.Target = ptr(s.Target)
	}
	if s.Delta > 0 {
		res.Delta = ptr(s.Delta)
	}

	raw := make([]calib.Sample, len(idx))
	prob := make([]calib.Sample, len(idx))
	acceptedRight := 0
	for k, i := range idx {
		ok := recs[i].LocalCorrect
		raw[k] = calib.Sample{Score: sc.raw[i], Correct: ok}
		prob[k] = calib.Sample{Score: sc.prob[i], Correct: ok}
		if sc.raw[i] >= s.Threshold {
			res.Accepted++
			if ok {
				acceptedRight++
			}
		}
	}
	res.CallRate = 1 - float64(res.Accepted)/float64(len(idx))
	if res.Accepted > 0 {
		acc := float64(acceptedRight) / float64(res.Accepted)
		res.AcceptedAccuracy = &acc
		if s.Target > 0 {
			res.TargetMet = ptr(acc >= s.Target)
		}
	} else {
		res.Notes = append(res.Notes, fmt.Sprintf("threshold %g accepts no answer: accepted accuracy undefined", s.Threshold))
	}

	var err error
	if res.AUROC, err = defined(calib.AUROC(raw)); err != nil {
		return ScorerResult{}, fmt.Errorf("auroc: %w", err)
	}
	if res.AUROC == nil {
		res.Notes = append(res.Notes, "AUROC undefined: local answers are "+oneClass(raw))
	}
	if res.AUPRC, err = defined(calib.AUPRC(raw)); err != nil {
		return ScorerResult{}, fmt.Errorf("auprc: %w", err)
	}
	if res.AUPRC == nil {
		res.Notes = append(res.Notes, "AUPRC undefined: no local answer is right")
	}
	rel, err := calib.ECE(prob, ReliabilityBins)
	if err != nil {
		return ScorerResult{}, fmt.Errorf("ece: %w", err)
	}
	res.ECE, res.MCE = rel.ECE, rel.MCE
	if detail {
		res.Reliability = rel.Bins
		if res.RiskCoverage, err = calib.RiskCoverage(raw); err != nil {
			return ScorerResult{}, fmt.Errorf("risk-coverage: %w", err)
		}
	}
	if len(cloudIdx) > 0 {
		if res.Cascade, err = buildCascade(recs, cloudIdx, sc, prices, detail); err != nil {
			return ScorerResult{}, err
		}
	}
	return res, nil
}

// buildCascade computes the cloud-dependent numbers of one scorer over the
// records at cloudIdx, which all carry a cloud label.
func buildCascade(recs []labelled.Record, cloudIdx []int, sc scored, prices Prices, detail bool) (*CascadeResult, error) {
	samples := cascadeSamples(recs, cloudIdx, sc.raw)
	c := &CascadeResult{Records: len(samples)}
	var calls []int
	escalated, right := 0, 0
	for k, s := range samples {
		switch {
		case s.Score >= sc.setup.Threshold:
			if s.LocalCorrect {
				right++
			}
		default:
			escalated++
			calls = append(calls, cloudIdx[k])
			if s.CloudCorrect {
				right++
			}
		}
	}
	c.Cost = costOf(recs, calls, len(samples), prices)
	n := float64(len(samples))
	c.CallRate = float64(escalated) / n
	c.Accuracy = float64(right) / n
	var err error
	if c.RandomAccuracy, err = calib.RandomRoutingAccuracy(samples, c.CallRate); err != nil {
		return nil, fmt.Errorf("random routing: %w", err)
	}
	curve, err := calib.CallRateCurve(samples)
	if err != nil {
		return nil, fmt.Errorf("call-rate curve: %w", err)
	}
	c.CurveArea = curve.Area
	p, err := curve.MinCallRate(CloudFraction)
	if err != nil {
		return nil, fmt.Errorf("min call rate: %w", err)
	}
	c.CallRateForCloudFraction, c.AccuracyAtCloudFraction = p.CallRate, p.Accuracy
	if detail {
		c.Curve = curve.Points
	}
	return c, nil
}

// cascadeSamples builds the cascade samples of the records at idx, scored
// by raw (all zero scores when raw is nil). Every record must have a cloud
// label.
func cascadeSamples(recs []labelled.Record, idx []int, raw []float64) []calib.CascadeSample {
	out := make([]calib.CascadeSample, len(idx))
	for k, i := range idx {
		out[k] = calib.CascadeSample{LocalCorrect: recs[i].LocalCorrect, CloudCorrect: *recs[i].CloudCorrect}
		if raw != nil {
			out[k].Score = raw[i]
		}
	}
	return out
}
