package main

// The progress lines and the final markdown report.

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// report is everything the run observed.
type report struct {
	o                  options
	base, final        runtimeStats
	data               *dataDir
	started, loadEnded time.Time
	log                *chaosLog
	stuck              []string
	capped, after      proxyCounts // at the end of the load; after the drain
	cloudsimCalls      int
	exitCode           int
	drained            bool
	drainTime          time.Duration
	outbox             outboxCounts
	verdicts           []verdict
	dataFiles          string // the data folder's files at the end
}

// statusKey is how a record is counted in the status tally.
func statusKey(r record) string {
	switch {
	case r.TimedOut:
		return "timeout"
	case r.Excused:
		return "cut by kill"
	case r.Status == 0:
		return "no response"
	case r.Status == 200 && r.StreamErr != "":
		return "200+error event"
	}
	return fmt.Sprint(r.Status)
}

// tally counts records by key, sorted by key.
func tally(recs []record, key func(record) string) string {
	m := map[string]int{}
	for _, r := range recs {
		m[key(r)]++
	}
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func (rep *report) chaosTally() string {
	c := rep.log.counts()
	if len(c) == 0 {
		return "none yet"
	}
	keys := sortedKeys(c)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c[k])
	}
	return strings.Join(parts, ", ")
}

// progress is one line while the load runs.
func (rep *report) progress(recs []record, mode Mode) string {
	return fmt.Sprintf("[%s] %d requests (%s); %d deferred; cloud %s; chaos: %s",
		time.Since(rep.started).Round(time.Second), len(recs), tally(recs, statusKey), len(seenIDs(recs)), mode, rep.chaosTally())
}

// markdown is the run's result for docs/soak.md.
func (rep *report) markdown(recs []record) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	failed := 0
	for _, v := range rep.verdicts {
		if !v.OK() {
			failed++
		}
	}
	result := "every invariant held"
	if failed > 0 {
		result = fmt.Sprintf("%d of %d invariants FAILED", failed, len(rep.verdicts))
	}
	p("# Soak test: the last run")
	p("")
	p("Written by `scripts/soak.sh` (`cmd/edgecascade-soak`): the real daemon, the test bed's")
	p("Self-REF model in a real Ollama, and cloudsim behind a chaos proxy, under a steady")
	p("concurrent load while the chaos loops break things; then the invariants below.")
	p("Not part of CI. Rerun with `scripts/soak.sh --duration %s --commit-result`", rep.o.duration)
	p("(as root, for the tmpfs; Ollama from `scripts/install-ollama.sh`; cloudsim from the shared")
	p("test bed beside the repository, or `EDGECASCADE_TESTBED`). The daemon's log and config, and")
	p("every request's record (`requests.jsonl`), stay in the `--out` folder. Exit status 1: an")
	p("invariant failed; the table below names it with examples.")
	p("")
	p("**Result: %s.** Run of %s (UTC), revision %s.", result, rep.started.UTC().Format("2006-01-02 15:04"), orUnknown(rep.o.rev))
	p("")
	p("## What ran")
	p("")
	p("| | |")
	p("|---|---|")
	p("| load | %d workers for %s, %d requests, deadline %s each, seed %d |", rep.o.workers, rep.o.duration, len(recs), rep.o.deadline, rep.o.seed)
	p("| mix | %s |", tally(recs, func(r record) string { return r.API }))
	p("| policies | %s |", tally(recs, func(r record) string {
		if r.Bad != "" {
			return "bad input"
		}
		return r.Policy
	}))
	p("| streamed | %s |", tally(recs, func(r record) string { return fmt.Sprint(r.Stream) }))
	p("| bad inputs | %s |", tally(filter(recs, func(r record) bool { return r.Bad != "" }), func(r record) string { return r.Bad + " → " + statusKey(r) }))
	p("| statuses | %s |", tally(recs, statusKey))
	p("| errors (good requests) | %s |", tally(filter(recs, func(r record) bool { return r.Bad == "" && r.Status != 200 && r.Status != 0 }),
		func(r record) string { return fmt.Sprintf("%d %s %s", r.Status, r.Policy, truncate(r.ErrCode, 40)) }))
	p("| routes (200) | %s |", tally(filter(recs, func(r record) bool { return r.Status == 200 }), func(r record) string { return orUnknown(r.Route) }))
	p("| deferred IDs seen | %d |", len(seenIDs(recs)))
	p("| local model | %s, scorer selfref, threshold 0.5 |", "tiny-selfref")
	p("| data folder | %s; at the end: %s |", rep.dataLine(), cell(rep.dataFiles))
	p("| budget | calls_per_day %d while loaded; lifted (restart) for the drain |", rep.o.callsPerDay)
	p("| chaos | %s |", rep.chaosTally())
	p("| cloud (chaos proxy) | while capped: %d reached cloudsim (%s), %d answered in full, not in full: %s; faked by the proxy: %s; cloudsim's own count %d |",
		sumDays(rep.capped.Forwarded), days(rep.capped.Forwarded), sumDays(rep.capped.Answered), days(rep.capped.Unfinished), modes(rep.capped.Faked), rep.cloudsimCalls)
	p("| drain | %s after the lift: %d done, %d failed; %d calls reached cloudsim in all |", rep.drainTime.Round(time.Second), rep.outbox.Done, rep.outbox.Failed, sumDays(rep.after.Forwarded))
	p("")
	p("## Invariants")
	p("")
	p("| invariant | result | checked | detail |")
	p("|---|---|---|---|")
	for _, v := range rep.verdicts {
		res := "ok"
		if !v.OK() {
			res = fmt.Sprintf("**FAIL** (%d)", len(v.Fails))
		}
		p("| %s | %s | %d | %s |", v.Name, res, v.Checked, cell(v.Detail))
	}
	for _, v := range rep.verdicts {
		if v.OK() {
			continue
		}
		p("")
		p("### FAIL: %s", v.Name)
		p("")
		for i, f := range v.Fails {
			if i == 8 {
				p("- … and %d more", len(v.Fails)-i)
				break
			}
			p("- %s", cell(f))
		}
	}
	p("")
	p("## Chaos timeline")
	p("")
	p("| at | event | detail |")
	p("|---|---|---|")
	for _, e := range rep.log.events() {
		p("| %s | %s | %s |", e.At, e.Kind, e.Detail)
	}
	return b.String()
}

func (rep *report) dataLine() string {
	if rep.data != nil && rep.data.Why == "" {
		return "tmpfs of " + rep.o.tmpfsSize + " (filled and freed by the chaos loop)"
	}
	why := ""
	if rep.data != nil {
		why = rep.data.Why
	}
	return "plain folder, not a tmpfs (" + cell(why) + "): disk-full events skipped"
}

func filter(recs []record, keep func(record) bool) []record {
	var out []record
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func sumDays(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func days(m map[string]int) string {
	var parts []string
	for _, d := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s: %d", d, m[d]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func modes(m map[Mode]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[Mode(k)]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// cell makes s safe inside a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
