package main

// The fault tests: what a user of the real `edgecascade serve` process sees
// when the cloud, the local model, the disk or the process itself fails. Each
// case asserts the expected behaviour and returns what it observed; together
// they produce the fault table in docs/faults.md:
//
//	go test ./cmd/edgecascade -run TestFault -update-faults   # rewrite the table
//	go test ./cmd/edgecascade -run TestFault                  # fail when it is stale
//
// To add a fault, append a faultCase to one of the lists that allFaultCases
// joins (or add a list): its name is the subtest name and the table's order.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var updateFaults = flag.Bool("update-faults", false, "rewrite docs/faults.md from the fault tests' observations")

// faultDoc is the fault table, relative to this package.
var faultDoc = filepath.Join("..", "..", "docs", "faults.md")

// faultCase is one row of the fault table.
type faultCase struct {
	name     string // subtest of TestFault, e.g. "cloud/429/policy-cloud"
	fault    string // what goes wrong
	expected string // what a user should see
	// run injects the fault, asserts the expected behaviour (failing the
	// test otherwise) and returns what it observed, in words that do not
	// change from run to run (statuses, error fragments, exit codes; no
	// timings, ports or temporary paths). It calls skipFault when the fault
	// cannot be injected here.
	run func(t *testing.T, fx *faultFixtures) string
}

// allFaultCases is the fault table's rows, in order.
func allFaultCases() []faultCase {
	var all []faultCase
	for _, list := range [][]faultCase{cloudFaultCases(), localFaultCases(), diskFaultCases(), shutdownFaultCases(), outboxFaultCases()} {
		all = append(all, list...)
	}
	return all
}

// faultFixtures holds what several cases share (a fake cloud, a daemon),
// created on first use and stopped when TestFault ends.
type faultFixtures struct {
	parent *testing.T
	mu     sync.Mutex
	made   map[string]any
	skips  map[string]string // case name → why it was skipped
}

// get returns the fixture named key, making it with mk on first use. mk gets
// the parent test, so its cleanups run when TestFault ends.
func (fx *faultFixtures) get(key string, mk func(t *testing.T) any) any {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if v, ok := fx.made[key]; ok {
		return v
	}
	v := mk(fx.parent)
	fx.made[key] = v
	return v
}

// skipFault skips a case that cannot be injected here; the table says so.
func (fx *faultFixtures) skipFault(t *testing.T, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	fx.mu.Lock()
	fx.skips[t.Name()] = reason
	fx.mu.Unlock()
	t.Skip("skipping: " + reason)
}

func TestFault(t *testing.T) {
	cases := allFaultCases()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("two fault cases are named %q", c.name)
		}
		seen[c.name] = true
	}
	fx := &faultFixtures{parent: t, made: map[string]any{}, skips: map[string]string{}}
	observed := map[string]string{} // case name → observation, for the cases that ran
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obs := c.run(t, fx)
			if strings.ContainsAny(obs, "\n|") {
				t.Fatalf("observation %q has a newline or a |: it would break the table", obs)
			}
			observed[t.Name()] = obs
		})
	}
	for name, reason := range fx.skips {
		observed[name] = "skipped: " + reason
	}
	if t.Failed() {
		return
	}
	rows := make([]faultRow, len(cases))
	for i, c := range cases {
		rows[i] = faultRow{Fault: c.fault, Expected: c.expected, Test: "TestFault/" + c.name}
	}
	old, err := readFaultTable(faultDoc)
	if err != nil && !(*updateFaults && os.IsNotExist(err)) {
		t.Fatalf("%v (regenerate it: go test ./cmd/edgecascade -run TestFault -update-faults)", err)
	}
	if *updateFaults {
		for i := range rows {
			if obs, ok := observed[rows[i].Test]; ok {
				rows[i].Observed = obs
			} else if o, ok := old[rows[i].Test]; ok { // filtered out by -run: keep
				rows[i].Observed = o.Observed
			} else {
				rows[i].Observed = "not run yet"
			}
		}
		if err := os.WriteFile(faultDoc, []byte(renderFaultTable(rows)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var stale []string
	if len(old) != len(rows) {
		stale = append(stale, fmt.Sprintf("the table has %d rows, the tests %d", len(old), len(rows)))
	}
	for _, r := range rows {
		o, ok := old[r.Test]
		switch {
		case !ok:
			stale = append(stale, r.Test+": missing")
		case o.Fault != r.Fault || o.Expected != r.Expected:
			stale = append(stale, fmt.Sprintf("%s: fault/expected differ:\n\tdoc:  %s | %s\n\ttest: %s | %s", r.Test, o.Fault, o.Expected, r.Fault, r.Expected))
		case fx.skips[r.Test] != "":
			// Skipped here (e.g. no mount): the doc keeps the observation
			// of a run that could inject the fault.
		default:
			if obs, ran := observed[r.Test]; ran && obs != o.Observed {
				stale = append(stale, fmt.Sprintf("%s: observed differs:\n\tdoc:  %s\n\trun:  %s", r.Test, o.Observed, obs))
			}
		}
	}
	if len(stale) > 0 {
		t.Fatalf("%s is stale (regenerate it: go test ./cmd/edgecascade -run TestFault -update-faults):\n%s",
			faultDoc, strings.Join(stale, "\n"))
	}
}

// faultRow is one row of docs/faults.md.
type faultRow struct{ Fault, Expected, Observed, Test string }

const faultHeader = `# Fault table

What a user of ` + "`edgecascade serve`" + ` sees when something fails. Generated by the
fault tests (` + "`cmd/edgecascade/faults*_test.go`" + `), which run the real binary against a
real Ollama with the test-bed models and, for the cloud, a fake server speaking
the OpenAI Chat Completions wire format. Do not edit by hand; regenerate with

    go test ./cmd/edgecascade -run TestFault -update-faults

The normal suite fails when this file no longer matches what the tests
observe. The cloud cases run with ` + "`cloud.timeout: 2s`" + `, ` + "`cloud.max_retries: 1`" + ` and a
threshold above 1 (every ` + "`auto`" + ` request escalates); "stream" means
` + "`\"stream\": true`" + ` under policy ` + "`cloud`" + `, "auto-stream" under policy ` + "`auto`" + `.
Addresses and temporary paths are written as ADDR and DIR.

Each row is one fault at a time. Many at once, for ten minutes under load (the cloud
flapping, Ollama and the daemon killed, SIGHUP, the disk filling), is the soak test
(` + "`scripts/soak.sh`" + `, not in CI): what it ran and found in its last run is in
[soak.md](soak.md).

| fault | expected | observed | test |
|---|---|---|---|
`

func renderFaultTable(rows []faultRow) string {
	var b strings.Builder
	b.WriteString(faultHeader)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` |\n", r.Fault, r.Expected, r.Observed, r.Test)
	}
	return b.String()
}

var faultRowRE = regexp.MustCompile("^\\| (.*) \\| (.*) \\| (.*) \\| `(TestFault/[^`]+)` \\|$")

// readFaultTable parses the rows of docs/faults.md by test name.
func readFaultTable(path string) (map[string]faultRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows := map[string]faultRow{}
	for _, line := range strings.Split(string(b), "\n") {
		m := faultRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := rows[m[4]]; dup {
			return nil, fmt.Errorf("%s: test %s has two rows", path, m[4])
		}
		rows[m[4]] = faultRow{Fault: m[1], Expected: m[2], Observed: m[3], Test: m[4]}
	}
	return rows, nil
}

var (
	loopbackRE = regexp.MustCompile(`(127\.\d+\.\d+\.\d+|localhost):\d+`)
	spacesRE   = regexp.MustCompile(`\s+`)
)

// normalize makes an error text deterministic and table-safe: loopback
// addresses become ADDR, the given temporary folders DIR, white space one
// space, and | a slash.
// deferredRE matches outbox item IDs, which differ each run.
var deferredRE = regexp.MustCompile(`dfr_[0-9a-f]{32}`)

func normalize(s string, dirs ...string) string {
	for _, d := range dirs {
		if d != "" {
			s = strings.ReplaceAll(s, d, "DIR")
		}
	}
	s = loopbackRE.ReplaceAllString(s, "ADDR")
	s = deferredRE.ReplaceAllString(s, "dfr_ID")
	s = strings.ReplaceAll(s, "|", "/")
	return strings.TrimSpace(spacesRE.ReplaceAllString(s, " "))
}

// mustContain fails unless s contains every fragment.
func mustContain(t *testing.T, what, s string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			t.Fatalf("%s does not contain %q:\n%s", what, f, s)
		}
	}
}
