package calib

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgecascade/edgecascade/uq"
)

// FileVersion is the version of the calibration file format this code
// writes and reads.
const FileVersion = 1

// File is a calibration file: what `edgecascade calibrate` writes and the
// daemon loads (setting cascade.calibration). It holds a fit for every
// scorer so that the scorer can be switched in config without re-running the
// model; Scorer names the one the user calibrated for.
type File struct {
	Version     int                  `json:"version"`
	CreatedAt   time.Time            `json:"created_at"`
	LocalModel  string               `json:"local_model"`
	LocalDigest string               `json:"local_digest,omitempty"`
	Data        string               `json:"data"`
	DataHash    string               `json:"data_hash"`
	Matcher     string               `json:"matcher"`
	Items       int                  `json:"items"`
	Correct     int                  `json:"local_correct"`
	Scorer      string               `json:"scorer"`
	Method      Method               `json:"method"`
	Params      Params               `json:"params"`
	Scorers     map[string]ScorerFit `json:"scorers"`
	// Combined is the stacked scorer's logistic regression over the other
	// scorers, fitted on part of the data (its fit's Certification says
	// which: the rest certifies it); nil when it could not be fitted.
	Combined *uq.Stack `json:"combined,omitempty"`
	// Stages is the joint calibration of a cascade with more than one
	// local stage (cascade.stages); nil otherwise.
	Stages *StagesFit `json:"stages,omitempty"`
	// Groups are the clusters of the prompts' embeddings (calibrate
	// --groups K); nil in files without (older ones included).
	Groups *Groups `json:"groups,omitempty"`
}

// StagesFit is the joint calibration of every local stage's threshold
// (JointTargetAccuracy): the thresholds, by stage, and what they achieved
// on the calibration data.
type StagesFit struct {
	Stages []StageFit  `json:"stages"`
	Result JointResult `json:"result"`
	// Alone is each local stage alone before the cloud at the same
	// promise (the two-stage cascades), for comparison.
	Alone []StageAlone `json:"alone,omitempty"`
	// StageByStage are the thresholds chosen one stage at a time
	// (StageByStage), for comparison.
	StageByStage []float64 `json:"stage_by_stage,omitempty"`
}

// StageAlone is one local stage alone before the cloud, calibrated for
// the same promise.
type StageAlone struct {
	Name   string      `json:"name"`
	Result JointResult `json:"result"`
}

// StageFit is one local stage's calibrated threshold.
type StageFit struct {
	Name      string  `json:"name"`
	Model     string  `json:"model"`
	Scorer    string  `json:"scorer"`
	Threshold float64 `json:"threshold"`
}

// Stage returns the fit of the stage named name with model and scorer, or
// an error saying why the file has none.
func (f *File) Stage(name, model, scorer string) (StageFit, error) {
	if f.Stages == nil {
		return StageFit{}, errors.New("no joint calibration of the stages: re-run edgecascade calibrate with cascade.stages")
	}
	for _, s := range f.Stages.Stages {
		if s.Name != name {
			continue
		}
		if s.Model != model || s.Scorer != scorer {
			return StageFit{}, fmt.Errorf("stage %s was calibrated with model %q and scorer %q, but is configured with %q and %q: re-run edgecascade calibrate", name, s.Model, s.Scorer, model, scorer)
		}
		return s, nil
	}
	return StageFit{}, fmt.Errorf("no calibration for stage %s: re-run edgecascade calibrate with cascade.stages", name)
}

// Params are the method's inputs as the user gave them.
type Params struct {
	TargetAccuracy  float64 `json:"target_accuracy,omitempty"`
	Delta           float64 `json:"delta,omitempty"`
	TargetCloudRate float64 `json:"target_cloud_rate,omitempty"`
	CostLambda      float64 `json:"cost_lambda,omitempty"`
	LocalCost       float64 `json:"local_cost,omitempty"`
	CloudCost       float64 `json:"cloud_cost,omitempty"`
	CloudAccuracy   float64 `json:"cloud_accuracy,omitempty"`
}

// ScorerFit is one scorer's calibration: its threshold (nil when the method
// could not produce one, with Error saying why), what the threshold achieved
// on the calibration data, the score-to-probability map, and AUROC.
type ScorerFit struct {
	Threshold *float64 `json:"threshold"`
	Result    *Result  `json:"result,omitempty"`
	Error     string   `json:"error,omitempty"`
	Map       Isotonic `json:"probability_map"`
	AUROC     *float64 `json:"auroc"`
	// Certification says which records the threshold, map and AUROC come
	// from: all calibration records for a scorer with nothing fitted on
	// them; for combined, the records held out from fitting its stack.
	Certification string `json:"certification,omitempty"`
}

// Fit returns the fit for a scorer with a usable threshold, or an error
// saying why there is none.
func (f *File) Fit(scorer string) (ScorerFit, error) {
	fit, ok := f.Scorers[scorer]
	if !ok {
		return ScorerFit{}, fmt.Errorf("calibration has no fit for scorer %q", scorer)
	}
	if fit.Threshold == nil {
		return ScorerFit{}, fmt.Errorf("calibration has no threshold for scorer %q: %s", scorer, fit.Error)
	}
	return fit, nil
}

// CheckModel returns an error when the file was calibrated for another local
// model than localModel (the one in use: local.model).
func (f *File) CheckModel(localModel string) error {
	if f.LocalModel != localModel {
		return fmt.Errorf("calibrated for local model %q, but local.model is %q: re-run edgecascade calibrate", f.LocalModel, localModel)
	}
	return nil
}

// Check returns the fit the daemon routes with for localModel and scorer,
// or an error saying why the file cannot give one: it was calibrated for
// another local model, it has no combined fit for the combined scorer, or
// no threshold for the scorer. serve, doctor and eval all check a file with
// it (eval, which uses every scorer, with CheckModel alone).
func (f *File) Check(localModel, scorer string) (ScorerFit, error) {
	if err := f.CheckModel(localModel); err != nil {
		return ScorerFit{}, err
	}
	if scorer == uq.Combined && f.Combined == nil {
		return ScorerFit{}, errors.New("no combined fit for cascade.scorer combined: re-run edgecascade calibrate")
	}
	fit, err := f.Fit(scorer)
	if err != nil {
		return ScorerFit{}, fmt.Errorf("%w: re-run edgecascade calibrate or choose another cascade.scorer", err)
	}
	return fit, nil
}

// Validate checks a decoded file.
func (f *File) Validate() error {
	if f.Version != FileVersion {
		return fmt.Errorf("calibration file version %d is not supported (want %d): re-run edgecascade calibrate", f.Version, FileVersion)
	}
	if f.LocalModel == "" {
		return errors.New("calibration file names no local model")
	}
	if len(f.Scorers) == 0 {
		return errors.New("calibration file has no scorers")
	}
	if f.Combined != nil {
		if err := f.Combined.Validate(); err != nil {
			return err
		}
	}
	if f.Groups != nil {
		if err := f.Groups.validate(); err != nil {
			return err
		}
	}
	if f.Stages != nil {
		for _, s := range f.Stages.Stages {
			if !isFinite(s.Threshold) || s.Threshold < 0 {
				return fmt.Errorf("stage %s: invalid threshold %v", s.Name, s.Threshold)
			}
		}
	}
	for name, fit := range f.Scorers {
		if fit.Threshold != nil && (!isFinite(*fit.Threshold) || *fit.Threshold < 0) {
			return fmt.Errorf("scorer %s: invalid threshold %v", name, *fit.Threshold)
		}
		if err := fit.Map.Validate(); err != nil {
			return fmt.Errorf("scorer %s: probability map: %w", name, err)
		}
	}
	return nil
}

// ReadFile reads and validates a calibration file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read calibration: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	return &f, nil
}

// WriteFile writes the file atomically (temporary file, then rename), so a
// daemon reloading on SIGHUP never reads half a file.
func (f *File) WriteFile(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode calibration: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".calibration-*.json")
	if err != nil {
		return fmt.Errorf("write calibration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write calibration: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write calibration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write calibration: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // readable by a daemon running as another user
		return fmt.Errorf("write calibration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write calibration: %w", err)
	}
	return nil
}
