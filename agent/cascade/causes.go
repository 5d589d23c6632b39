package cascade

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/resources"
	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// Kind is what one cause of a decision says. The escalation kinds are also
// the label values of the escalation metrics (EscalationCauses).
type Kind string

// Escalation causes: why a request went to the cloud (or, when the cloud
// failed, why it should have).
const (
	CauseLowConfidence    Kind = "low_confidence"    // the score is below the threshold
	CauseUnscorable       Kind = "unscorable"        // the scorer failed
	CauseLocalUnavailable Kind = "local_unavailable" // the local model is down
	CauseLocalBusy        Kind = "local_busy"        // the admission limiter refused the call
	CauseContextLength    Kind = "context_length"    // the prompt does not fit the local context
	CausePregenProbe      Kind = "pregen_probe"      // the pre-generation probe skipped the local model
	CauseResourceRule     Kind = "resource_rule"     // a power or heat rule sent it to the cloud
	CauseFormat           Kind = "format"            // the local answer is not the JSON the request asked for
	CauseCapability       Kind = "local_capability"  // the request has tools or images the local model does not take
)

// EscalationCauses lists the escalation causes, the label values of
// edgecascade_escalations_total and edgecascade_escalation_failures_total.
var EscalationCauses = []Kind{
	CauseLowConfidence, CauseUnscorable, CauseLocalUnavailable, CauseLocalBusy,
	CauseContextLength, CausePregenProbe, CauseResourceRule, CauseFormat, CauseCapability,
}

// The other causes: how the decision came about and what happened after.
const (
	CausePolicy          Kind = "policy"            // the request's policy (local, cloud)
	CauseAccepted        Kind = "accepted"          // the score clears the threshold
	CauseScoreNote       Kind = "score_note"        // the scorer's note on its score
	CauseRules           Kind = "rules"             // resource rules fired (noted, no effect on the route)
	CauseForcedLocal     Kind = "forced_local"      // force_local kept a low-scored answer local
	CauseRuleCloudFailed Kind = "rule_cloud_failed" // the cloud a rule preferred failed: answered locally
	CauseCloudNotCalled  Kind = "cloud_not_called"  // the escalation was not made (offline, budget)
	CauseCloudFailed     Kind = "cloud_failed"      // the escalation failed
	CauseDeferred        Kind = "deferred"          // the escalation waits in the outbox
	CauseNotDeferred     Kind = "not_deferred"      // deferral is off for the request
	CauseDeferFailed     Kind = "defer_failed"      // the outbox could not keep it
	CauseNoLogprobs      Kind = "no_logprobs"       // logprobs were asked for; the provider sent none
	CauseNotSent         Kind = "options_not_sent"  // options the provider's API cannot take
	CauseCompletion      Kind = "completion_local"  // a raw or fill-in-the-middle completion: the cloud takes chats only
)

// Cause is one reason of a decision: its kind and its words. A decision's
// Reason is its causes rendered in order, joined by "; ".
type Cause struct {
	Kind Kind
	Text string
}

// isEscalation reports whether k labels escalations in the metrics.
func (k Kind) isEscalation() bool { return slices.Contains(EscalationCauses, k) }

// render is the one place where causes become the reason text.
func render(cs []Cause) string {
	texts := make([]string, len(cs))
	for i, c := range cs {
		texts[i] = c.Text
	}
	return strings.Join(texts, "; ")
}

// add appends causes to the decision and renders its Reason. The slice is
// clipped first so that copies of a decision never share an append.
func (d *Decision) add(cs ...Cause) {
	d.causes = append(slices.Clip(d.causes), cs...)
	d.Reason = render(d.causes)
}

// set replaces the decision's causes.
func (d *Decision) set(cs ...Cause) {
	d.causes = nil
	d.add(cs...)
}

// Causes returns the decision's causes, in order.
func (d Decision) Causes() []Cause { return slices.Clone(d.causes) }

// Cause is the decision's escalation cause (the metrics label): the first
// of its causes that is one of EscalationCauses; empty when none is.
func (d Decision) Cause() Kind {
	for _, c := range d.causes {
		if c.Kind.isEscalation() {
			return c.Kind
		}
	}
	return ""
}

// The causes, each with its words.

func policyCause(p Policy) Cause { return Cause{CausePolicy, "policy " + string(p)} }

func scoreCause(scorer string, s, threshold float64) Cause {
	if s >= threshold {
		return Cause{CauseAccepted, fmt.Sprintf("%s score %.3f >= threshold %.3f", scorer, s, threshold)}
	}
	return Cause{CauseLowConfidence, fmt.Sprintf("%s score %.3f < threshold %.3f", scorer, s, threshold)}
}

func unscorableCause(err error) Cause {
	return Cause{CauseUnscorable, fmt.Sprintf("could not score the local answer (%v)", err)}
}

func scoreNoteCause(note string) Cause { return Cause{CauseScoreNote, note} }

func contextLengthCause(tokens, reserve, length int) Cause {
	return Cause{CauseContextLength, fmt.Sprintf("prompt has %d tokens (+%d reserved for the answer), the local context holds %d; sent to the cloud", tokens, reserve, length)}
}

func pregenCause(p, threshold float64) Cause {
	return Cause{CausePregenProbe, fmt.Sprintf("pre-generation probe: p(local right) %.3f <= %.3f; skipped local generation", p, threshold)}
}

func localUnavailableCause(err error) Cause {
	k := CauseLocalUnavailable
	if errors.Is(err, admission.ErrLocalBusy) {
		k = CauseLocalBusy
	}
	return Cause{k, fmt.Sprintf("local model unavailable (%v); answered by the cloud", err)}
}

func ruleSkipCause(v resources.Verdict) Cause {
	return Cause{CauseResourceRule, v.Reason() + "; local generation skipped"}
}

func ruleCloudFailedCause(v resources.Verdict, err error) Cause {
	return Cause{CauseRuleCloudFailed, fmt.Sprintf("%s; cloud failed (%v); answered locally", v.Reason(), err)}
}

func forcedLocalCause(v resources.Verdict) Cause {
	return Cause{CauseForcedLocal, v.Reason() + ": not escalated"}
}

// rulesCauses notes the rules that fired; none when none did.
func rulesCauses(v resources.Verdict) []Cause {
	if r := v.Reason(); r != "" {
		return []Cause{{CauseRules, r}}
	}
	return nil
}

// escalationFailedCause says why the cloud gave no answer to an escalation.
func escalationFailedCause(err error) Cause {
	var nc *cloud.NotCalledError
	if errors.As(err, &nc) {
		return Cause{CauseCloudNotCalled, fmt.Sprintf("cloud not called: %s; answered locally", nc.Reason)}
	}
	return Cause{CauseCloudFailed, fmt.Sprintf("escalation failed (%v); answered locally", err)}
}

func deferredCause(id string) Cause { return Cause{CauseDeferred, "deferred as " + id} }

func notDeferredCause() Cause {
	return Cause{CauseNotDeferred, "not deferred (deferral off for this request)"}
}

func deferFailedCause(err error) Cause {
	return Cause{CauseDeferFailed, fmt.Sprintf("could not defer it (%v)", err)}
}

func formatCause(err error) Cause {
	return Cause{CauseFormat, err.Error() + ": escalating whatever the score"}
}

func noLogprobsCause(provider string) Cause {
	return Cause{CauseNoLogprobs, fmt.Sprintf("logprobs null: provider %s sent none", provider)}
}

func notSentCause(provider string, names []string) Cause {
	return Cause{CauseNotSent, fmt.Sprintf("provider %s cannot take %s: not sent", provider, strings.Join(names, ", "))}
}

func capabilityCause(e *UnsupportedError) Cause {
	return Cause{CauseCapability, strings.TrimSuffix(e.Error(), ": use model auto or cloud") + "; sent to the cloud"}
}

func completionCause(provider string, c *models.Completion) Cause {
	return Cause{CauseCompletion, fmt.Sprintf("%s completion: provider %s takes chat requests only; answered locally, not escalated", completionField(c), provider)}
}

// completionField names the request field that makes c a completion.
func completionField(c *models.Completion) string {
	if c.Suffix != "" {
		return "suffix"
	}
	return "raw"
}
