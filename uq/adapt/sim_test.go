package adapt

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// TestSimReplay replays the drifting stream of docs/adaptation.md offline:
// the local model's own answers to each item (score, right or not: the
// static run's --oracle rows) through the engine at its defaults, groups by
// task, with a simulated cloud right 95% of the time (agreement and
// exploration 3%) and feedback on 10% of the accepted answers. After the
// first 300 post-shift items, the accepted answers must be at least 88%
// right and as many as two thirds of the best threshold in hindsight's.
func TestSimReplay(t *testing.T) {
	f, err := os.Open("../../docs/adaptation/static/rows.jsonl")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	type row struct {
		Task          string   `json:"task"`
		Phase         string   `json:"phase"`
		OracleScore   *float64 `json:"oracle_score"`
		OracleCorrect *bool    `json:"oracle_correct"`
	}
	var rows []row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.OracleScore == nil || r.OracleCorrect == nil {
			t.Fatalf("row %d: %v", len(rows), err)
		}
		rows = append(rows, r)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	e := New(Config{Target: 0.9, Delta: 0.1, Initial: 0.7411, CloudAccuracy: 0.95})
	var post, local, right int
	var late []row
	for i, r := range rows {
		th, _ := e.Threshold(r.Task)
		s, ok := *r.OracleScore, *r.OracleCorrect
		acc := s >= th
		id := fmt.Sprint(i)
		e.Record(Decision{ID: id, Group: r.Task, Score: s, Accepted: acc})
		cloudOK := rng.Float64() < 0.95
		switch {
		case !acc:
			e.Label(id, r.Task, ok && cloudOK, SourceAgreement)
		case rng.Float64() < 0.03:
			e.Label(id, r.Task, ok && cloudOK, SourceExploration)
		}
		if acc && rng.Float64() < 0.1 {
			e.Label(id, r.Task, ok, SourceFeedback)
		}
		if r.Phase != "post" {
			continue
		}
		if post++; post <= 300 {
			continue
		}
		late = append(late, r)
		if acc {
			local++
			if ok {
				right++
			}
		}
	}
	// The best threshold in hindsight on the same items.
	best := 0.0
	for _, c := range late {
		n, k := 0, 0
		for _, x := range late {
			if *x.OracleScore >= *c.OracleScore {
				n++
				if *x.OracleCorrect {
					k++
				}
			}
		}
		if float64(k) >= 0.9*float64(n) && float64(n) > best {
			best = float64(n)
		}
	}
	share, accuracy := float64(local)/float64(len(late)), float64(right)/float64(max(1, local))
	t.Logf("after 300 post-shift items: local share %.3f at %.3f accepted accuracy; best in hindsight %.3f", share, accuracy, best/float64(len(late)))
	if accuracy < 0.88 || float64(local) < 2*best/3 {
		t.Fatalf("local share %.3f (want >= 2/3 of %.3f), accepted accuracy %.3f (want >= 0.88)", share, best/float64(len(late)), accuracy)
	}
}
