package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/uq/labelled"
)

// `edgecascade replay`: a labelled stream through a running daemon, in
// order, with a simulated user who gives feedback on a share of the
// answers; a report over time (docs/adaptation.md).

// replayItem is one line of the stream: the test bed's fields and, from
// scripts/drift-stream.sh, the phase ("pre" or "post" the shift).
type replayItem struct {
	Task       string `json:"task"`
	Difficulty int    `json:"difficulty"`
	Prompt     string `json:"prompt"`
	Answer     string `json:"answer"`
	Phase      string `json:"phase,omitempty"`
}

// replayRow is one answered item of a run.
type replayRow struct {
	Index      int      `json:"index"`
	Task       string   `json:"task"`
	Difficulty int      `json:"difficulty"`
	Phase      string   `json:"phase,omitempty"`
	ID         string   `json:"id"`
	Route      string   `json:"route"`
	Score      *float64 `json:"score,omitempty"`
	Threshold  float64  `json:"threshold"`
	Correct    bool     `json:"correct"`
	Feedback   bool     `json:"feedback,omitempty"`
	// OracleScore and OracleCorrect are the local model's own answer to
	// the item (policy local), when --oracle: what the best threshold in
	// hindsight is computed from.
	OracleScore   *float64 `json:"oracle_score,omitempty"`
	OracleCorrect *bool    `json:"oracle_correct,omitempty"`
	// Labels are the daemon's label counts by source after the item, every
	// --status-every items.
	Labels map[string]int `json:"labels,omitempty"`
}

func (a *app) replayCmd() *cobra.Command {
	var (
		data, out, url, matcher, groupBy, token string
		feedback                                float64
		seed                                    uint64
		oracle                                  bool
		statusEvery                             int
		compare                                 []string
	)
	cmd := &cobra.Command{
		Use:   "replay --data STREAM.jsonl --out DIR [--feedback-rate p] | replay --compare DIR1,DIR2 --out DIR",
		Short: "Send a labelled stream through a running daemon in order and report over time",
		Long: `replay sends each item of a labelled JSONL stream ({"prompt", "answer", "task"?,
"phase"?}) to the daemon at --url as an auto chat request, in order, judges the
answer with --matcher, and, for a share --feedback-rate of the answers, posts
feedback (POST /v1/cascade/feedback) as a simulated user would. It writes
DIR/rows.jsonl (one row per item) and DIR/summary.json: rolling accepted-local
accuracy, cloud share, threshold and label counts, overall and per phase.
--compare DIR1,DIR2 writes DIR/report.md with the runs side by side and SVG
plots. scripts/drift-replay.sh runs the static and adaptive daemons on the
drifting stream (docs/adaptation.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if len(compare) > 0 {
				return writeCompare(out, compare)
			}
			if data == "" {
				return errors.New("--data is required")
			}
			match, err := labelled.NewMatcher(matcher)
			if err != nil {
				return err
			}
			items, err := readStream(data)
			if err != nil {
				return err
			}
			r := &replayer{url: strings.TrimRight(url, "/"), token: token, groupBy: groupBy, match: match,
				client: &http.Client{Timeout: 5 * time.Minute}, rng: rand.New(rand.NewPCG(seed, seed+1))}
			rows, err := r.run(cmd.Context(), items, feedback, oracle, statusEvery, a.stderr)
			if err != nil {
				return err
			}
			return writeRun(out, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "labelled JSONL stream")
	f.StringVar(&out, "out", "", "folder to write the run (or the comparison) to")
	f.StringVar(&url, "url", "http://127.0.0.1:8088", "the daemon's base URL")
	f.StringVar(&token, "token", os.Getenv("EDGECASCADE_SERVER_AUTH_TOKEN"), "bearer token (default: $EDGECASCADE_SERVER_AUTH_TOKEN)")
	f.StringVar(&matcher, "matcher", labelled.MatchExact, "how answers are judged: exact, case-insensitive, numeric, contains")
	f.StringVar(&groupBy, "group-by", "", "send X-Cascade-Group from an item field: task, or empty for none")
	f.Float64Var(&feedback, "feedback-rate", 0, "share of answers the simulated user gives feedback on")
	f.Uint64Var(&seed, "seed", 1, "seed of the simulated user")
	f.BoolVar(&oracle, "oracle", false, "also ask each item under policy local, to know the best threshold in hindsight")
	f.IntVar(&statusEvery, "status-every", 25, "read the daemon's label counts every N items")
	f.StringSliceVar(&compare, "compare", nil, "runs to compare side by side (folders written by replay)")
	return cmd
}

func readStream(path string) ([]replayItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []replayItem
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var it replayItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, len(items)+1, err)
		}
		items = append(items, it)
	}
	return items, sc.Err()
}

type replayer struct {
	url, token, groupBy string
	match               labelled.Matcher
	client              *http.Client
	rng                 *rand.Rand
}

type replayAnswer struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Cascade struct {
		Route     string   `json:"route"`
		Score     *float64 `json:"score"`
		Threshold float64  `json:"threshold"`
	} `json:"cascade"`
}

func (r *replayer) do(ctx context.Context, method, path string, body any, group string, v any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if group != "" {
		req.Header.Set("X-Cascade-Group", group)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if v != nil {
		return resp.StatusCode, json.Unmarshal(raw, v)
	}
	return resp.StatusCode, nil
}

func (r *replayer) ask(ctx context.Context, model, prompt, group string) (replayAnswer, error) {
	var a replayAnswer
	_, err := r.do(ctx, "POST", "/v1/chat/completions", map[string]any{"model": model, "temperature": 0,
		"messages": []map[string]string{{"role": "user", "content": prompt}}}, group, &a)
	if err == nil && len(a.Choices) == 0 {
		err = errors.New("an answer without choices")
	}
	return a, err
}

func (r *replayer) labels(ctx context.Context) map[string]int {
	req, err := http.NewRequestWithContext(ctx, "GET", r.url+"/healthz", nil)
	if err != nil {
		return nil
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var h struct {
		Adapt *struct {
			Global struct {
				Total map[string]int `json:"labels_total"`
			} `json:"global"`
		} `json:"adapt"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil || h.Adapt == nil {
		return nil
	}
	return h.Adapt.Global.Total
}

func (r *replayer) run(ctx context.Context, items []replayItem, feedback float64, oracle bool, statusEvery int, progress io.Writer) ([]replayRow, error) {
	rows := make([]replayRow, 0, len(items))
	for i, it := range items {
		group := ""
		if r.groupBy == "task" {
			group = it.Task
		}
		row := replayRow{Index: i, Task: it.Task, Difficulty: it.Difficulty, Phase: it.Phase}
		if oracle {
			o, err := r.ask(ctx, "local", it.Prompt, "")
			if err != nil {
				return rows, fmt.Errorf("item %d (oracle): %w", i, err)
			}
			ok := r.match(o.Choices[0].Message.Content, it.Answer)
			row.OracleScore, row.OracleCorrect = o.Cascade.Score, &ok
		}
		ans, err := r.ask(ctx, "auto", it.Prompt, group)
		if err != nil {
			return rows, fmt.Errorf("item %d: %w", i, err)
		}
		row.ID, row.Route, row.Score, row.Threshold = ans.ID, ans.Cascade.Route, ans.Cascade.Score, ans.Cascade.Threshold
		row.Correct = r.match(ans.Choices[0].Message.Content, it.Answer)
		if feedback > 0 && r.rng.Float64() < feedback {
			if _, err := r.do(ctx, "POST", "/v1/cascade/feedback", map[string]any{"id": ans.ID, "correct": row.Correct}, "", nil); err != nil {
				return rows, fmt.Errorf("item %d feedback: %w", i, err)
			}
			row.Feedback = true
		}
		if statusEvery > 0 && (i+1)%statusEvery == 0 {
			row.Labels = r.labels(ctx)
		}
		rows = append(rows, row)
		if (i+1)%100 == 0 {
			s := summarize(rows[max(0, len(rows)-100):])
			fmt.Fprintf(progress, "replay: %d/%d  last 100: local %.0f%%, accepted-local accuracy %.1f%%, threshold %.3f\n",
				i+1, len(items), 100*s.LocalShare, 100*s.LocalAccuracy, row.Threshold)
		}
	}
	return rows, nil
}

// replaySummary is a stretch of a run.
type replaySummary struct {
	Items         int     `json:"items"`
	Local         int     `json:"local"`
	LocalShare    float64 `json:"local_share"`
	LocalCorrect  int     `json:"local_correct"`
	LocalAccuracy float64 `json:"accepted_local_accuracy"`
	// Accuracy is the share of all answers right (local or cloud).
	Accuracy float64 `json:"accuracy"`
	Feedback int     `json:"feedback"`
}

func summarize(rows []replayRow) replaySummary {
	var s replaySummary
	right := 0
	for _, r := range rows {
		s.Items++
		if r.Correct {
			right++
		}
		if r.Feedback {
			s.Feedback++
		}
		if r.Route == "local" {
			s.Local++
			if r.Correct {
				s.LocalCorrect++
			}
		}
	}
	if s.Items > 0 {
		s.LocalShare, s.Accuracy = float64(s.Local)/float64(s.Items), float64(right)/float64(s.Items)
	}
	if s.Local > 0 {
		s.LocalAccuracy = float64(s.LocalCorrect) / float64(s.Local)
	}
	return s
}

func writeRun(dir string, rows []replayRow) error {
	f, err := os.Create(filepath.Join(dir, "rows.jsonl"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(runSummary(rows), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}

// runSummary is the whole run, each phase, and the post-shift part after
// its first 300 queries (the measure), with the best threshold in
// hindsight there when the run has oracle answers.
func runSummary(rows []replayRow) map[string]any {
	out := map[string]any{"all": summarize(rows)}
	var pre, post []replayRow
	for _, r := range rows {
		if r.Phase == "post" {
			post = append(post, r)
		} else if r.Phase == "pre" {
			pre = append(pre, r)
		}
	}
	if len(pre) > 0 {
		out["pre"] = summarize(pre)
	}
	if len(post) > 0 {
		out["post"] = summarize(post)
	}
	if len(post) > 300 {
		late := post[300:]
		out["post_after_300"] = summarize(late)
		if h, ok := hindsight(late, 0.9); ok {
			out["post_after_300_hindsight"] = h
		}
	}
	if n := len(rows); n > 0 {
		out["labels_total"] = lastLabels(rows)
	}
	return out
}

func lastLabels(rows []replayRow) map[string]int {
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Labels != nil {
			return rows[i].Labels
		}
	}
	return nil
}

// hindsightResult is the lowest threshold whose accepted local answers were
// at least target right, chosen knowing every local answer.
type hindsightResult struct {
	Threshold     float64 `json:"threshold"`
	LocalShare    float64 `json:"local_share"`
	LocalAccuracy float64 `json:"accepted_local_accuracy"`
}

func hindsight(rows []replayRow, target float64) (hindsightResult, bool) {
	type sc struct {
		s  float64
		ok bool
	}
	var xs []sc
	for _, r := range rows {
		if r.OracleScore == nil || r.OracleCorrect == nil {
			return hindsightResult{}, false
		}
		xs = append(xs, sc{*r.OracleScore, *r.OracleCorrect})
	}
	best := hindsightResult{Threshold: 1}
	for _, cand := range xs {
		n, k := 0, 0
		for _, x := range xs {
			if x.s >= cand.s {
				n++
				if x.ok {
					k++
				}
			}
		}
		if acc := float64(k) / float64(n); acc >= target && float64(n)/float64(len(xs)) > best.LocalShare {
			best = hindsightResult{Threshold: cand.s, LocalShare: float64(n) / float64(len(xs)), LocalAccuracy: acc}
		}
	}
	return best, true
}
