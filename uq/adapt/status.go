package adapt

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// WindowStatus is one window as /healthz, /metrics and `edgecascade adapt
// status` show it.
type WindowStatus struct {
	// Group is "" for the global window.
	Group string `json:"group"`
	// Threshold is the window's threshold; EscalateAll is set when it
	// escalates every answer.
	Threshold   float64 `json:"threshold"`
	EscalateAll bool    `json:"escalate_all"`
	// Own is whether requests of the group use this window's threshold (a
	// group needs GroupMinLabels labels; the global window always is).
	Own bool `json:"own"`
	// Bound is the lower confidence bound on the accuracy of the answers
	// accepted at Threshold; nil while the window has too few labels (or
	// escalates everything).
	Bound *float64 `json:"bound"`
	// Below is set while the bound at the threshold in force is under the
	// target (a drift: the threshold has moved up).
	Below     bool `json:"below_target"`
	Decisions int  `json:"decisions"`
	// Labels counts the window's labels by source; Total every label the
	// window ever took.
	Labels map[string]int `json:"labels"`
	Total  map[string]int `json:"labels_total"`
}

// Status is the engine's state in brief.
type Status struct {
	Target     float64        `json:"target"`
	Confidence float64        `json:"confidence"`
	Window     int            `json:"window"`
	Global     WindowStatus   `json:"global"`
	Groups     []WindowStatus `json:"groups,omitempty"`
}

// Status reports the engine's windows.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Status{Target: e.cfg.Target, Confidence: 1 - e.cfg.Delta, Window: e.cfg.Window, Global: e.global.status("", true)}
	for _, g := range slices.Sorted(maps.Keys(e.groups)) {
		w := e.groups[g]
		st.Groups = append(st.Groups, w.status(g, w.labels() >= e.cfg.GroupMinLabels))
	}
	return st
}

func (w *window) status(group string, own bool) WindowStatus {
	s := WindowStatus{Group: group, Threshold: w.Threshold, EscalateAll: w.Threshold >= EscalateAll, Own: own,
		Bound: w.Bound, Below: w.Below, Decisions: len(w.Items), Labels: map[string]int{}, Total: map[string]int{}}
	for _, src := range Sources {
		s.Labels[src], s.Total[src] = 0, w.Total[src]
	}
	for _, it := range w.Items {
		if it.Labelled {
			s.Labels[it.Source]++
		}
	}
	if s.Bound != nil {
		b := *s.Bound
		s.Bound = &b
	}
	return s
}

// stateVersion is the version of the state file format.
const stateVersion = 1

// state is what Save writes.
type state struct {
	Version int                `json:"version"`
	Target  float64            `json:"target"`
	Global  *window            `json:"global"`
	Groups  map[string]*window `json:"groups"`
}

// Changes counts the engine's state changes: a caller saves when it moved.
func (e *Engine) Changes() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changes
}

// Save writes the engine's state to path atomically (a temporary file
// renamed over it).
func (e *Engine) Save(path string) error {
	e.mu.Lock()
	b, err := json.Marshal(state{Version: stateVersion, Target: e.cfg.Target, Global: e.global, Groups: e.groups})
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode the adaptation state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".adapt-*.tmp")
	if err != nil {
		return fmt.Errorf("save the adaptation state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save the adaptation state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save the adaptation state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save the adaptation state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save the adaptation state: %w", err)
	}
	return nil
}

// Load returns an engine with the state saved at path, or a new one when
// there is no file. A state saved for another target is not used: the
// windows' labels are kept, but thresholds restart from cfg's.
func Load(path string, cfg Config) (*Engine, error) {
	e := New(cfg)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the adaptation state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read the adaptation state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("adaptation state %s: version %d, this build reads %d (delete the file to start over)", path, st.Version, stateVersion)
	}
	fix := func(w *window) *window {
		if w == nil {
			return e.cfg.newWindow()
		}
		if w.Total == nil {
			w.Total = map[string]int{}
		}
		if over := len(w.Items) - e.cfg.Window; over > 0 {
			w.Items = w.Items[over:]
		}
		if st.Target != e.cfg.Target {
			w.Threshold, w.Bound, w.Below = e.cfg.Initial, nil, false
		}
		return w
	}
	e.global = fix(st.Global)
	for g, w := range st.Groups {
		e.groups[g] = fix(w)
	}
	// The thresholds follow this configuration's bound from the labels kept.
	for g, w := range e.groups {
		e.recompute(w, g)
	}
	e.recompute(e.global, "")
	return e, nil
}
