package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecascade/edgecascade/uq/adapt"
)

// Adaptation is the online threshold as /healthz and /metrics show it (the
// daemon's uq/adapt engine with its labeller).
type Adaptation interface {
	Status() adapt.Status
	// Explorations counts the shadow escalations made, failed, and drawn
	// but skipped by reason (offline, budget).
	Explorations() (made, failed uint64, skipped map[string]uint64)
}

// watchAdaptation adds the thresholds, bounds, label counts and
// explorations to the metrics.
func (m *Metrics) watchAdaptation(a Adaptation) {
	m.reg.MustRegister(&adaptCollector{a: a,
		threshold: prometheus.NewDesc("edgecascade_adapt_threshold", "The online threshold, by group (\"\" is the global one); above 1 escalates everything.", []string{"group"}, nil),
		bound:     prometheus.NewDesc("edgecascade_adapt_bound", "Lower confidence bound on the accuracy of accepted local answers at the threshold, by group (absent until enough labels).", []string{"group"}, nil),
		target:    prometheus.NewDesc("edgecascade_adapt_target", "The accepted accuracy adaptation keeps.", nil, nil),
		below:     prometheus.NewDesc("edgecascade_adapt_below_target", "1 while the bound at the threshold in force is under the target (a drift), by group.", []string{"group"}, nil),
		labels:    prometheus.NewDesc("edgecascade_adapt_labels", "Labels in the window, by group and source (feedback, agreement, exploration).", []string{"group", "source"}, nil),
		total:     prometheus.NewDesc("edgecascade_adapt_labels_total", "Labels ever taken by the global window, by source.", []string{"source"}, nil),
		explore:   prometheus.NewDesc("edgecascade_adapt_explorations_total", "Shadow escalations of accepted local answers (exploration), by result: made, failed, or skipped_<reason>.", []string{"result"}, nil),
	})
}

type adaptCollector struct {
	a                                                       Adaptation
	threshold, bound, target, below, labels, total, explore *prometheus.Desc
}

func (c *adaptCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.threshold, c.bound, c.target, c.below, c.labels, c.total, c.explore} {
		ch <- d
	}
}

func (c *adaptCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Status()
	ch <- prometheus.MustNewConstMetric(c.target, prometheus.GaugeValue, st.Target)
	for _, w := range append([]adapt.WindowStatus{st.Global}, st.Groups...) {
		ch <- prometheus.MustNewConstMetric(c.threshold, prometheus.GaugeValue, w.Threshold, w.Group)
		if w.Bound != nil {
			ch <- prometheus.MustNewConstMetric(c.bound, prometheus.GaugeValue, *w.Bound, w.Group)
		}
		ch <- prometheus.MustNewConstMetric(c.below, prometheus.GaugeValue, boolGauge(w.Below), w.Group)
		for src, n := range w.Labels {
			ch <- prometheus.MustNewConstMetric(c.labels, prometheus.GaugeValue, float64(n), w.Group, src)
		}
	}
	for src, n := range st.Global.Total {
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(n), src)
	}
	made, failed, skipped := c.a.Explorations()
	ch <- prometheus.MustNewConstMetric(c.explore, prometheus.CounterValue, float64(made), "made")
	ch <- prometheus.MustNewConstMetric(c.explore, prometheus.CounterValue, float64(failed), "failed")
	for why, n := range skipped {
		ch <- prometheus.MustNewConstMetric(c.explore, prometheus.CounterValue, float64(n), "skipped_"+why)
	}
}
