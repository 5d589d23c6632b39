package outbox_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/agent/events"
	"github.com/edgecascade/edgecascade/agent/outbox"
	"github.com/edgecascade/edgecascade/cloud"
	cloudmock "github.com/edgecascade/edgecascade/cloud/mock"
	"github.com/edgecascade/edgecascade/models"
)

// A deferred item keeps the client's generation options (tools too), across
// a restart, and the cloud gets them when the item is sent; the tool calls
// of the cloud's answer are kept with it.
func TestDeferredKeepsOptions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	seed, topP, ka := int64(3), 0.5, time.Minute
	opts := models.Options{Stop: []string{"END"}, Seed: &seed, TopP: &topP, KeepAlive: &ka,
		Format: &models.Format{Name: "x", Schema: json.RawMessage(`{"type":"object"}`)},
		Tools:  []models.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}}
	calls := []models.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}
	box, _, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := outbox.NewDeferrals(box, &cloudmock.Provider{}, nil, events.NewBroker(), outbox.DrainOptions{})
	id, err := d.Defer(ctx, cascade.Request{Messages: []models.Message{{Role: "user", Content: "q"}}, Options: opts}, "local", "offline")
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}

	box, _, err = outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = box.Close() }()
	got, err := box.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Request.Options, opts) {
		t.Fatalf("kept options %+v, want %+v", got.Request.Options, opts)
	}
	sent := make(chan cloud.Request, 1)
	p := &cloudmock.Provider{CompleteFunc: func(_ context.Context, r cloud.Request) (*cloud.Response, error) {
		sent <- r
		return &cloud.Response{ToolCalls: calls, FinishReason: "tool_calls"}, nil
	}}
	d = outbox.NewDeferrals(box, p, nil, events.NewBroker(), outbox.DrainOptions{})
	if ok, err := d.DrainOne(ctx); !ok || err != nil {
		t.Fatalf("drain: %v %v", ok, err)
	}
	if r := <-sent; !reflect.DeepEqual(r.Options, opts) {
		t.Errorf("the cloud got %+v, want %+v", r.Options, opts)
	}
	done, err := box.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if done.Answer == nil || !reflect.DeepEqual(done.Answer.ToolCalls, calls) || done.Answer.FinishReason != "tool_calls" {
		t.Errorf("stored answer %+v, want the tool calls %+v", done.Answer, calls)
	}
}
