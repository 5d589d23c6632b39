package httpapi

import (
	"context"
	"github.com/edgecascade/edgecascade/agent/admission"
	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the daemon's Prometheus metrics, on a registry it owns.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	escalations  *prometheus.CounterVec
	escFailures  *prometheus.CounterVec
	confidence   prometheus.Histogram
	localLatency prometheus.Histogram
	cloudLatency prometheus.Histogram
	cloudTokens  *prometheus.CounterVec
	cloudCost    *prometheus.CounterVec
	cloudUp      prometheus.Gauge
	localUp      prometheus.Gauge
	deferred     prometheus.Counter
	drained      *prometheus.CounterVec
	energy       prometheus.Histogram
}

// NewMetrics registers the metrics (and Go runtime and process metrics) on
// a new registry.
func NewMetrics() *Metrics {
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecascade_requests_total", Help: "Answered requests by policy (the request's model) and route.",
		}, []string{"policy", "route"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecascade_escalations_total", Help: "Requests answered by the cloud in auto mode, by cause.",
		}, []string{"cause"}),
		escFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecascade_escalation_failures_total", Help: "Escalations whose cloud call failed, answered locally instead, by cause.",
		}, []string{"cause"}),
		confidence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgecascade_confidence", Help: "Confidence that the local answer is right (calibrated when a calibration is loaded).",
			Buckets: prometheus.LinearBuckets(0.1, 0.1, 10),
		}),
		localLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgecascade_local_latency_seconds", Help: "Local generation time per request.", Buckets: latency,
		}),
		cloudLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgecascade_cloud_latency_seconds", Help: "Cloud answer time per request.", Buckets: latency,
		}),
		cloudTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecascade_cloud_tokens_total", Help: "Tokens of cloud answers, by kind (prompt, completion).",
		}, []string{"kind"}),
		cloudCost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecascade_cloud_cost_total", Help: "Cost of cloud answers from the configured per-1K-token prices, by provider.",
		}, []string{"provider"}),
		cloudUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgecascade_cloud_reachable", Help: "1 when the last health check reached the cloud provider.",
		}),
		localUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgecascade_local_up", Help: "1 when the last health check reached the local model.",
		}),
	}
	m.deferred = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgecascade_deferred_total", Help: "Escalations deferred to the outbox (cloud out of reach or budget spent).",
	})
	m.drained = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecascade_outbox_attempts_total", Help: "Attempts to send deferred items, by result (done, retry, failed, interrupted).",
	}, []string{"result"})
	m.energy = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "edgecascade_local_energy_joules", Help: "Energy the machine used during each local generation (RAPL or power rails; stays empty where no counter can be read).",
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
	})
	m.reg.MustRegister(m.deferred, m.drained, m.energy)
	m.reg.MustRegister(m.requests, m.escalations, m.escFailures, m.confidence, m.localLatency, m.cloudLatency,
		m.cloudTokens, m.cloudCost, m.cloudUp, m.localUp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchAdmission adds the local admission limiter's gauges and counter:
// calls running on the local model, calls waiting for it, calls refused.
func (m *Metrics) watchAdmission(a *admission.Limiter) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgecascade_local_in_flight", Help: "Calls running on the local model (at most local.max_concurrent).",
		}, func() float64 { return float64(a.Stats().Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgecascade_local_queue_depth", Help: "Calls waiting for the local model (at most local.max_queue).",
		}, func() float64 { return float64(a.Stats().Waiting) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edgecascade_local_rejected_total", Help: "Calls refused because the local model was busy and its queue full (503 under policy local, the cloud under auto).",
		}, func() float64 { return float64(a.Stats().Rejected) }),
	)
}

// Handler serves the metrics in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observe records one answered request.
func (m *Metrics) observe(policy cascade.Policy, res *cascade.Result) {
	d := res.Decision
	m.requests.WithLabelValues(string(policy), d.Route).Inc()
	if d.Confidence != nil {
		m.confidence.Observe(*d.Confidence)
	}
	if res.LocalLatency > 0 {
		m.localLatency.Observe(res.LocalLatency.Seconds())
	}
	if res.LocalEnergy != nil {
		m.energy.Observe(*res.LocalEnergy)
	}
	if d.FromCloud() {
		m.cloudLatency.Observe(res.CloudLatency.Seconds())
		m.cloudTokens.WithLabelValues("prompt").Add(float64(res.Usage.PromptTokens))
		m.cloudTokens.WithLabelValues("completion").Add(float64(res.Usage.CompletionTokens))
		m.cloudCost.WithLabelValues(d.CloudProvider).Add(res.Cost)
		if d.Escalated {
			m.escalations.WithLabelValues(string(d.Cause())).Inc()
		}
	}
	if d.Deferred {
		m.deferred.Inc()
	}
	if res.EscalationFailed {
		m.escFailures.WithLabelValues(string(d.Cause())).Inc()
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// watchOutbox adds the outbox depth (items by state) and drain results.
func (m *Metrics) watchOutbox(d *outbox.Deferrals) {
	d.OnDrain(func(result string) { m.drained.WithLabelValues(result).Inc() })
	m.reg.MustRegister(&outboxCollector{d: d, desc: prometheus.NewDesc("edgecascade_outbox_items",
		"Deferred items in the outbox, by state (queued and sending are the depth).", []string{"state"}, nil)})
}

type outboxCollector struct {
	d    *outbox.Deferrals
	desc *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.d.Stats(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for state, n := range map[string]int{"queued": st.Queued, "sending": st.Sending, "done": st.Done, "failed": st.Failed} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}
