package httpapi

import (
	"context"
	"net/http"
	"sync"

	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/cloud/budget"
	"github.com/edgecascade/edgecascade/cloud/reach"
	"github.com/edgecascade/edgecascade/uq/adapt"
)

// health is the body of /healthz: the local model, the cloud, the decision
// log and the outbox, each checked now.
type health struct {
	Status    string           `json:"status"`
	Local     localHealth      `json:"local"`
	Cloud     cloudHealth      `json:"cloud"`
	Decisions *decisionsHealth `json:"decisions,omitempty"`
	Scorer    string           `json:"scorer"`
	Thresh    float64          `json:"threshold"`
	Budget    *budget.Usage    `json:"budget,omitempty"`
	Outbox    *outboxStatus    `json:"outbox,omitempty"`
	// Adapt is the online threshold, when adaptation is on.
	Adapt *adapt.Status `json:"adapt,omitempty"`
}

// decisionsHealth is the decision log's state: whether its last write
// succeeded (a full disk loses entries).
type decisionsHealth struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type localHealth struct {
	Backend string `json:"backend"`
	URL     string `json:"url"`
	Model   string `json:"model"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

type cloudHealth struct {
	Provider  string `json:"provider"`
	URL       string `json:"base_url"`
	Model     string `json:"model"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Reachability is the circuit breaker's view: online, unreachable or
	// offline (the offline switch).
	Reachability *reach.Status `json:"reachability,omitempty"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HealthTimeout)
	defer cancel()
	rt := s.cascade.Routing()
	h := health{
		Local:  localHealth{Backend: s.cfg.Backend, URL: s.cfg.LocalURL, Model: s.cascade.Local().Name()},
		Cloud:  cloudHealth{Provider: s.cfg.CloudProvider, URL: s.cfg.CloudURL, Model: s.cascade.Cloud().Model()},
		Scorer: rt.Scorer.Name(), Thresh: rt.Threshold,
	}
	offline := false
	if s.cfg.Reach != nil {
		st := s.cfg.Reach.Status()
		h.Cloud.Reachability = &st
		offline = st.State == reach.StateOffline
	}
	if s.cfg.Budget != nil {
		u := s.cfg.Budget.Usage()
		h.Budget = &u
	}
	h.Outbox = s.outboxHealth(ctx)
	if s.cfg.Adapt != nil {
		st := s.cfg.Adapt.Status()
		h.Adapt = &st
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.cascade.Local().Ping(ctx); err != nil {
			h.Local.Error = err.Error()
		} else {
			h.Local.OK = true
		}
	}()
	if offline {
		h.Cloud.Error = "offline mode is on: the cloud is not contacted"
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.cascade.Cloud().Ping(ctx); err != nil {
				h.Cloud.Error = err.Error()
			} else {
				h.Cloud.Reachable = true
			}
		}()
	}
	wg.Wait()
	if s.cfg.Decisions != nil {
		h.Decisions = &decisionsHealth{OK: true}
		if err := s.cfg.Decisions.WriteErr(); err != nil {
			h.Decisions = &decisionsHealth{Error: err.Error()}
		}
	}
	s.metrics.localUp.Set(boolGauge(h.Local.OK))
	s.metrics.cloudUp.Set(boolGauge(h.Cloud.Reachable))
	status := http.StatusOK
	switch {
	case h.Local.OK && (h.Cloud.Reachable || offline) && (h.Decisions == nil || h.Decisions.OK) && (h.Outbox == nil || h.Outbox.Error == ""):
		h.Status = "ok"
	case h.Local.OK || h.Cloud.Reachable:
		h.Status = "degraded"
	default:
		h.Status = "down"
		status = http.StatusServiceUnavailable
	}
	s.writeJSON(w, r, status, h)
}

// Reachability reports the cloud's reachability (cloud/reach.Tracker).
type Reachability interface {
	Status() reach.Status
}

// BudgetUsage reports the cloud budget's use (cloud/budget.Budget).
type BudgetUsage interface {
	Usage() budget.Usage
}

// outboxHealth is the outbox part of /healthz.
func (s *Server) outboxHealth(ctx context.Context) *outboxStatus {
	if s.cfg.Deferrals == nil {
		return nil
	}
	st, err := s.cfg.Deferrals.Stats(ctx)
	o := &outboxStatus{Stats: st}
	if err == nil {
		err = s.cfg.Deferrals.WriteErr()
	}
	if err != nil {
		o.Error = err.Error()
	}
	return o
}

type outboxStatus struct {
	outbox.Stats
	Error string `json:"error,omitempty"`
}
