package report

import (
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// costRows is tenRows with cloud token counts: record i used 100·(i+1)
// prompt and 5 completion tokens from openai gpt-4o-mini. At threshold 0.5
// the cascade escalates records 5–9; the oracle escalates 3, 5 and 8.
//
// Hand-computed at 0.5 per 1K prompt and 2 per 1K completion tokens:
//
//	always-cloud: 5500 + 50 tokens, 2.75 + 0.10 = 2.85, 285 per 1K queries
//	cascade:      4000 + 25 tokens, 2.00 + 0.05 = 2.05, 205 per 1K queries
//	oracle:       1900 + 15 tokens, 0.95 + 0.03 = 0.98,  98 per 1K queries
func costRows(edit func(i int, r *labelled.Record)) Input {
	in := testInput(tenRows(), ScorerSetup{Name: "s", Threshold: 0.5})
	for i := range in.Records {
		r := &in.Records[i]
		r.CloudProvider, r.CloudModel = "openai", "gpt-4o-mini-2024-07-18"
		r.CloudUsage = &labelled.CloudUsage{PromptTokens: 100 * (i + 1), CompletionTokens: 5}
		if edit != nil {
			edit(i, r)
		}
	}
	return in
}

var testPrices = Prices{{Provider: "openai", Model: "gpt-4o-mini", Price: cloud.Price{InputPer1K: 0.5, OutputPer1K: 2}}}

// wantCost is the expected numbers of one router; nil pointers mean null.
type wantCost struct {
	calls, prompt, completion, estimated, unknown int
	tokensPer1K, costPer1K, savings               *float64
}

func checkCost(t *testing.T, name string, got CostResult, want wantCost) {
	t.Helper()
	if got.CloudCalls != want.calls || got.PromptTokens != want.prompt || got.CompletionTokens != want.completion ||
		got.EstimatedCalls != want.estimated || got.UnknownCalls != want.unknown {
		t.Errorf("%s: %+v, want %+v", name, got, want)
	}
	for _, f := range []struct {
		what      string
		got, want *float64
	}{{"tokens per 1K", got.TokensPer1K, want.tokensPer1K}, {"cost per 1K", got.CostPer1K, want.costPer1K}, {"savings", got.Savings, want.savings}} {
		switch {
		case f.want == nil && f.got != nil:
			t.Errorf("%s: %s = %v, want null", name, f.what, *f.got)
		case f.want != nil:
			checkPtr(t, name+": "+f.what, f.got, *f.want)
		}
	}
}

func TestCosts(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name                          string
		in                            Input
		prices                        Prices
		basis                         string
		local, cloud, cascade, oracle wantCost
		note                          string
	}{
		{
			name: "priced", in: costRows(nil), prices: testPrices, basis: SavingsOnCost,
			local:   wantCost{tokensPer1K: f(0), costPer1K: f(0), savings: f(1)},
			cloud:   wantCost{calls: 10, prompt: 5500, completion: 50, tokensPer1K: f(555000), costPer1K: f(285), savings: f(0)},
			cascade: wantCost{calls: 5, prompt: 4000, completion: 25, tokensPer1K: f(402500), costPer1K: f(205), savings: f(1 - 2.05/2.85)},
			oracle:  wantCost{calls: 3, prompt: 1900, completion: 15, tokensPer1K: f(191500), costPer1K: f(98), savings: f(1 - 0.98/2.85)},
		},
		{
			name: "no prices: tokens only", in: costRows(nil), prices: nil, basis: SavingsOnTokens,
			local:   wantCost{tokensPer1K: f(0), savings: f(1)},
			cloud:   wantCost{calls: 10, prompt: 5500, completion: 50, tokensPer1K: f(555000), savings: f(0)},
			cascade: wantCost{calls: 5, prompt: 4000, completion: 25, tokensPer1K: f(402500), savings: f(1 - 4025.0/5550)},
			oracle:  wantCost{calls: 3, prompt: 1900, completion: 15, tokensPer1K: f(191500), savings: f(1 - 1915.0/5550)},
			note:    "no cloud prices configured",
		},
		{
			// Record 1 (accepted by the cascade, not an oracle call) has
			// unknown counts: always-cloud's total is unknown, so is every
			// saving; the cascade's and the oracle's own costs are known.
			name: "unknown counts", prices: testPrices, basis: SavingsOnCost,
			in: costRows(func(i int, r *labelled.Record) {
				if i == 1 {
					r.CloudUsage = nil
				}
			}),
			local:   wantCost{tokensPer1K: f(0), costPer1K: f(0)},
			cloud:   wantCost{calls: 10, prompt: 5300, completion: 45, unknown: 1},
			cascade: wantCost{calls: 5, prompt: 4000, completion: 25, tokensPer1K: f(402500), costPer1K: f(205)},
			oracle:  wantCost{calls: 3, prompt: 1900, completion: 15, tokensPer1K: f(191500), costPer1K: f(98)},
			note:    "token counts of 1 of 10 cloud answers are unknown",
		},
		{
			name: "estimated counts", prices: testPrices, basis: SavingsOnCost,
			in: costRows(func(i int, r *labelled.Record) {
				if i == 5 {
					r.CloudUsage.Estimated = true
				}
			}),
			local:   wantCost{tokensPer1K: f(0), costPer1K: f(0), savings: f(1)},
			cloud:   wantCost{calls: 10, prompt: 5500, completion: 50, estimated: 1, tokensPer1K: f(555000), costPer1K: f(285), savings: f(0)},
			cascade: wantCost{calls: 5, prompt: 4000, completion: 25, estimated: 1, tokensPer1K: f(402500), costPer1K: f(205), savings: f(1 - 2.05/2.85)},
			oracle:  wantCost{calls: 3, prompt: 1900, completion: 15, estimated: 1, tokensPer1K: f(191500), costPer1K: f(98), savings: f(1 - 0.98/2.85)},
			note:    "1 of 10 cloud answers are estimated",
		},
		{
			// Records 0–4 were answered by a fallback anthropic provider at
			// 1 and 4 per 1K: 1500·1/1000 + 25·4/1000 = 1.6, plus the openai
			// records 5–9, 2.05: always-cloud 3.65. The oracle's record 3
			// costs 0.4 + 0.02, records 5 and 8 (600+900)·0.5/1000 +
			// 10·2/1000 = 0.77: 1.19.
			name: "two providers", basis: SavingsOnCost,
			prices: append(Prices{{Provider: "anthropic", Model: "claude-x", Price: cloud.Price{InputPer1K: 1, OutputPer1K: 4}}}, testPrices...),
			in: costRows(func(i int, r *labelled.Record) {
				if i < 5 {
					r.CloudProvider, r.CloudModel = "anthropic", "claude-x-latest"
				}
			}),
			local:   wantCost{tokensPer1K: f(0), costPer1K: f(0), savings: f(1)},
			cloud:   wantCost{calls: 10, prompt: 5500, completion: 50, tokensPer1K: f(555000), costPer1K: f(365), savings: f(0)},
			cascade: wantCost{calls: 5, prompt: 4000, completion: 25, tokensPer1K: f(402500), costPer1K: f(205), savings: f(1 - 2.05/3.65)},
			oracle:  wantCost{calls: 3, prompt: 1900, completion: 15, tokensPer1K: f(191500), costPer1K: f(119), savings: f(1 - 1.19/3.65)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Prices = tc.prices
			rep, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			c := rep.Overall.Costs
			if c == nil {
				t.Fatal("no costs")
			}
			if c.Priced != (tc.prices != nil) || c.SavingsBasis != tc.basis {
				t.Errorf("priced %v basis %q, want %v %q", c.Priced, c.SavingsBasis, tc.prices != nil, tc.basis)
			}
			checkCost(t, "always-local", c.AlwaysLocal, tc.local)
			checkCost(t, "always-cloud", c.AlwaysCloud, tc.cloud)
			checkCost(t, "cascade", rep.Overall.Scorers[0].Cascade.Cost, tc.cascade)
			checkCost(t, "oracle", c.Oracle, tc.oracle)
			if tc.note != "" && !strings.Contains(strings.Join(rep.Overall.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", rep.Overall.Notes, tc.note)
			}
			md := rep.Markdown()
			if !strings.Contains(md, "## Cloud cost") || strings.Contains(md, "Cost per 1,000 queries") != c.Priced {
				t.Errorf("markdown cost section (priced %v):\n%s", c.Priced, md)
			}
			if tc.note != "" && strings.Count(md, tc.note) != 1 {
				t.Errorf("markdown has note %q %d times, want once", tc.note, strings.Count(md, tc.note))
			}
			if c.AlwaysCloud.UnknownCalls > 0 && !strings.Contains(md, "| Always cloud | 10 | 5300 + unknown (1 calls) |") {
				t.Errorf("markdown does not flag the unknown counts:\n%s", md)
			}
		})
	}
}

func TestCostMarkdownAndJSON(t *testing.T) {
	in := costRows(nil)
	in.Prices = testPrices
	rep, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| Always cloud | 10 | 5500 | 50 | 555000 | 285.00 | 0% |",
		"| Cascade: s at 0.5 | 5 | 4000 | 25 | 402500 | 205.00 | 28.1% |",
		"| Oracle | 3 | 1900 | 15 | 191500 | 98.00 | 65.6% |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cost_per_1k_queries": 205`, `"savings_basis": "cost"`, `"cloud_calls": 5`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("json lacks %s", want)
		}
	}
	// Per task: task b is records 5–9, all escalated by the cascade, so it
	// spends exactly what always-cloud spends there.
	for _, g := range rep.Tasks {
		if g.Task == "b" {
			checkPtr(t, "task b cascade savings", g.Scorers[0].Cascade.Cost.Savings, 0)
		}
	}
}

func TestPriceLookup(t *testing.T) {
	prices := Prices{
		{Provider: "openai", Model: "gpt-4o-mini", Price: cloud.Price{InputPer1K: 1}},
		{Provider: "openai", Model: "gpt-4o", Price: cloud.Price{InputPer1K: 2}},
		{Provider: "anthropic", Model: "claude", Price: cloud.Price{InputPer1K: 3}},
	}
	tests := []struct {
		provider, model string
		want            float64
		ok              bool
	}{
		{"openai", "gpt-4o-mini-2024-07-18", 1, true},
		{"openai", "gpt-4o-2024-08-06", 2, true},
		{"openai", "o3", 0, false}, // two openai entries, neither matches
		{"anthropic", "claude-3-5-haiku", 3, true},
		{"anthropic", "other", 3, true}, // the provider's only entry
		{"mistral", "m", 0, false},
		{"", "gpt-4o-mini", 0, false}, // no provider and several entries
	}
	for _, tc := range tests {
		p, ok := prices.lookup(tc.provider, tc.model)
		if ok != tc.ok || p.InputPer1K != tc.want {
			t.Errorf("lookup(%q, %q) = %v, %v; want %v, %v", tc.provider, tc.model, p.InputPer1K, ok, tc.want, tc.ok)
		}
	}
	if p, ok := prices[:1].lookup("", "x"); !ok || p.InputPer1K != 1 {
		t.Errorf("single entry, no provider: %v, %v", p, ok)
	}
}
