package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

// PriceEntry is the configured price of one cloud provider's tokens
// (cloud.cost_input_per_1k / cost_output_per_1k, or an entry of
// cloud.providers).
type PriceEntry struct {
	// Provider is the provider's name as its answers carry it ("openai").
	Provider string
	// Model is the configured model; an answer's model matches it when it
	// starts with it (providers answer "gpt-4o-mini-2024-07-18" for
	// "gpt-4o-mini").
	Model string
	// Price is the price per 1,000 prompt and completion tokens.
	Price cloud.Price
}

// priced reports whether the entry has a price (a zero price is "not
// configured", the configuration's default).
func (e PriceEntry) priced() bool { return e.Price.InputPer1K > 0 || e.Price.OutputPer1K > 0 }

// Prices finds the price of a cloud answer.
type Prices []PriceEntry

// Configured reports whether any provider has a price.
func (p Prices) Configured() bool {
	for _, e := range p {
		if e.priced() {
			return true
		}
	}
	return false
}

// lookup returns the price of an answer from provider and model: the first
// entry of that provider whose model the answer's model starts with, else
// the provider's only entry, else, for an answer that names no provider (a
// cache from before providers were recorded), the only entry of all.
func (p Prices) lookup(provider, model string) (cloud.Price, bool) {
	var only []PriceEntry
	for _, e := range p {
		if e.Provider != provider {
			continue
		}
		if e.Model != "" && strings.HasPrefix(model, e.Model) {
			return e.Price, e.priced()
		}
		only = append(only, e)
	}
	if len(only) == 1 {
		return only[0].Price, only[0].priced()
	}
	if provider == "" && len(p) == 1 {
		return p[0].Price, p[0].priced()
	}
	return cloud.Price{}, false
}

// Savings bases.
const (
	SavingsOnCost   = "cost"
	SavingsOnTokens = "tokens"
)

// Costs is what each router spends on the cloud over a group's records with
// a cloud label: always-local (nothing), always-cloud and the oracle; each
// scorer's cascade is in CascadeResult.Cost.
type Costs struct {
	// Priced is true when prices are configured; without them only tokens
	// are reported and every cost is null.
	Priced bool `json:"priced"`
	// SavingsBasis says what Savings compares: "cost" when priced, else
	// "tokens" (prompt + completion).
	SavingsBasis string `json:"savings_basis"`
	// AlwaysLocal never calls the cloud.
	AlwaysLocal CostResult `json:"always_local"`
	// AlwaysCloud calls it for every record.
	AlwaysCloud CostResult `json:"always_cloud"`
	// Oracle calls it exactly when the local answer is wrong and the
	// cloud's is right.
	Oracle CostResult `json:"oracle"`
}

// CostResult is one router's cloud spending over the records with a cloud
// label.
type CostResult struct {
	// Queries is the number of records (queries) routed.
	Queries int `json:"queries"`
	// CloudCalls is the number of them sent to the cloud.
	CloudCalls int `json:"cloud_calls"`
	// PromptTokens and CompletionTokens add up the calls' token counts
	// (those known: see UnknownCalls).
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	// EstimatedCalls is the number of calls whose counts were estimated
	// with a tokenizer because the provider (or the cache) had none.
	EstimatedCalls int `json:"estimated_calls"`
	// UnknownCalls is the number of calls whose counts are unknown; when
	// it is not 0, the per-1,000 numbers, Cost and Savings are null.
	UnknownCalls int `json:"unknown_calls"`
	// TokensPer1K is the prompt + completion tokens per 1,000 queries.
	TokensPer1K *float64 `json:"tokens_per_1k_queries"`
	// Cost is the price of all calls; null without prices or with calls of
	// unknown tokens or from an unpriced provider.
	Cost *float64 `json:"cost"`
	// CostPer1K is the price per 1,000 queries.
	CostPer1K *float64 `json:"cost_per_1k_queries"`
	// UnpricedCalls is the number of calls from a provider without a
	// configured price (when prices are configured).
	UnpricedCalls int `json:"unpriced_calls,omitempty"`
	// Savings is 1 - this router's spending / always-cloud's, on
	// Costs.SavingsBasis; null when either is unknown or always-cloud
	// spends nothing.
	Savings *float64 `json:"savings_vs_always_cloud"`
}

// costOf adds up the cloud spending of calling the cloud for the records at
// calls, out of queries routed records.
func costOf(recs []labelled.Record, calls []int, queries int, prices Prices) CostResult {
	c := CostResult{Queries: queries, CloudCalls: len(calls)}
	priced := prices.Configured()
	cost := 0.0
	for _, i := range calls {
		u := recs[i].CloudUsage
		if u == nil {
			c.UnknownCalls++
			continue
		}
		if u.Estimated {
			c.EstimatedCalls++
		}
		c.PromptTokens += u.PromptTokens
		c.CompletionTokens += u.CompletionTokens
		if !priced {
			continue
		}
		p, ok := prices.lookup(recs[i].CloudProvider, recs[i].CloudModel)
		if !ok {
			c.UnpricedCalls++
			continue
		}
		cost += p.Cost(cloud.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens})
	}
	if c.UnknownCalls > 0 || queries == 0 {
		return c
	}
	c.TokensPer1K = ptr(1000 * float64(c.PromptTokens+c.CompletionTokens) / float64(queries))
	if priced && c.UnpricedCalls == 0 {
		c.Cost = ptr(cost)
		c.CostPer1K = ptr(1000 * cost / float64(queries))
	}
	return c
}

// spend is what Savings compares on the basis, or nil when unknown.
func (c CostResult) spend(basis string) *float64 {
	if basis == SavingsOnCost {
		return c.Cost
	}
	if c.UnknownCalls > 0 {
		return nil
	}
	return ptr(float64(c.PromptTokens + c.CompletionTokens))
}

// setSavings fills c.Savings against always-cloud's spending.
func (c *CostResult) setSavings(cloudSpend *float64, basis string) {
	own := c.spend(basis)
	if own == nil || cloudSpend == nil || *cloudSpend <= 0 {
		return
	}
	c.Savings = ptr(1 - *own / *cloudSpend)
}

// buildCosts computes the baselines' spending over the records at cloudIdx,
// which all carry a cloud label, and notes what is estimated or unknown.
func buildCosts(recs []labelled.Record, cloudIdx []int, prices Prices) (*Costs, []string) {
	c := &Costs{Priced: prices.Configured(), SavingsBasis: SavingsOnTokens}
	if c.Priced {
		c.SavingsBasis = SavingsOnCost
	}
	n := len(cloudIdx)
	var oracle []int
	for _, i := range cloudIdx {
		if !recs[i].LocalCorrect && *recs[i].CloudCorrect {
			oracle = append(oracle, i)
		}
	}
	c.AlwaysLocal = costOf(recs, nil, n, prices)
	c.AlwaysCloud = costOf(recs, cloudIdx, n, prices)
	c.Oracle = costOf(recs, oracle, n, prices)
	ref := c.AlwaysCloud.spend(c.SavingsBasis)
	c.AlwaysLocal.setSavings(ref, c.SavingsBasis)
	c.AlwaysCloud.setSavings(ref, c.SavingsBasis)
	c.Oracle.setSavings(ref, c.SavingsBasis)

	var notes []string
	a := c.AlwaysCloud
	if !c.Priced {
		notes = append(notes, "no cloud prices configured (cloud.cost_input_per_1k, cloud.cost_output_per_1k or cloud.providers): cloud spending is shown in tokens only")
	}
	if a.EstimatedCalls > 0 {
		notes = append(notes, fmt.Sprintf("token counts of %d of %d cloud answers are estimated with the local tokenizer (the provider or the cached answer reported none)", a.EstimatedCalls, a.CloudCalls))
	}
	if a.UnknownCalls > 0 {
		notes = append(notes, fmt.Sprintf("token counts of %d of %d cloud answers are unknown (none reported, no tokenizer to estimate them): per-1,000-query tokens, costs and savings are unknown", a.UnknownCalls, a.CloudCalls))
	}
	if a.UnpricedCalls > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d cloud answers came from a provider without a configured price: costs are unknown", a.UnpricedCalls, a.CloudCalls))
	}
	return c, notes
}

// money formats a cost: more decimals for small amounts.
func money(v *float64) string {
	switch {
	case v == nil:
		return na
	case *v == 0 || math.Abs(*v) >= 1:
		return fmt.Sprintf("%.2f", *v)
	default:
		return fmt.Sprintf("%.4g", *v)
	}
}

// writeCosts writes what each router spends on the cloud: calls, tokens
// and, with prices, the cost per 1,000 queries and the savings against
// always-cloud.
func writeCosts(b *strings.Builder, g Group) {
	c := g.Costs
	if c.Priced {
		fmt.Fprintf(b, "Over the %d records with a cloud label, priced at the configured per-1,000-token prices (in their currency). Savings compare costs with always-cloud.\n\n", c.AlwaysCloud.Queries)
	} else {
		fmt.Fprintf(b, "Over the %d records with a cloud label. **No cloud prices are configured** (`cloud.cost_input_per_1k`, `cloud.cost_output_per_1k` or `cloud.providers`): tokens only, and savings compare tokens with always-cloud.\n\n", c.AlwaysCloud.Queries)
	}
	b.WriteString("| Router | Cloud calls | Prompt tokens | Completion tokens | Tokens per 1,000 queries |")
	if c.Priced {
		b.WriteString(" Cost per 1,000 queries |")
	}
	b.WriteString(" Savings vs. always-cloud |\n|---|---:|---:|---:|---:|")
	if c.Priced {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	row := func(name string, r CostResult) {
		tokens := func(n int) string {
			if r.UnknownCalls > 0 {
				return fmt.Sprintf("%d + unknown (%d calls)", n, r.UnknownCalls)
			}
			return fmt.Sprint(n)
		}
		per1K := na
		if r.TokensPer1K != nil {
			per1K = fmt.Sprintf("%.0f", *r.TokensPer1K)
		}
		if r.EstimatedCalls > 0 {
			per1K += fmt.Sprintf(" (%d calls estimated)", r.EstimatedCalls)
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s |", name, r.CloudCalls, tokens(r.PromptTokens), tokens(r.CompletionTokens), per1K)
		if c.Priced {
			fmt.Fprintf(b, " %s |", money(r.CostPer1K))
		}
		fmt.Fprintf(b, " %s |\n", pctp(r.Savings))
	}
	row("Always local", c.AlwaysLocal)
	row("Always cloud", c.AlwaysCloud)
	for _, s := range g.Scorers {
		if s.Cascade != nil {
			row(fmt.Sprintf("Cascade: %s at %.4g", cell(s.Name), s.Threshold), s.Cascade.Cost)
		}
	}
	row("Oracle", c.Oracle)
	b.WriteString("\n")
}
