package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/outbox"
)

// sseEvent is one server-sent event.
type sseEvent struct{ ID, Type, Data string }

// readyData is the data of the ready event that opens the stream.
type readyData struct {
	Epoch       uint64 `json:"epoch"`
	LastEventID uint64 `json:"last_event_id"`
}

// sseStream subscribes to the events, resuming after lastID ("" for a
// fresh subscription) sent as the Last-Event-ID header, or as the
// last_event_id query parameter with query. The channel closes when the
// stream ends; stop ends it.
func sseStream(t *testing.T, url, lastID string, query bool) (evs <-chan sseEvent, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := url + "/v1/cascade/events"
	if query && lastID != "" {
		u += "?last_event_id=" + lastID
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if !query && lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	out := make(chan sseEvent, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Type != "" || ev.Data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[len("id: "):]
			case strings.HasPrefix(line, "event: "):
				ev.Type = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[len("data: "):]
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); resp.Body.Close(); <-done }) }
	t.Cleanup(stop)
	return out, stop
}

// next is the next event, failing after a generous deadline.
func next(t *testing.T, evs <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-evs:
		if !ok {
			t.Fatal("the events stream ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event in 30 s")
	}
	return sseEvent{}
}

// ready reads the ready event that opens a stream.
func ready(t *testing.T, evs <-chan sseEvent) readyData {
	t.Helper()
	ev := next(t, evs)
	var r readyData
	if ev.Type != "ready" || json.Unmarshal([]byte(ev.Data), &r) != nil || r.Epoch == 0 || ev.ID != strconv.FormatUint(r.LastEventID, 10) {
		t.Fatalf("first event %+v, want ready with the epoch and its id as last_event_id", ev)
	}
	return r
}

// TestEventsResume: a client that reconnects with Last-Event-ID (header or
// query parameter) gets exactly the events it missed, in order — among
// them the deferred.done of an item finished while it was away — then the
// live ones; one whose id the buffer no longer reaches (here: an id from
// before the daemon started) gets a gap event first, then the buffer.
func TestEventsResume(t *testing.T) {
	d := newOfflineDaemon(t, offlineOpts{fake: true, threshold: 2}) // every auto answer escalates
	witness, _ := sseStream(t, d.URL, "", false)
	start := ready(t, witness)
	if start.Epoch != d.events.Epoch() {
		t.Fatalf("ready epoch %d, want %d", start.Epoch, d.events.Epoch())
	}
	client, leave := sseStream(t, d.URL, "", false)
	ready(t, client)

	d.setCloudDown(true)
	_, a := askDeferred(t, d.URL, chatBody("auto", "What is 2+3?", false), nil)
	if !a.Cascade.Deferred {
		t.Fatalf("not deferred: %+v", a.Cascade)
	}
	item := a.Cascade.DeferredID
	var lastID string
	for {
		ev := next(t, client)
		lastID = ev.ID
		if ev.Type == events.Deferred && strings.Contains(ev.Data, item) {
			break
		}
	}
	leave()

	// While the client is away the cloud comes back and the item is done.
	d.setCloudDown(false)
	d.run(t)
	var missed []sseEvent
	seen := map[string]bool{}
	for done := false; !done; {
		ev := next(t, witness)
		if seen[ev.ID] {
			t.Fatalf("id %s twice", ev.ID)
		}
		seen[ev.ID] = true
		if n, _ := strconv.ParseUint(ev.ID, 10, 64); n > mustUint(t, lastID) {
			missed = append(missed, ev)
		}
		done = ev.Type == events.DeferredDone && strings.Contains(ev.Data, item)
	}
	if it := getItem(t, d.URL, item); it.State != outbox.StateDone {
		t.Fatalf("item %+v, want done", it)
	}

	for _, query := range []bool{false, true} {
		back, stop := sseStream(t, d.URL, lastID, query)
		if r := ready(t, back); r.LastEventID != mustUint(t, lastID) || r.Epoch != start.Epoch {
			t.Fatalf("ready on resume %+v, want last_event_id %s", r, lastID)
		}
		for i, want := range missed {
			if got := next(t, back); got != want {
				t.Fatalf("query %v: missed event %d: %+v, want %+v", query, i, got, want)
			}
		}
		d.events.Publish(events.CloudState, "live")
		if got := next(t, back); got.Type != events.CloudState || got.Data != `"live"` || mustUint(t, got.ID) <= mustUint(t, missed[len(missed)-1].ID) {
			t.Fatalf("live after the replay: %+v", got)
		}
		stop()
	}

	// An id from before this daemon started: gap, then the whole buffer.
	old := strconv.FormatUint(start.Epoch-1000, 10)
	back, _ := sseStream(t, d.URL, old, false)
	r := ready(t, back)
	gap := next(t, back)
	if gap.Type != "gap" || !strings.Contains(gap.Data, "/v1/cascade/deferred") || gap.ID != "" {
		t.Fatalf("after a stale id: %+v, want a gap event", gap)
	}
	if r.LastEventID != start.Epoch {
		t.Fatalf("ready after a gap %+v, want the position before the oldest buffered event %d", r, start.Epoch)
	}
	if first := next(t, back); mustUint(t, first.ID) != start.Epoch+1 {
		t.Fatalf("first event after the gap %+v, want id %d", first, start.Epoch+1)
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return n
}

// TestEventsResumeWhilePublishing: clients that connect with Last-Event-ID
// while events are being published, and reconnect whenever they are
// dropped as too slow, get every event exactly once and in order (run with
// -race).
func TestEventsResumeWhilePublishing(t *testing.T) {
	d := newOfflineDaemon(t, offlineOpts{fake: true})
	first, stop := sseStream(t, d.URL, "", false)
	from := ready(t, first).LastEventID
	stop()
	const total = events.ReplaySize - 16 // a resume never outruns the buffer
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range total {
			d.events.Publish(events.CloudState, i)
			if i%8 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	for c := range 4 {
		wg.Go(func() {
			time.Sleep(time.Duration(c) * 500 * time.Microsecond) // connect at different points
			last, n := from, 0
			for n < total {
				evs, stop := sseStream(t, d.URL, strconv.FormatUint(last, 10), c%2 == 1)
				if r := ready(t, evs); r.LastEventID != last {
					t.Errorf("client %d: resumed at %d, want %d", c, r.LastEventID, last)
				}
				for n < total {
					ev := next(t, evs)
					if ev.Type == "overflow" {
						break // too slow: reconnect from the last id
					}
					if ev.Type != events.CloudState || mustUint(t, ev.ID) != last+1 || ev.Data != strconv.Itoa(n) {
						t.Errorf("client %d: %+v after id %d (%d events), want id %d data %d", c, ev, last, n, last+1, n)
						stop()
						return
					}
					last, n = last+1, n+1
				}
				stop()
			}
		})
	}
	wg.Wait()
}
