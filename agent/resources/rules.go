package resources

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Action is what a rule asks of the cascade.
type Action string

// The actions, weakest first. When several rules fire, the strongest action
// is in force.
const (
	// ActionNone leaves routing to the confidence scorer.
	ActionNone Action = ""
	// ActionPreferCloud sends requests straight to the cloud without a local
	// attempt while the cloud is reachable; the local model may still answer
	// when the cloud call fails.
	ActionPreferCloud Action = "prefer_cloud"
	// ActionSkipLocal is the stronger form (e.g. overheating): the local model
	// is not run at all while the cloud is reachable, not even as a fallback.
	ActionSkipLocal Action = "skip_local"
	// ActionForceLocal answers locally and never escalates; with an offline
	// condition it beats every other action, since the cloud is out of reach.
	ActionForceLocal Action = "force_local"
)

// actions lists the valid actions for messages.
const actions = "prefer_cloud, skip_local or force_local"

func (a Action) rank() int {
	switch a {
	case ActionPreferCloud:
		return 1
	case ActionSkipLocal:
		return 2
	case ActionForceLocal:
		return 3
	}
	return 0
}

// needsCloud reports whether the action only makes sense with the cloud
// reachable.
func (a Action) needsCloud() bool { return a == ActionPreferCloud || a == ActionSkipLocal }

// Condition is what must hold for a rule to fire: every field that is set,
// and at least one must be. A field whose input is unknown (no battery, no
// thermal zone) does not hold. Pointers tell "unset" from a threshold of 0.
type Condition struct {
	// OnBattery holds when the snapshot's OnBattery equals it.
	OnBattery *bool `mapstructure:"on_battery" yaml:"on_battery,omitempty"`
	// BatteryBelow holds when the battery charge is below this percentage.
	BatteryBelow *float64 `mapstructure:"battery_below" yaml:"battery_below,omitempty"`
	// TempAbove holds when the hottest thermal zone is above this, in °C.
	TempAbove *float64 `mapstructure:"temp_above" yaml:"temp_above,omitempty"`
	// Offline holds when the cloud's reachability, which the caller knows,
	// is the opposite of it: offline: true fires when the cloud is out of
	// reach.
	Offline *bool `mapstructure:"offline" yaml:"offline,omitempty"`
}

// empty reports whether no field is set.
func (c Condition) empty() bool {
	return c.OnBattery == nil && c.BatteryBelow == nil && c.TempAbove == nil && c.Offline == nil
}

// holds evaluates the condition; an empty one never holds.
func (c Condition) holds(s Snapshot, online bool) bool {
	if c.empty() {
		return false
	}
	if c.OnBattery != nil && (s.OnBattery == nil || *s.OnBattery != *c.OnBattery) {
		return false
	}
	if c.BatteryBelow != nil && (s.BatteryPercent == nil || !(*s.BatteryPercent < *c.BatteryBelow)) {
		return false
	}
	if c.TempAbove != nil && (s.MaxTempC == nil || !(*s.MaxTempC > *c.TempAbove)) {
		return false
	}
	if c.Offline != nil && *c.Offline == online {
		return false
	}
	return true
}

// Rule fires its action when its condition holds. The struct decodes straight
// from configuration, condition fields inline:
//
//	rules:
//	  - {name: low-battery, on_battery: true, battery_below: 20, action: prefer_cloud}
//	  - {name: hot, temp_above: 85, action: skip_local}
//	  - {name: offline, offline: true, action: force_local}
type Rule struct {
	// Name identifies the rule in errors and in Verdict.Fired.
	Name string `mapstructure:"name" yaml:"name"`
	// When is the condition.
	When Condition `mapstructure:",squash" yaml:",inline"`
	// Action is prefer_cloud, skip_local or force_local.
	Action Action `mapstructure:"action" yaml:"action"`
}

// DefaultRules returns the built-in rules: prefer the cloud on battery below
// 20%, skip local generation above 85 °C, stay local when offline.
func DefaultRules() []Rule {
	yes := func() *bool { v := true; return &v }
	num := func(v float64) *float64 { return &v }
	return []Rule{
		{Name: "low-battery", When: Condition{OnBattery: yes(), BatteryBelow: num(20)}, Action: ActionPreferCloud},
		{Name: "hot", When: Condition{TempAbove: num(85)}, Action: ActionSkipLocal},
		{Name: "offline", When: Condition{Offline: yes()}, Action: ActionForceLocal},
	}
}

// Sentinel errors that a *RuleError wraps.
var (
	// ErrNoName is a rule without a name, or with one used before.
	ErrNoName = errors.New("rule needs a unique name")
	// ErrUnknownAction is an action that is not prefer_cloud, skip_local or
	// force_local.
	ErrUnknownAction = errors.New("unknown action")
	// ErrEmptyCondition is a rule with no condition field set.
	ErrEmptyCondition = errors.New("empty condition")
	// ErrBadThreshold is a negative, out-of-range or non-finite threshold.
	ErrBadThreshold = errors.New("bad threshold")
	// ErrNeverApplies is a rule that can fire but never take effect: an
	// action that needs the cloud with a condition that needs it offline.
	ErrNeverApplies = errors.New("rule can never take effect")
)

// RuleError names the rule and the field that are wrong.
type RuleError struct {
	// Index is the rule's position in the list.
	Index int
	// Name is the rule's name, possibly empty.
	Name string
	// Field is the configuration key: name, action, battery_below, ...
	Field string
	// Err wraps one of the sentinel errors with the detail.
	Err error
}

// Error names the rule (by name, else by position), the field and the problem.
func (e *RuleError) Error() string {
	who := fmt.Sprintf("rule %d", e.Index)
	if e.Name != "" {
		who = fmt.Sprintf("rule %q", e.Name)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", who, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", who, e.Field, e.Err)
}

// Unwrap returns the sentinel-wrapping cause.
func (e *RuleError) Unwrap() error { return e.Err }

// validate checks one rule; index is its position, for the message.
func (r Rule) validate(index int) error {
	bad := func(field string, err error) error {
		return &RuleError{Index: index, Name: r.Name, Field: field, Err: err}
	}
	if strings.TrimSpace(r.Name) == "" {
		return bad("name", ErrNoName)
	}
	switch r.Action {
	case ActionPreferCloud, ActionSkipLocal, ActionForceLocal:
	default:
		return bad("action", fmt.Errorf("%w %q: want %s", ErrUnknownAction, string(r.Action), actions))
	}
	c := r.When
	if c.empty() {
		return bad("", fmt.Errorf("%w: set on_battery, battery_below, temp_above or offline", ErrEmptyCondition))
	}
	if v := c.BatteryBelow; v != nil && (math.IsNaN(*v) || *v < 0 || *v > 100) {
		return bad("battery_below", fmt.Errorf("%w: want a percentage in 0-100, got %v", ErrBadThreshold, *v))
	}
	if v := c.TempAbove; v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0) {
		return bad("temp_above", fmt.Errorf("%w: want degrees Celsius >= 0, got %v", ErrBadThreshold, *v))
	}
	if r.Action.needsCloud() && c.Offline != nil && *c.Offline {
		return bad("offline", fmt.Errorf("%w: %s needs the cloud, but the rule fires only offline", ErrNeverApplies, r.Action))
	}
	return nil
}

// ValidateRules checks every rule and that names are unique, and returns
// every problem found (each a *RuleError), or nil.
func ValidateRules(rules []Rule) error {
	var errs []error
	seen := make(map[string]int, len(rules))
	for i, r := range rules {
		if err := r.validate(i); err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := seen[r.Name]; dup {
			errs = append(errs, &RuleError{Index: i, Name: r.Name, Field: "name",
				Err: fmt.Errorf("%w: rule %d has the same name", ErrNoName, j)})
			continue
		}
		seen[r.Name] = i
	}
	return errors.Join(errs...)
}

// Verdict is the outcome of Evaluate.
type Verdict struct {
	// Action is the action in force; ActionNone leaves routing to the scorer.
	Action Action
	// Fired names every rule whose condition held, in rule order, including
	// any whose action could not take effect (a cloud action while offline).
	Fired []string
}

// Reason describes the verdict for cascade.reason; empty when no rule fired.
func (v Verdict) Reason() string {
	if len(v.Fired) == 0 {
		return ""
	}
	rules := strings.Join(v.Fired, ", ")
	if v.Action == ActionNone {
		return "resource rules " + rules + " fired; no action applies offline"
	}
	return fmt.Sprintf("resource rules %s: %s", rules, v.Action)
}

// Evaluate applies rules to a snapshot. online is whether the cloud is
// reachable, which the caller knows. Every rule whose condition holds is named
// in Fired; the strongest action among them is in force: force_local beats
// skip_local beats prefer_cloud. Cloud actions take effect only while online:
// offline, they are named but put nothing in force. Rules should have passed
// ValidateRules; a rule with an empty condition never fires and one with an
// unknown action fires without effect.
func Evaluate(s Snapshot, online bool, rules []Rule) Verdict {
	var v Verdict
	for _, r := range rules {
		if !r.When.holds(s, online) {
			continue
		}
		v.Fired = append(v.Fired, r.Name)
		if r.Action.needsCloud() && !online {
			continue
		}
		if r.Action.rank() > v.Action.rank() {
			v.Action = r.Action
		}
	}
	return v
}

// Policy applies rules to the machine's state as a Monitor reads it.
type Policy struct {
	m     *Monitor
	rules []Rule
}

// NewPolicy returns the rules over m, after ValidateRules.
func NewPolicy(m *Monitor, rules []Rule) (*Policy, error) {
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	return &Policy{m: m, rules: append([]Rule(nil), rules...)}, nil
}

// Evaluate reads the machine's state (cached per the Monitor's interval) and
// applies the rules; online is whether the cloud may be called now.
func (p *Policy) Evaluate(ctx context.Context, online bool) Verdict {
	return Evaluate(p.m.Snapshot(ctx), online, p.rules)
}
