package adapt

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

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
		json.Unmarshal(sc.Bytes(), &r)
		rows = append(rows, r)
	}
	for _, win := range []int{300} {
		for _, sup := range []int{0} {
			for _, groups := range []bool{false, true} {
				rng := rand.New(rand.NewPCG(1, 2))
				e := New(Config{Target: 0.9, Delta: 0.1, Window: win, MinSupport: sup, Initial: 0.7411, GroupMinLabels: 60})
				var post, local, right int
				drifts := 0
				for i, r := range rows {
					g := ""
					if groups {
						g = r.Task
					}
					th, _ := e.Threshold(g)
					s, ok := *r.OracleScore, *r.OracleCorrect
					acc := s >= th
					id := fmt.Sprint(i)
					e.Record(Decision{ID: id, Group: g, Score: s, Accepted: acc})
					cloudOK := rng.Float64() < 0.95
					if !acc {
						e.Label(id, g, ok && cloudOK, SourceAgreement)
					} else if rng.Float64() < 0.03 {
						e.Label(id, g, ok && cloudOK, SourceExploration)
					}
					if acc && rng.Float64() < 0.1 {
						e.Label(id, g, ok, SourceFeedback)
					}
					if r.Phase == "post" {
						post++
						if post > 300 {
							if acc {
								local++
								if ok {
									right++
								}
							}
						}
					}
					_ = drifts
				}
				n := post - 300
				t.Logf("window %d support %d groups %v: post>300 local share %.3f accuracy %.3f (hindsight 0.667 / 0.903)", win, sup, groups, float64(local)/float64(n), float64(right)/float64(max(1, local)))
			}
		}
	}
}
