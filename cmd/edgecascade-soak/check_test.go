package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCheckAnswers(t *testing.T) {
	tests := []struct {
		name string
		rec  record
		fail string // a fragment of the violation; "" when it holds
	}{
		{"200 whole", record{API: apiV1, Policy: "auto", Status: 200, Complete: true}, ""},
		{"200 stream with an error event", record{API: apiV1, Policy: "cloud", Stream: true, Status: 200, StreamErr: "cloud_error"}, ""},
		{"200 stream with an internal error event", record{API: apiV1, Stream: true, Status: 200, StreamErr: "internal_error"}, "internal error event"},
		{"200 stream cut short", record{API: apiChat, Stream: true, Status: 200}, "without its last frame"},
		{"200 then a transport error", record{API: apiChat, Status: 200, Transport: "unexpected EOF"}, "200, then"},
		{"503 in shape", record{API: apiV1, Status: 503, ErrShape: true, ErrCode: "cloud_offline"}, ""},
		{"502 on /api in shape", record{API: apiGenerate, Status: 502, ErrShape: true, ErrCode: "cloud answer: boom"}, ""},
		{"500", record{API: apiV1, Status: 500, ErrShape: true, ErrCode: "internal_error"}, "status 500"},
		{"503 out of shape", record{API: apiV1, Status: 503, ErrCode: "oops"}, "without the API's error shape"},
		{"400 on a good request", record{API: apiV1, Status: 400, ErrShape: true}, "status 400"},
		{"bad input 400", record{API: apiV1, Bad: "malformed-json", Status: 400, ErrShape: true}, ""},
		{"bad input 413", record{API: apiChat, Bad: "oversized", Status: 413, ErrShape: true}, ""},
		{"bad input 200", record{API: apiChat, Bad: "wrong-type", Status: 200, Complete: true}, "want 400/404/413"},
		{"bad input 400 out of shape", record{API: apiChat, Bad: "wrong-type", Status: 400}, "want 400/404/413"},
		{"no response", record{API: apiV1, Transport: "connection refused"}, "no response"},
		{"cut by a daemon kill", record{API: apiV1, Transport: "EOF", Excused: true}, ""},
		{"timed out (reported by checkDeadlines)", record{API: apiV1, Transport: "deadline", TimedOut: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := checkAnswers([]record{tt.rec})
			if tt.fail == "" {
				if !v.OK() {
					t.Fatalf("want ok, got %v", v.Fails)
				}
				return
			}
			if v.OK() || !strings.Contains(v.Fails[0], tt.fail) {
				t.Fatalf("want a failure with %q, got %v", tt.fail, v.Fails)
			}
		})
	}
}

func TestCheckDeadlines(t *testing.T) {
	ok := record{N: 1, API: apiV1, Elapsed: time.Second, Deadline: time.Minute}
	late := record{N: 2, API: apiV1, Elapsed: time.Minute, Deadline: time.Minute, TimedOut: true}
	if v := checkDeadlines([]record{ok}); !v.OK() {
		t.Fatal(v.Fails)
	}
	v := checkDeadlines([]record{ok, late})
	if len(v.Fails) != 1 || !strings.Contains(v.Fails[0], "#2") {
		t.Fatalf("fails = %v", v.Fails)
	}
	if !strings.Contains(v.Detail, "longest 1m0s") {
		t.Fatalf("detail = %q", v.Detail)
	}
}

func answered(content string) *struct {
	Content string `json:"content"`
} {
	return &struct {
		Content string `json:"content"`
	}{content}
}

func TestCheckDeferred(t *testing.T) {
	recs := []record{
		{N: 1, DeferredID: "dfr_done", Status: 200},
		{N: 2, DeferredID: "dfr_failed", Status: 200},
		{N: 3, DeferredID: "dfr_stuck", Status: 200},
		{N: 4, DeferredID: "dfr_lost", Status: 200},
		{N: 5, DeferredID: "dfr_silent", Status: 200},
		{N: 6, DeferredID: "dfr_empty", Status: 200},
		{N: 7, DeferredID: "dfr_done", Status: 200}, // seen twice: checked once
		{N: 8},
	}
	items := map[string]deferredView{
		"dfr_done":   {State: "done", Answer: answered("Paris"), Status: 200, Attempts: 2},
		"dfr_failed": {State: "failed", LastError: "400 from the cloud", Status: 200},
		"dfr_stuck":  {State: "sending", Attempts: 1, Status: 200},
		"dfr_lost":   {Status: 404},
		"dfr_silent": {State: "failed", Status: 200},
		"dfr_empty":  {State: "done", Status: 200},
	}
	v := checkDeferred(recs, items)
	if v.Checked != 6 {
		t.Fatalf("checked %d, want 6", v.Checked)
	}
	want := []string{"dfr_empty (#6 ", "dfr_lost (#4 ", "dfr_silent (#5 ", "dfr_stuck (#3 "}
	if len(v.Fails) != len(want) {
		t.Fatalf("fails = %v", v.Fails)
	}
	for i, w := range want {
		if !strings.HasPrefix(v.Fails[i], w) {
			t.Errorf("fail %d = %q, want prefix %q", i, v.Fails[i], w)
		}
	}
	if !strings.Contains(v.Detail, "1 done, 1 failed; 1 needed more than one attempt") {
		t.Errorf("detail = %q", v.Detail)
	}
}

func TestCheckLocalAnswers(t *testing.T) {
	items := map[string]deferredView{
		"dfr_a": {LocalAnswer: "Paris", Status: 200},
		"dfr_b": {LocalAnswer: "Rome", Status: 200},
		"dfr_c": {LocalAnswer: "", Status: 200},
	}
	recs := []record{
		{N: 1, DeferredID: "dfr_a", Status: 200, Complete: true, Content: "Paris"},
		{N: 2, DeferredID: "dfr_b", Status: 200, Complete: true, Content: "Rome<CN>"},
		{N: 3, DeferredID: "dfr_b", Status: 200, Content: "Ro"},                       // cut: not compared
		{N: 4, DeferredID: "dfr_a", Status: 200, Complete: true, Excused: true},       // killed: not compared
		{N: 5, DeferredID: "dfr_c", Status: 503, ErrShape: true, ErrCode: "deferred"}, // no local answer
	}
	v := checkLocalAnswers(recs, items)
	if v.Checked != 3 || len(v.Fails) != 1 || !strings.Contains(v.Fails[0], `"Rome<CN>"`) {
		t.Fatalf("checked %d, fails %v", v.Checked, v.Fails)
	}
}

func TestCheckBudget(t *testing.T) {
	if v := checkBudget("b", 10, map[string]int{"2026-12-06": 10, "2026-12-07": 3}); !v.OK() {
		t.Fatal(v.Fails)
	}
	v := checkBudget("b", 10, map[string]int{"2026-12-06": 11})
	if len(v.Fails) != 1 || !strings.Contains(v.Fails[0], "11 calls, cap 10") {
		t.Fatalf("fails = %v", v.Fails)
	}
	if v := checkBudget("b", 0, map[string]int{"2026-12-06": 1000}); !v.OK() {
		t.Fatal("no cap: nothing to exceed")
	}
}

func TestCheckOutbox(t *testing.T) {
	if v := checkOutbox(outboxCounts{Done: 5, Failed: 1}, true); !v.OK() {
		t.Fatal(v.Fails)
	}
	for _, c := range []outboxCounts{{Queued: 1}, {Sending: 1}} {
		if v := checkOutbox(c, false); v.OK() {
			t.Fatalf("%+v passed", c)
		}
	}
}

func TestParseMetricsAndLeaks(t *testing.T) {
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 14\ngo_memstats_heap_alloc_bytes 3.0e+06\ngo_memstats_heap_alloc_bytes_total 9\n"
	s, err := parseMetrics(text)
	if err != nil || s.Goroutines != 14 || s.HeapBytes != 3e6 {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := parseMetrics("go_goroutines 3\n"); err == nil {
		t.Fatal("missing heap: want an error")
	}
	base := runtimeStats{Goroutines: 14, HeapBytes: 3e6}
	if v := checkLeaks(base, runtimeStats{Goroutines: 30, HeapBytes: 9e6}); !v.OK() {
		t.Fatal(v.Fails)
	}
	v := checkLeaks(base, runtimeStats{Goroutines: 400, HeapBytes: 200e6})
	if len(v.Fails) != 2 {
		t.Fatalf("fails = %v", v.Fails)
	}
}

func TestCheckTokens(t *testing.T) {
	recs := []record{
		{N: 1, Status: 200, Route: "local", Content: "Paris"},
		{N: 2, Status: 200, Route: "local", Content: "Paris<CN>"},
		{N: 3, Status: 503, Content: "<UN>"}, // not an answer
	}
	items := map[string]deferredView{
		"dfr_a": {LocalAnswer: "Rome<UN>", Answer: answered("Rome")},
		"dfr_b": {LocalAnswer: "Rome", Answer: answered("<CN>")},
	}
	v := checkTokens(recs, items, []string{"<CN>", "<UN>"})
	if len(v.Fails) != 3 {
		t.Fatalf("fails = %v", v.Fails)
	}
}

func TestCheckLog(t *testing.T) {
	log := "time=1 level=INFO msg=answered\ntime=2 level=ERROR msg=\"decision log write failed\"\n"
	v := checkLog(log)
	if !v.OK() || !strings.Contains(v.Detail, "1 at level ERROR") {
		t.Fatalf("%+v", v)
	}
	v = checkLog(log + "panic: runtime error: index out of range\n\ngoroutine 1 [running]:\n")
	if len(v.Fails) != 1 {
		t.Fatalf("fails = %v", v.Fails)
	}
}

func TestCheckShutdown(t *testing.T) {
	if !checkShutdown(0).OK() || checkShutdown(1).OK() || checkShutdown(-1).OK() {
		t.Fatal("only exit status 0 passes")
	}
}

func TestCheckLostAnswers(t *testing.T) {
	const (
		start    = "time=0 level=INFO msg=\"edgecascade serving\" version=dev\n"
		unsaved  = "time=2 level=ERROR msg=\"drain the outbox\" err=\"store the answer of dfr_bb (attempt 1; kept in memory, stored once a write works): complete deferred item: write DIR/outbox.db: no space left on device\"\n"
		answered = "time=3 level=INFO msg=\"deferred item answered\" id=dfr_bb provider=openai attempts=%d\n"
	)
	tests := []struct {
		name  string
		log   string
		item  deferredView
		fails bool
	}{
		{"stored later, same attempt", start + unsaved + fmt.Sprintf(answered, 1), deferredView{State: "done", Attempts: 1}, false},
		{"asked again in the same process", start + unsaved + fmt.Sprintf(answered, 2), deferredView{State: "done", Attempts: 2}, true},
		{"asked again after a restart", start + unsaved + start + fmt.Sprintf(answered, 2), deferredView{State: "done", Attempts: 2}, false},
		{"never stored", start + unsaved, deferredView{State: "sending", Attempts: 1}, true},
		{"no failed write", start + fmt.Sprintf(answered, 1), deferredView{State: "done", Attempts: 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := checkLostAnswers(tc.log, map[string]deferredView{"dfr_bb": tc.item})
			if v.OK() == tc.fails {
				t.Fatalf("fails %v, want failing %v", v.Fails, tc.fails)
			}
		})
	}
}
