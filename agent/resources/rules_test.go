package resources

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

func TestEvaluate(t *testing.T) {
	batt := func(on bool, pct float64) Snapshot {
		return Snapshot{OnBattery: ptr(on), BatteryPercent: ptr(pct)}
	}
	hot := func(c float64) Snapshot { return Snapshot{MaxTempC: ptr(c)} }
	tests := []struct {
		name   string
		s      Snapshot
		online bool
		rules  []Rule
		action Action
		fired  []string
	}{
		{"low battery online", batt(true, 15), true, DefaultRules(), ActionPreferCloud, []string{"low-battery"}},
		{"low battery on mains", batt(false, 15), true, DefaultRules(), ActionNone, nil},
		{"battery state unknown", Snapshot{BatteryPercent: ptr(5.0)}, true, DefaultRules(), ActionNone, nil},
		{"hot", hot(90), true, DefaultRules(), ActionSkipLocal, []string{"hot"}},
		{"offline beats hot", hot(90), false, DefaultRules(), ActionForceLocal, []string{"hot", "offline"}},
		{"nothing known online", Snapshot{}, true, DefaultRules(), ActionNone, nil},
		{"nothing known offline", Snapshot{}, false, DefaultRules(), ActionForceLocal, []string{"offline"}},
		{"no rules", hot(120), false, nil, ActionNone, nil},
		{
			"cloud action offline fires but takes no effect", hot(90), false,
			[]Rule{{Name: "hot", When: Condition{TempAbove: ptr(85.0)}, Action: ActionSkipLocal}},
			ActionNone, []string{"hot"},
		},
		{
			"skip_local beats prefer_cloud whatever the order", Snapshot{OnBattery: ptr(true), BatteryPercent: ptr(5.0), MaxTempC: ptr(99.0)}, true,
			[]Rule{
				{Name: "hot", When: Condition{TempAbove: ptr(85.0)}, Action: ActionSkipLocal},
				{Name: "low", When: Condition{BatteryBelow: ptr(10.0)}, Action: ActionPreferCloud},
			},
			ActionSkipLocal, []string{"hot", "low"},
		},
		{
			"force_local online, e.g. save mobile data on battery", batt(true, 50), true,
			[]Rule{
				{Name: "battery-local", When: Condition{OnBattery: ptr(true)}, Action: ActionForceLocal},
				{Name: "any-battery", When: Condition{BatteryBelow: ptr(100.0)}, Action: ActionPreferCloud},
			},
			ActionForceLocal, []string{"battery-local", "any-battery"},
		},
		{
			"a threshold of 0 is a threshold", hot(0.5), true,
			[]Rule{
				{Name: "above-zero", When: Condition{TempAbove: ptr(0.0)}, Action: ActionPreferCloud},
				{Name: "below-zero-percent", When: Condition{BatteryBelow: ptr(0.0)}, Action: ActionSkipLocal},
			},
			ActionPreferCloud, []string{"above-zero"},
		},
		{
			"every field must hold", Snapshot{OnBattery: ptr(true), BatteryPercent: ptr(50.0), MaxTempC: ptr(90.0)}, true,
			[]Rule{{Name: "both", When: Condition{OnBattery: ptr(true), BatteryBelow: ptr(20.0), TempAbove: ptr(80.0)}, Action: ActionSkipLocal}},
			ActionNone, nil,
		},
		{
			"offline: false fires only online", Snapshot{}, true,
			[]Rule{{Name: "online-only", When: Condition{Offline: ptr(false)}, Action: ActionPreferCloud}},
			ActionPreferCloud, []string{"online-only"},
		},
		{
			"unvalidated rules: empty condition never fires, unknown action has no effect", hot(90), true,
			[]Rule{{Name: "empty", Action: ActionSkipLocal}, {Name: "odd", When: Condition{TempAbove: ptr(1.0)}, Action: "reboot"}},
			ActionNone, []string{"odd"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Evaluate(tc.s, tc.online, tc.rules)
			if v.Action != tc.action || !reflect.DeepEqual(v.Fired, tc.fired) {
				t.Errorf("got %q %v, want %q %v", v.Action, v.Fired, tc.action, tc.fired)
			}
		})
	}
}

func TestVerdictReason(t *testing.T) {
	for _, tc := range []struct {
		v    Verdict
		want string
	}{
		{Verdict{}, ""},
		{Verdict{Action: ActionSkipLocal, Fired: []string{"low-battery", "hot"}}, "resource rules low-battery, hot: skip_local"},
		{Verdict{Fired: []string{"hot"}}, "resource rules hot fired; no action applies offline"},
	} {
		if got := tc.v.Reason(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestValidateRules(t *testing.T) {
	rule := func(name string, c Condition, a Action) Rule { return Rule{Name: name, When: c, Action: a} }
	hot := Condition{TempAbove: ptr(85.0)}
	tests := []struct {
		name     string
		rules    []Rule
		sentinel error
		field    string
		mention  string // the message names the rule
	}{
		{"defaults are valid", DefaultRules(), nil, "", ""},
		{"no rules are valid", nil, nil, "", ""},
		{"zero thresholds are valid", []Rule{rule("z", Condition{TempAbove: ptr(0.0), BatteryBelow: ptr(0.0)}, ActionPreferCloud)}, nil, "", ""},
		{"unknown action", []Rule{rule("hot", hot, "cool_down")}, ErrUnknownAction, "action", `rule "hot": action: unknown action "cool_down"`},
		{"missing action", []Rule{rule("hot", hot, "")}, ErrUnknownAction, "action", `rule "hot"`},
		{"empty condition", []Rule{rule("always", Condition{}, ActionSkipLocal)}, ErrEmptyCondition, "", `rule "always": empty condition`},
		{"negative battery", []Rule{rule("low", Condition{BatteryBelow: ptr(-1.0)}, ActionPreferCloud)}, ErrBadThreshold, "battery_below", `rule "low": battery_below`},
		{"battery over 100", []Rule{rule("low", Condition{BatteryBelow: ptr(120.0)}, ActionPreferCloud)}, ErrBadThreshold, "battery_below", `got 120`},
		{"battery NaN", []Rule{rule("low", Condition{BatteryBelow: ptr(math.NaN())}, ActionPreferCloud)}, ErrBadThreshold, "battery_below", `rule "low"`},
		{"negative temperature", []Rule{rule("cold", Condition{TempAbove: ptr(-5.0)}, ActionSkipLocal)}, ErrBadThreshold, "temp_above", `rule "cold": temp_above`},
		{"infinite temperature", []Rule{rule("never", Condition{TempAbove: ptr(math.Inf(1))}, ActionSkipLocal)}, ErrBadThreshold, "temp_above", `rule "never"`},
		{"no name", []Rule{DefaultRules()[0], rule("", hot, ActionSkipLocal)}, ErrNoName, "name", "rule 1: name"},
		{"duplicate name", []Rule{rule("hot", hot, ActionSkipLocal), rule("hot", hot, ActionPreferCloud)}, ErrNoName, "name", `rule "hot": name`},
		{"cloud action only offline", []Rule{rule("odd", Condition{Offline: ptr(true)}, ActionPreferCloud)}, ErrNeverApplies, "offline", `rule "odd"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateRules(tc.rules)
			if tc.sentinel == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v is not %v", err, tc.sentinel)
			}
			var re *RuleError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Errorf("want a *RuleError for field %q, got %#v", tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("message %q does not contain %q", err, tc.mention)
			}
		})
	}
}

func TestValidateRulesReportsEveryRule(t *testing.T) {
	err := ValidateRules([]Rule{
		{Name: "a", Action: ActionSkipLocal},
		{Name: "b", When: Condition{TempAbove: ptr(-1.0)}, Action: ActionSkipLocal},
	})
	if !errors.Is(err, ErrEmptyCondition) || !errors.Is(err, ErrBadThreshold) {
		t.Errorf("want both problems, got %v", err)
	}
}

const rulesYAML = `
rules:
  - {name: low-battery, on_battery: true, battery_below: 20, action: prefer_cloud}
  - {name: hot, temp_above: 85, action: skip_local}
  - {name: offline, offline: true, action: force_local}
`

// TestRulesFromViper decodes rules the way configs.Load does: viper, then
// mapstructure.
func TestRulesFromViper(t *testing.T) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(rulesYAML)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rules []Rule `mapstructure:"rules"`
	}
	if err := v.Unmarshal(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Rules, DefaultRules()) {
		t.Errorf("decoded %+v, want the defaults %+v", got.Rules, DefaultRules())
	}
	if err := ValidateRules(got.Rules); err != nil {
		t.Error(err)
	}
}

func TestRulesYAML(t *testing.T) {
	var got struct {
		Rules []Rule `yaml:"rules"`
	}
	if err := yaml.Unmarshal([]byte(rulesYAML), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Rules, DefaultRules()) {
		t.Errorf("decoded %+v, want the defaults", got.Rules)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(DefaultRules()[1]); err != nil {
		t.Fatal(err)
	}
	if want := "name: hot\ntemp_above: 85\naction: skip_local\n"; buf.String() != want {
		t.Errorf("encoded %q, want %q", buf.String(), want)
	}
}
