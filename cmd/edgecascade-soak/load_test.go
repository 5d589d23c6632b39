package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestErrorShape(t *testing.T) {
	tests := []struct {
		api, body string
		ok        bool
		code      string
	}{
		{apiV1, `{"error":{"message":"m","type":"server_error","code":"cloud_offline","param":null}}`, true, "cloud_offline"},
		{apiV1, `{"error":{"message":"m","type":"server_error"}}`, false, ""},
		{apiV1, `{"error":"m"}`, false, ""},
		{apiV1, ``, false, ""},
		{apiChat, `{"error":"local model unavailable"}`, true, "local model unavailable"},
		{apiGenerate, `{"error":{"message":"m"}}`, false, ""},
		{apiChat, `{"error":""}`, false, ""},
	}
	for _, tt := range tests {
		ok, code := errorShape(tt.api, []byte(tt.body))
		if ok != tt.ok || (ok && code != tt.code) {
			t.Errorf("errorShape(%s, %s) = %v, %q; want %v, %q", tt.api, tt.body, ok, code, tt.ok, tt.code)
		}
	}
}

func TestReadSSE(t *testing.T) {
	whole := "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"cascade\":{\"route\":\"local\"}}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"Par\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"is\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
	var r record
	if err := readSSE(strings.NewReader(whole), &r); err != nil || r.Content != "Paris" || !r.Complete {
		t.Fatalf("got %+v, %v", r, err)
	}
	cut := "data: {\"choices\":[{\"delta\":{\"content\":\"Tu\"}}]}\n\ndata: {\"error\":{\"message\":\"m\",\"type\":\"server_error\",\"code\":\"cloud_error\"}}\n\n"
	r = record{}
	if err := readSSE(strings.NewReader(cut), &r); err != nil || r.Content != "Tu" || r.Complete || r.StreamErr != "cloud_error" {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestReadNDJSON(t *testing.T) {
	chat := `{"message":{"role":"assistant","content":""},"done":false,"cascade":{"route":"local"}}
{"message":{"role":"assistant","content":"Ro"},"done":false}
{"message":{"role":"assistant","content":"me"},"done":false}
{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}
`
	var r record
	if err := readNDJSON(strings.NewReader(chat), &r); err != nil || r.Content != "Rome" || !r.Complete {
		t.Fatalf("got %+v, %v", r, err)
	}
	gen := `{"response":"Ro","done":false}` + "\n" + `{"error":"cloud answer: boom"}` + "\n"
	r = record{}
	if err := readNDJSON(strings.NewReader(gen), &r); err != nil || r.Content != "Ro" || r.Complete || r.StreamErr != "cloud answer: boom" {
		t.Fatalf("got %+v, %v", r, err)
	}
	r = record{}
	if err := readNDJSON(strings.NewReader(`{"response":"Rome","done":true}`), &r); err != nil || r.Content != "Rome" || !r.Complete {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestNewSpecMix(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	qs := []question{{Prompt: "What is the capital of Osninax?"}}
	bad, apis := 0, map[string]int{}
	for i := 0; i < 4000; i++ {
		s := newSpec(rnd, qs, 1024)
		apis[s.API]++
		if s.Bad != "" {
			bad++
			if s.Bad == "oversized" && len(s.Body) <= 1024 {
				t.Fatalf("oversized body of %d bytes", len(s.Body))
			}
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(s.Body, &v); err != nil {
			t.Fatalf("good body %s: %v", s.Body, err)
		}
	}
	if bad < 120 || bad > 280 {
		t.Errorf("%d bad inputs of 4000, want about 5%%", bad)
	}
	if len(apis) != 3 {
		t.Errorf("apis = %v", apis)
	}
}

func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			w.Header().Set("X-Cascade-Route", "local")
			w.Header().Set("X-Cascade-Deferred-Id", "dfr_x")
			w.Write([]byte(`{"choices":[{"message":{"role":"assistant","content":"Paris"}}]}`))
		case "/api/chat":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":"local model unavailable"}`))
		default:
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	r := send(ctx, srv.Client(), srv.URL, spec{API: apiV1, Policy: "auto", Body: []byte(`{}`)}, time.Second)
	if r.Status != 200 || r.Content != "Paris" || r.Route != "local" || r.DeferredID != "dfr_x" || !r.Complete || r.Elapsed <= 0 {
		t.Fatalf("v1: %+v", r)
	}
	r = send(ctx, srv.Client(), srv.URL, spec{API: apiChat, Policy: "local", Body: []byte(`{}`)}, time.Second)
	if r.Status != 503 || !r.ErrShape || r.RetryAfter != 3*time.Second {
		t.Fatalf("api/chat: %+v", r)
	}
	r = send(ctx, srv.Client(), srv.URL, spec{API: apiGenerate, Policy: "auto", Body: []byte(`{}`)}, 100*time.Millisecond)
	if !r.TimedOut {
		t.Fatalf("api/generate past its deadline: %+v", r)
	}
}
