// Command edgecascade-soak drives the real daemon at a steady concurrent
// load while a chaos loop breaks what it depends on, then checks that every
// promise held. It is run by scripts/soak.sh, which builds what it needs:
//
//	scripts/soak.sh --duration 10m --out out/soak
//
// It starts `ollama serve` with the test bed's Self-REF model, cloudsim
// behind an in-process chaos proxy, and `edgecascade serve` with its data
// folder on a small tmpfs. For the run's duration, workers send a mix of
// policies, APIs, streams and bad inputs, while the chaos loops flap the
// cloud (refused, dropped, 429, 5xx, slow, cut), kill -9 and restart Ollama,
// send SIGHUP, fill and free the data folder, and kill -9 and restart the
// daemon. Then the chaos stops, the budget cap is lifted (a restart), the
// outbox drains, and the invariants are checked. It prints a table, writes
// it to OUT/soak.md, and exits 1 when an invariant fails.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

type options struct {
	bin, cloudsim, questions, cloudData, out string
	duration, interval, deadline, drainWait  time.Duration
	workers, callsPerDay                     int
	tmpfsSize, rev                           string
	seed                                     uint64
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the edgecascade binary")
	flag.StringVar(&o.cloudsim, "cloudsim", "", "the cloudsim binary")
	flag.StringVar(&o.questions, "questions", "", "JSONL questions to ask (the test bed's data/val.jsonl)")
	flag.StringVar(&o.cloudData, "cloud-data", "", "cloudsim's answer keys (comma-separated JSONL)")
	flag.StringVar(&o.out, "out", "out/soak", "folder for logs, the data folder and soak.md")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load and the chaos run")
	flag.DurationVar(&o.interval, "chaos-interval", 15*time.Second, "mean time between process chaos events")
	flag.DurationVar(&o.deadline, "deadline", 60*time.Second, "each request's deadline")
	flag.DurationVar(&o.drainWait, "drain-wait", 8*time.Minute, "how long to wait for the outbox to drain at the end")
	flag.IntVar(&o.workers, "workers", 6, "concurrent clients")
	flag.IntVar(&o.callsPerDay, "calls-per-day", 0, "budget.calls_per_day (0: 6 a second of the run's duration)")
	flag.StringVar(&o.tmpfsSize, "tmpfs-size", "", "size of the tmpfs holding the data folder (default: 8 MiB a minute of the run, at least 64m; the decision log grows about 1.6 MiB a minute)")
	flag.StringVar(&o.rev, "rev", "", "the revision under test, for the report")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "seed of the load and the chaos")
	flag.Parse()
	if o.bin == "" || o.cloudsim == "" || o.questions == "" || o.cloudData == "" {
		fmt.Fprintln(os.Stderr, "usage: edgecascade-soak -bin EDGECASCADE -cloudsim CLOUDSIM -questions val.jsonl -cloud-data a.jsonl,b.jsonl [-duration 10m] [-out DIR]")
		os.Exit(2)
	}
	if abs, err := filepath.Abs(o.out); err == nil {
		o.out = abs
	}
	if o.tmpfsSize == "" {
		o.tmpfsSize = fmt.Sprintf("%dm", max(64, int(o.duration.Minutes()*8)))
	}
	if o.callsPerDay == 0 {
		o.callsPerDay = max(20, int(o.duration.Seconds()*6))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// env is what run starts, torn down in reverse order at the end.
type env struct {
	o        options
	data     *dataDir
	ollama   *ollamatest.Server
	cloudsim *proc
	cloudURL string
	proxy    *Proxy
	daemon   *Daemon
	client   *http.Client
}

func (e *env) close() {
	if e.daemon != nil {
		e.daemon.Close()
	}
	if e.proxy != nil {
		e.proxy.Close()
	}
	if e.cloudsim != nil {
		e.cloudsim.kill()
	}
	if e.ollama != nil {
		e.ollama.Stop()
	}
	if e.data != nil {
		if err := e.data.unmount(); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
		}
	}
}

func say(format string, args ...any) {
	fmt.Printf("soak: "+format+"\n", args...)
}

func (e *env) setUp(ctx context.Context) error {
	o := e.o
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	dataPath := filepath.Join(o.out, "data")
	unmountStale(dataPath) // a mount left by a run that was killed
	if err := os.RemoveAll(dataPath); err != nil {
		return err
	}
	e.data = mountData(dataPath, o.tmpfsSize)
	if e.data.Tmpfs {
		say("data folder: tmpfs of %s at %s", o.tmpfsSize, dataPath)
	} else {
		say("data folder: plain folder %s (no tmpfs: %s); the disk-full event is skipped", dataPath, e.data.Why)
	}
	ollamaDir := filepath.Join(o.out, "ollama")
	_ = os.RemoveAll(ollamaDir)
	if err := os.MkdirAll(ollamaDir, 0o755); err != nil {
		return err
	}
	say("starting Ollama and importing %s...", ollamatest.SelfRef)
	var err error
	if e.ollama, err = ollamatest.Start(ctx, ollamaDir, ollamatest.SelfRef); err != nil {
		return err
	}
	if e.cloudsim, e.cloudURL, err = startCloudsim(ctx, o.cloudsim, o.cloudData, filepath.Join(o.out, "cloudsim.log")); err != nil {
		return err
	}
	if e.proxy, err = NewProxy(e.cloudURL, o.seed); err != nil {
		return err
	}
	say("Ollama %s, cloudsim %s, chaos proxy %s", e.ollama.URL, e.cloudURL, e.proxy.URL())
	cfg := filepath.Join(o.out, "edgecascade.yaml")
	if err := os.WriteFile(cfg, []byte(daemonConfig(e.ollama.URL, e.proxy.URL(), dataPath, o.callsPerDay)), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(o.out, "daemon.log")
	_ = os.Remove(logPath)
	e.daemon = &Daemon{Bin: o.bin, Config: cfg, LogPath: logPath,
		Env: []string{"OPENAI_API_KEY=sk-soak", "EDGECASCADE_RESOURCES_ENABLED=false"}}
	if err := e.daemon.Start(ctx); err != nil {
		return err
	}
	base, _, _ := e.daemon.Base()
	say("edgecascade serve at %s (budget.calls_per_day %d)", base, o.callsPerDay)
	return nil
}

// daemonConfig is the daemon's configuration: the Self-REF model (so the
// confidence tokens are stripped on every answer), a short cloud timeout,
// the breaker quick to probe, the budget capped, the outbox draining fast.
func daemonConfig(ollamaURL, cloudURL, dataDir string, callsPerDay int) string {
	return fmt.Sprintf(`# written by edgecascade-soak
local:
  backend: ollama
  url: %s
  model: %s
  timeout: 20s
  top_logprobs: 5
  max_concurrent: 1
  max_queue: 16
cloud:
  provider: openai
  base_url: %s/v1
  model: frontier-sim
  timeout: 5s
  max_retries: 1
  breaker:
    failures: 3
    probe_interval: 2s
    max_probe_interval: 10s
cascade:
  scorer: selfref
  threshold: 0.5
server:
  max_body_bytes: 65536
  shutdown_timeout: 10s
  pprof: true
data_dir: %s
log:
  level: info
  decisions: true
budget:
  calls_per_day: %d
outbox:
  enabled: true
  drain_rate: 50
resources:
  enabled: false
`, ollamaURL, ollamatest.SelfRef, cloudURL, dataDir, callsPerDay)
}

// get fetches base+path and decodes JSON into v (when v is not nil); it
// returns the status.
func (e *env) get(ctx context.Context, path string, v any) (int, string, error) {
	base, _, _ := e.daemon.Base()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, string(b), fmt.Errorf("GET %s: %w", path, err)
		}
	}
	return resp.StatusCode, string(b), nil
}

// idleStats lets the daemon idle, runs a GC (through pprof) and reads its
// goroutines and heap.
func (e *env) idleStats(ctx context.Context, idle time.Duration) (runtimeStats, error) {
	e.client.CloseIdleConnections()
	sleep(ctx, idle)
	// A GC through pprof (server.pprof), so that the heap is live data only;
	// best effort: without it the heap check is only looser.
	_, _, _ = e.get(ctx, "/debug/pprof/heap?gc=1", nil)
	e.client.CloseIdleConnections()
	sleep(ctx, time.Second)
	_, text, err := e.get(ctx, "/metrics", nil)
	if err != nil {
		return runtimeStats{}, err
	}
	return parseMetrics(text)
}

// deferredCounts reads GET /v1/cascade/deferred.
func (e *env) deferredCounts(ctx context.Context) (outboxCounts, error) {
	var v struct {
		Counts outboxCounts `json:"counts"`
	}
	status, body, err := e.get(ctx, "/v1/cascade/deferred", &v)
	if err == nil && status != 200 {
		err = fmt.Errorf("GET /v1/cascade/deferred: %d %s", status, truncate(body, 200))
	}
	return v.Counts, err
}

// items fetches every deferred item by ID.
func (e *env) items(ctx context.Context, ids []string) (map[string]deferredView, error) {
	out := map[string]deferredView{}
	for _, id := range ids {
		var v deferredView
		status, _, err := e.get(ctx, "/v1/cascade/deferred/"+id, &v)
		if err != nil {
			return out, err
		}
		v.Status = status
		out[id] = v
	}
	return out, nil
}

func run(ctx context.Context, o options) (bool, error) {
	e := &env{o: o, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers * 2}}}
	defer e.close()
	if err := e.setUp(ctx); err != nil {
		return false, err
	}
	base, err := e.idleStats(ctx, 2*time.Second)
	if err != nil {
		return false, fmt.Errorf("baseline: %w", err)
	}
	say("baseline: %d goroutines, heap %.1f MiB", base.Goroutines, base.HeapBytes/(1<<20))

	qs, err := loadQuestions(o.questions)
	if err != nil {
		return false, err
	}
	rep := &report{o: o, base: base, data: e.data, started: time.Now()}
	rep.log = &chaosLog{start: rep.started}
	fatal := make(chan error, 1)
	loadCtx, stopLoad := context.WithDeadline(ctx, rep.started.Add(o.duration))
	defer stopLoad()
	load := &Load{Questions: qs, Workers: o.workers, Deadline: o.deadline, MaxBody: 65536, Seed: o.seed,
		Base: e.daemon.Base, Gen: e.daemon.Gen}
	chaos := &Chaos{Proxy: e.proxy, Ollama: e.ollama, Daemon: e.daemon, Data: e.data, Log: rep.log,
		Rand: rand.New(rand.NewPCG(o.seed, 2)), Interval: o.interval, Quiet: min(20*time.Second, o.duration/6),
		Fatal: func(err error) {
			select {
			case fatal <- err:
			default:
			}
			stopLoad()
		}}
	say("load: %d workers for %s; chaos every ~%s (seed %d)", o.workers, o.duration, o.interval, o.seed)
	done := make(chan struct{})
	go func() {
		defer close(done)
		chaosDone := make(chan struct{})
		go func() { defer close(chaosDone); chaos.Run(loadCtx, rep.started.Add(o.duration)) }()
		load.Run(loadCtx, e.client)
		<-chaosDone // the last event has brought its process back
	}()
	progress := time.NewTicker(max(5*time.Second, o.duration/30))
	defer progress.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-progress.C:
			fmt.Println(rep.progress(load.Records(), e.proxy.Mode()))
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	select {
	case err := <-fatal:
		return false, err
	default:
	}
	rep.loadEnded = time.Now()
	if err := writeRecords(filepath.Join(o.out, "requests.jsonl"), load.Records()); err != nil {
		return false, err
	}
	return e.finish(ctx, rep, load.Records())
}

// finish brings everything back, checks the idle daemon, lifts the budget
// cap with a restart, waits for the drain and checks the invariants.
func (e *env) finish(ctx context.Context, rep *report, recs []record) (bool, error) {
	say("load done: %d requests; chaos off, cloud passing", len(recs))
	if err := e.proxy.SetMode(ModePass); err != nil {
		return false, err
	}
	if _, _, up := e.daemon.Base(); !up {
		if err := e.daemon.Start(ctx); err != nil {
			return false, err
		}
	}
	var err error
	if rep.final, err = e.idleStats(ctx, 5*time.Second); err != nil {
		return false, fmt.Errorf("final runtime stats: %w", err)
	}
	ids := sortedKeys(seenIDs(recs))
	rep.stuck, err = e.stuckSending(ctx, ids)
	if err != nil {
		return false, err
	}
	rep.capped = e.proxy.Counts()
	rep.cloudsimCalls = e.cloudsimCalls(ctx)
	say("lifting the budget cap: restart with budget.calls_per_day 0")
	rep.exitCode = e.daemon.Stop(15 * time.Second)
	cfg, err := os.ReadFile(e.daemon.Config)
	if err != nil {
		return false, err
	}
	lifted := strings.Replace(string(cfg), fmt.Sprintf("calls_per_day: %d", e.o.callsPerDay), "calls_per_day: 0", 1)
	if err := os.WriteFile(e.daemon.Config, []byte(lifted), 0o644); err != nil {
		return false, err
	}
	if err := e.daemon.Start(ctx); err != nil {
		return false, err
	}
	rep.drained, rep.drainTime, err = e.waitDrain(ctx)
	if err != nil {
		return false, err
	}
	if rep.outbox, err = e.deferredCounts(ctx); err != nil {
		return false, err
	}
	items, err := e.items(ctx, ids)
	if err != nil {
		return false, err
	}
	logText, _ := os.ReadFile(e.daemon.LogPath)
	rep.dataFiles = e.data.usage()
	rep.after = e.proxy.Counts()
	// Calls cut or abandoned after they reached the provider are billed
	// too: the strict form of the cap (issue 14, item 2).
	billed := checkBudget("budget: calls that reached the cloud ≤ daily cap", e.o.callsPerDay, rep.capped.Forwarded)
	billed.Detail += "; not relayed whole: " + days(rep.capped.Unfinished)
	rep.verdicts = []verdict{
		checkAnswers(recs),
		checkDeadlines(recs),
		checkDeferred(recs, items),
		checkLocalAnswers(recs, items),
		checkStuckSending(rep.stuck),
		checkLostAnswers(string(logText), items),
		checkOutbox(rep.outbox, rep.drained),
		billed,
		checkBudget("budget: calls answered in full ≤ daily cap", e.o.callsPerDay, rep.capped.Answered),
		checkLeaks(rep.base, rep.final),
		checkTokens(recs, items, []string{"<CN>", "<UN>"}),
		checkLog(string(logText)),
		checkShutdown(rep.exitCode),
	}
	md := rep.markdown(recs)
	fmt.Println()
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(e.o.out, "soak.md"), []byte(md), 0o644); err != nil {
		return false, err
	}
	say("wrote %s", filepath.Join(e.o.out, "soak.md"))
	var failed []string
	for _, v := range rep.verdicts {
		if !v.OK() {
			failed = append(failed, fmt.Sprintf("%s (%d, e.g. %s)", v.Name, len(v.Fails), v.Fails[0]))
		}
	}
	if len(failed) > 0 {
		say("FAILED: %s", strings.Join(failed, "; "))
		return false, nil
	}
	say("every invariant held")
	return true, nil
}

// stuckSending reports the items that are in sending twice, 15 s apart,
// with the same attempt count, on the idle daemon.
func (e *env) stuckSending(ctx context.Context, ids []string) ([]string, error) {
	first, err := e.items(ctx, ids)
	if err != nil {
		return nil, err
	}
	var sending []string
	for _, id := range ids {
		if first[id].State == "sending" {
			sending = append(sending, id)
		}
	}
	if len(sending) == 0 {
		return nil, nil
	}
	sleep(ctx, 15*time.Second)
	again, err := e.items(ctx, sending)
	if err != nil {
		return nil, err
	}
	var stuck []string
	for _, id := range sending {
		if v := again[id]; v.State == "sending" && v.Attempts == first[id].Attempts {
			stuck = append(stuck, fmt.Sprintf("%s: sending for 15 s on an idle daemon, attempt %d, last error %q", id, v.Attempts, v.LastError))
		}
	}
	return stuck, nil
}

// cloudsimCalls is cloudsim's own count of chat completions.
func (e *env) cloudsimCalls(ctx context.Context) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.cloudURL+"/stats", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var s struct {
		Calls int `json:"calls"`
	}
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return -1
	}
	return s.Calls
}

// waitDrain polls the outbox until nothing is queued or sending.
func (e *env) waitDrain(ctx context.Context) (bool, time.Duration, error) {
	start := time.Now()
	last := time.Time{}
	for time.Since(start) < e.o.drainWait {
		c, err := e.deferredCounts(ctx)
		if err != nil {
			return false, time.Since(start), err
		}
		if c.Queued == 0 && c.Sending == 0 {
			say("outbox drained in %s: %d done, %d failed", time.Since(start).Round(time.Second), c.Done, c.Failed)
			return true, time.Since(start), nil
		}
		if time.Since(last) > 10*time.Second {
			say("draining: %d queued, %d sending, %d done, %d failed", c.Queued, c.Sending, c.Done, c.Failed)
			last = time.Now()
		}
		sleep(ctx, time.Second)
		if ctx.Err() != nil {
			return false, time.Since(start), ctx.Err()
		}
	}
	say("the outbox did not drain within %s", e.o.drainWait)
	return false, time.Since(start), nil
}

// writeRecords writes every request's record, one JSON object a line, for
// digging into a failure.
func writeRecords(path string, recs []record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
