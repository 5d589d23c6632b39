package main

// The invariants checked at the end of a soak run. Each check is a pure
// function of what the run recorded, so that it can be tested alone.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// verdict is one invariant's result.
type verdict struct {
	Name    string
	Checked int      // how many things it looked at
	Detail  string   // a one-line summary
	Fails   []string // examples of violations (all of them; the report shows a few)
}

func (v verdict) OK() bool { return len(v.Fails) == 0 }

func (v *verdict) fail(format string, args ...any) {
	v.Fails = append(v.Fails, fmt.Sprintf(format, args...))
}

// deferredView is GET /v1/cascade/deferred/{id}.
type deferredView struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	LocalAnswer string `json:"local_answer"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"last_error"`
	Answer      *struct {
		Content string `json:"content"`
	} `json:"answer"`
	// Status is the HTTP status of the lookup (404: lost).
	Status int `json:"-"`
}

// Documented statuses: what a good request may get besides 200 (the
// cloud's refusal under policy cloud, the local model or the cloud out of
// reach, timeouts), and what a bad input must get.
var (
	goodErrorStatuses = []int{429, 502, 503, 504}
	badInputStatuses  = []int{400, 404, 413}
)

func (r record) label() string {
	s := fmt.Sprintf("#%d %s %s", r.N, r.API, r.Policy)
	if r.Stream {
		s += " stream"
	}
	if r.Bad != "" {
		s += " bad:" + r.Bad
	}
	return s
}

// checkAnswers: every request got an answer or a documented error in the
// API's error shape; never a 500; a transport error only when a daemon
// kill fell inside the request.
func checkAnswers(recs []record) verdict {
	v := verdict{Name: "every request answered or a documented error"}
	excused := 0
	for _, r := range recs {
		v.Checked++
		switch {
		case r.TimedOut:
			// checkDeadlines reports it.
		case r.Excused:
			excused++
		case r.Transport != "" && r.Status == 0:
			v.fail("%s: no response: %s", r.label(), r.Transport)
		case r.Bad != "":
			if !slices.Contains(badInputStatuses, r.Status) || !r.ErrShape {
				v.fail("%s: status %d (shape ok: %v) %s, want 400/404/413 in the API's error shape", r.label(), r.Status, r.ErrShape, r.ErrCode)
			}
		case r.Status == 200:
			switch {
			case r.Transport != "":
				v.fail("%s: 200, then %s", r.label(), r.Transport)
			case internal(r.StreamErr):
				v.fail("%s: 200, then an internal error event: %s", r.label(), r.StreamErr)
			case !r.Complete && r.StreamErr == "":
				v.fail("%s: 200, but the answer ended without its last frame", r.label())
			}
		case !slices.Contains(goodErrorStatuses, r.Status):
			v.fail("%s: status %d %s", r.label(), r.Status, r.ErrCode)
		case !r.ErrShape:
			v.fail("%s: status %d without the API's error shape: %s", r.label(), r.Status, r.ErrCode)
		case internal(r.ErrCode):
			v.fail("%s: status %d internal error: %s", r.label(), r.Status, r.ErrCode)
		}
	}
	v.Detail = fmt.Sprintf("%d requests; %d cut by a daemon kill (not counted)", len(recs), excused)
	return v
}

func internal(code string) bool {
	return code == "internal_error" || strings.HasPrefix(code, "internal error")
}

// checkDeadlines: no request hung past its deadline.
func checkDeadlines(recs []record) verdict {
	v := verdict{Name: "no request past its deadline"}
	var longest record
	for _, r := range recs {
		v.Checked++
		if r.Elapsed > longest.Elapsed {
			longest = r
		}
		if r.TimedOut {
			v.fail("%s: no answer within %s (status %d, %d bytes of answer)", r.label(), r.Deadline, r.Status, len(r.Content))
		}
	}
	if len(recs) > 0 {
		v.Detail = fmt.Sprintf("deadline %s; longest %s (%s)", longest.Deadline, longest.Elapsed.Round(1e6), longest.label())
	}
	return v
}

// seenIDs is every deferred ID a client saw, with the first record that
// carried it.
func seenIDs(recs []record) map[string]record {
	m := map[string]record{}
	for _, r := range recs {
		if r.DeferredID != "" {
			if _, ok := m[r.DeferredID]; !ok {
				m[r.DeferredID] = r
			}
		}
	}
	return m
}

// checkDeferred: every deferred ID a client saw is done (with an answer)
// or failed with a reason; none lost, none stuck.
func checkDeferred(recs []record, items map[string]deferredView) verdict {
	v := verdict{Name: "every deferred item answered or failed with a reason"}
	ids := seenIDs(recs)
	done, failed, retried := 0, 0, 0
	for _, id := range sortedKeys(ids) {
		r := ids[id]
		v.Checked++
		it, ok := items[id]
		switch {
		case !ok || it.Status == 404:
			v.fail("%s (%s): lost: the daemon does not know it", id, r.label())
		case it.Status != 200:
			v.fail("%s (%s): lookup status %d", id, r.label(), it.Status)
		case it.State == "done" && it.Answer != nil:
			done++
		case it.State == "done":
			v.fail("%s (%s): done without an answer", id, r.label())
		case it.State == "failed" && it.LastError != "":
			failed++
		case it.State == "failed":
			v.fail("%s (%s): failed without a reason", id, r.label())
		default:
			v.fail("%s (%s): stuck in %s after %d attempts (last error: %s)", id, r.label(), it.State, it.Attempts, it.LastError)
		}
		if ok && it.Attempts > 1 {
			retried++
		}
	}
	v.Detail = fmt.Sprintf("%d seen by clients: %d done, %d failed; %d needed more than one attempt", len(ids), done, failed, retried)
	return v
}

// checkLocalAnswers: the local answer stored with a deferred item is the
// one its client saw (for answers that arrived whole).
func checkLocalAnswers(recs []record, items map[string]deferredView) verdict {
	v := verdict{Name: "deferred item keeps the local answer the client saw"}
	for _, r := range recs {
		it, ok := items[r.DeferredID]
		if r.DeferredID == "" || !ok || it.Status != 200 || r.Excused || r.Transport != "" {
			continue
		}
		if r.Status == 200 && !r.Complete {
			continue
		}
		v.Checked++
		if it.LocalAnswer != r.Content {
			v.fail("%s (%s): client saw %q, the item keeps %q", r.DeferredID, r.label(), truncate(r.Content, 60), truncate(it.LocalAnswer, 60))
		}
	}
	v.Detail = fmt.Sprintf("%d compared", v.Checked)
	return v
}

// checkBudget: the calls that reached the fake provider on each UTC day
// are within the daily cap (counted before the cap was lifted at the end).
func checkBudget(name string, limit int, byDay map[string]int) verdict {
	v := verdict{Name: name}
	var parts []string
	for _, day := range sortedKeys(byDay) {
		n := byDay[day]
		v.Checked++
		parts = append(parts, fmt.Sprintf("%s: %d", day, n))
		if limit > 0 && n > limit {
			v.fail("%s: %d calls, cap %d", day, n, limit)
		}
	}
	v.Detail = fmt.Sprintf("cap %d/day; %s", limit, strings.Join(parts, ", "))
	if len(parts) == 0 {
		v.Detail = fmt.Sprintf("cap %d/day; no calls", limit)
	}
	return v
}

// outboxCounts is GET /v1/cascade/deferred's counts.
type outboxCounts struct {
	Queued  int `json:"queued"`
	Sending int `json:"sending"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
}

// checkOutbox: after the drain nothing is queued or sending, including
// items no client heard of (a kill between the store and the response).
func checkOutbox(c outboxCounts, drained bool) verdict {
	v := verdict{Name: "outbox empty after the drain", Checked: c.Queued + c.Sending + c.Done + c.Failed}
	if c.Queued > 0 || c.Sending > 0 {
		v.fail("%d queued, %d sending after the drain (drain finished: %v)", c.Queued, c.Sending, drained)
	}
	v.Detail = fmt.Sprintf("%d done, %d failed, %d queued, %d sending", c.Done, c.Failed, c.Queued, c.Sending)
	return v
}

// checkStuckSending: items in sending on an idle daemon that stay there.
func checkStuckSending(stuck []string) verdict {
	v := verdict{Name: "no item stuck in sending on an idle daemon"}
	for _, s := range stuck {
		v.Checked++
		v.fail("%s", s)
	}
	v.Detail = "checked twice, 15 s apart, before the last restart"
	return v
}

// runtimeStats are the daemon's Go runtime gauges from /metrics.
type runtimeStats struct {
	Goroutines int
	HeapBytes  float64
}

// parseMetrics reads go_goroutines and go_memstats_heap_alloc_bytes from
// a Prometheus text exposition.
func parseMetrics(text string) (runtimeStats, error) {
	var s runtimeStats
	found := 0
	for _, line := range strings.Split(text, "\n") {
		var f float64
		if n, _ := fmt.Sscanf(line, "go_goroutines %g", &f); n == 1 {
			s.Goroutines = int(f)
			found++
		}
		if n, _ := fmt.Sscanf(line, "go_memstats_heap_alloc_bytes %g", &f); n == 1 {
			s.HeapBytes = f
			found++
		}
	}
	if found != 2 {
		return s, fmt.Errorf("metrics: go_goroutines or go_memstats_heap_alloc_bytes missing")
	}
	return s, nil
}

// Leak tolerances: idle connections and caches legitimately add a little.
const (
	goroutineSlack = 25
	heapSlack      = 16 << 20
)

// checkLeaks: goroutines and heap of the daemon that lived through the
// load's end, after idling, are near the baseline of a fresh daemon.
func checkLeaks(base, final runtimeStats) verdict {
	v := verdict{Name: "goroutines and heap back near baseline", Checked: 2}
	if final.Goroutines > base.Goroutines+goroutineSlack {
		v.fail("goroutines %d after idling, baseline %d (slack %d)", final.Goroutines, base.Goroutines, goroutineSlack)
	}
	if final.HeapBytes > 2*base.HeapBytes+heapSlack {
		v.fail("heap %.1f MiB after idling, baseline %.1f MiB (allowed 2x + %d MiB)", final.HeapBytes/(1<<20), base.HeapBytes/(1<<20), heapSlack>>20)
	}
	v.Detail = fmt.Sprintf("goroutines %d → %d; heap %.1f → %.1f MiB", base.Goroutines, final.Goroutines, base.HeapBytes/(1<<20), final.HeapBytes/(1<<20))
	return v
}

// checkTokens: no Self-REF confidence token in any answer a client saw or
// the outbox kept.
func checkTokens(recs []record, items map[string]deferredView, tokens []string) verdict {
	v := verdict{Name: "no confidence token in any answer"}
	has := func(s string) bool {
		for _, t := range tokens {
			if strings.Contains(s, t) {
				return true
			}
		}
		return false
	}
	local := 0
	for _, r := range recs {
		if r.Status != 200 {
			continue
		}
		v.Checked++
		if r.Route == "local" {
			local++
		}
		if has(r.Content) {
			v.fail("%s route %s: %q", r.label(), r.Route, truncate(r.Content, 80))
		}
	}
	for _, id := range sortedKeys(items) {
		it := items[id]
		v.Checked++
		if has(it.LocalAnswer) {
			v.fail("%s local_answer: %q", id, truncate(it.LocalAnswer, 80))
		}
		if it.Answer != nil && has(it.Answer.Content) {
			v.fail("%s answer: %q", id, truncate(it.Answer.Content, 80))
		}
	}
	v.Detail = fmt.Sprintf("%d answers (%d local), %d deferred items", v.Checked-len(items), local, len(items))
	return v
}

// checkLog: the daemon's log has no panic, fatal error or data race.
func checkLog(log string) verdict {
	v := verdict{Name: "no panic in the daemon log"}
	errors := 0
	for _, line := range strings.Split(log, "\n") {
		v.Checked++
		if strings.Contains(line, "level=ERROR") {
			errors++
		}
		for _, bad := range []string{"panic:", "fatal error:", "DATA RACE", "level=ERROR msg=\"panic"} {
			if strings.Contains(line, bad) {
				v.fail("%s", truncate(strings.TrimSpace(line), 200))
				break
			}
		}
	}
	v.Detail = fmt.Sprintf("%d lines, %d at level ERROR (expected under chaos: the full disk, the cloud down)", v.Checked, errors)
	return v
}

// The drain's log lines (agent/outbox/drain.go) about a deferred item's
// cloud answer: its write failed (the answer is kept in memory), it was
// stored, and the daemon's start line.
var (
	unsavedRE  = regexp.MustCompile(`store the answer of (dfr_[0-9a-f]+) \(attempt (\d+);`)
	answeredRE = regexp.MustCompile(`msg="deferred item answered" id=(dfr_[0-9a-f]+) .*attempts=(\d+)`)
	startRE    = regexp.MustCompile(`msg="edgecascade serving"`)
)

// checkLostAnswers: a cloud answer to a deferred item is never thrown away
// (issue 14 item 3). When its write fails the answer is kept in memory and
// stored once a write works: the item is answered with the attempt that got
// the answer. Only a daemon restart in between (a kill: memory is gone)
// may make the cloud be asked again.
func checkLostAnswers(log string, items map[string]deferredView) verdict {
	v := verdict{Name: "no cloud answer to a deferred item thrown away"}
	pending := map[string]int{} // item → attempt whose answer waits in memory
	for _, line := range strings.Split(log, "\n") {
		if startRE.MatchString(line) {
			clear(pending) // a new process: what the old one held is gone
			continue
		}
		if m := unsavedRE.FindStringSubmatch(line); m != nil {
			if _, ok := pending[m[1]]; !ok {
				v.Checked++
			}
			pending[m[1]], _ = strconv.Atoi(m[2])
			continue
		}
		if m := answeredRE.FindStringSubmatch(line); m != nil {
			want, ok := pending[m[1]]
			if !ok {
				continue
			}
			delete(pending, m[1])
			if got, _ := strconv.Atoi(m[2]); got != want {
				v.fail("%s: the answer of attempt %d could not be stored, and the item was answered by attempt %d in the same process", m[1], want, got)
			}
		}
	}
	for id, attempt := range pending {
		after := "not seen by a client"
		if it, ok := items[id]; ok {
			after = fmt.Sprintf("at the end %s after %d attempts", it.State, it.Attempts)
		}
		if it, ok := items[id]; !ok || it.State != "done" || it.Attempts != attempt {
			v.fail("%s: the answer of attempt %d could not be stored and was never stored by that process; %s", id, attempt, after)
		}
	}
	v.Detail = "answers whose write failed, stored later without asking the cloud again"
	return v
}

// checkShutdown: SIGTERM on an idle daemon exits 0.
func checkShutdown(code int) verdict {
	v := verdict{Name: "SIGTERM exits 0", Checked: 1, Detail: fmt.Sprintf("exit status %d", code)}
	if code != 0 {
		v.fail("serve exited %d after SIGTERM (-1: still running after the wait, killed)", code)
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
