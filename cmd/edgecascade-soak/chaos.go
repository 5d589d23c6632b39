package main

// The chaos loops: one flaps the cloud (the proxy's mode), the other kills
// and restarts Ollama, sends SIGHUP, fills the data folder and kills the
// daemon. Both stop by themselves when their context ends.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"
)

// event is one thing the chaos loops did.
type event struct {
	At     time.Duration // since the start of the load
	Kind   string        // cloud:MODE, ollama-kill, sighup, disk-full, daemon-kill
	Detail string
}

// chaosLog collects events. Safe for concurrent use.
type chaosLog struct {
	start time.Time
	mu    sync.Mutex
	evs   []event
}

func (c *chaosLog) add(kind, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, event{At: time.Since(c.start).Round(time.Second), Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (c *chaosLog) events() []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event(nil), c.evs...)
}

// counts is the number of events of each kind.
func (c *chaosLog) counts() map[string]int {
	m := map[string]int{}
	for _, e := range c.events() {
		m[e.Kind]++
	}
	return m
}

// ollamaCtl is what the chaos loop needs of Ollama.
type ollamaCtl interface {
	Stop()
	Restart(ctx context.Context) error
}

// Chaos is the two loops and what they act on.
type Chaos struct {
	Proxy    *Proxy
	Ollama   ollamaCtl
	Daemon   *Daemon
	Data     *dataDir
	Log      *chaosLog
	Rand     *rand.Rand
	Interval time.Duration // mean time between process events
	// Quiet is how long before the end no process event starts, so that
	// the last daemon serves a while before its leak check.
	Quiet time.Duration
	// Fatal is told of a failure the run cannot continue after (a process
	// that does not come back).
	Fatal func(error)
}

// jitter is d ± 50%.
func (c *Chaos) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(c.Rand.Int64N(int64(d)+1))
}

// Run runs both loops until ctx ends and leaves the cloud passing.
func (c *Chaos) Run(ctx context.Context, end time.Time) {
	var wg sync.WaitGroup
	wg.Add(2)
	rnd := rand.New(rand.NewPCG(c.Rand.Uint64(), 1)) // the weather's own
	go func() { defer wg.Done(); c.weather(ctx, rnd) }()
	go func() { defer wg.Done(); c.processes(ctx, end) }()
	wg.Wait()
	if err := c.Proxy.SetMode(ModePass); err != nil {
		c.Fatal(err)
	}
}

// weather flaps the cloud: healthy for 10–30 s, then one bad mode for
// 5–25 s, each bad mode in turn in a shuffled order.
func (c *Chaos) weather(ctx context.Context, rnd *rand.Rand) {
	var order []Mode
	for ctx.Err() == nil {
		sleep(ctx, time.Duration(10+rnd.IntN(21))*time.Second)
		if ctx.Err() != nil {
			return
		}
		if len(order) == 0 {
			order = append([]Mode(nil), badWeather...)
			rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		m := order[0]
		order = order[1:]
		hold := time.Duration(5+rnd.IntN(21)) * time.Second
		if err := c.Proxy.SetMode(m); err != nil {
			c.Fatal(err)
			return
		}
		c.Log.add("cloud:"+string(m), "for %s", hold)
		sleep(ctx, hold)
		if err := c.Proxy.SetMode(ModePass); err != nil {
			c.Fatal(err)
			return
		}
	}
}

// processes runs one process event every Interval (jittered), each kind in
// turn in a shuffled order.
func (c *Chaos) processes(ctx context.Context, end time.Time) {
	kinds := []string{"ollama-kill", "sighup", "disk-full", "daemon-kill"}
	var order []string
	for ctx.Err() == nil {
		sleep(ctx, c.jitter(c.Interval))
		if ctx.Err() != nil || time.Until(end) < c.Quiet {
			return
		}
		if len(order) == 0 {
			order = append([]string(nil), kinds...)
			c.Rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		k := order[0]
		order = order[1:]
		if err := c.do(ctx, k); err != nil {
			c.Fatal(fmt.Errorf("chaos %s: %w", k, err))
			return
		}
	}
}

// do runs one process event to its end (the process is back).
func (c *Chaos) do(ctx context.Context, kind string) error {
	bctx := context.WithoutCancel(ctx) // bring things back even at the end
	switch kind {
	case "ollama-kill":
		down := c.jitter(6 * time.Second)
		c.Ollama.Stop()
		c.Log.add(kind, "down %s", down)
		sleep(ctx, down)
		return c.Ollama.Restart(bctx)
	case "sighup":
		c.Log.add(kind, "reload")
		return c.Daemon.Signal(syscall.SIGHUP)
	case "disk-full":
		n, err := c.Data.fill()
		if err != nil {
			c.Log.add(kind, "skipped: %v", err)
			return nil
		}
		hold := c.jitter(10 * time.Second)
		c.Log.add(kind, "filler %d KiB, held %s", n>>10, hold)
		sleep(ctx, hold)
		return c.Data.free()
	case "daemon-kill":
		down := c.jitter(2 * time.Second)
		c.Daemon.Kill()
		c.Log.add(kind, "down %s", down)
		sleep(ctx, down)
		return c.Daemon.Start(bctx)
	}
	return fmt.Errorf("unknown chaos event %q", kind)
}
