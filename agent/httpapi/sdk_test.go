package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestOfficialSDKParsesResponses uses the official OpenAI Go SDK, unmodified,
// as a client of the daemon: responses, streams and errors must parse.
func TestOfficialSDKParsesResponses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold float64
		route     string
	}{{"local", 0, "local"}, {"escalated", 1.01, "cloud"}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, daemonOpts{threshold: tc.threshold})
			client := oai.NewClient(option.WithBaseURL(d.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
			ctx := context.Background()
			params := oai.ChatCompletionNewParams{
				Model:       "auto",
				Messages:    []oai.ChatCompletionMessageParamUnion{oai.UserMessage(easyQuestion)},
				Temperature: oai.Float(0),
			}
			var raw *http.Response
			resp, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Choices[0].FinishReason != "stop" {
				t.Fatalf("choices = %+v", resp.Choices)
			}
			if resp.Usage.TotalTokens == 0 {
				t.Fatalf("usage missing: %+v", resp.Usage)
			}
			var cs cascadeObj
			if err := json.Unmarshal([]byte(resp.JSON.ExtraFields["cascade"].Raw()), &cs); err != nil {
				t.Fatalf("cascade extra field: %v", err)
			}
			if cs.Route != tc.route || raw.Header.Get("X-Cascade-Route") != tc.route {
				t.Fatalf("route %q / header %q, want %s", cs.Route, raw.Header.Get("X-Cascade-Route"), tc.route)
			}

			params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			acc := oai.ChatCompletionAccumulator{}
			var first *cascadeObj
			for stream.Next() {
				ch := stream.Current()
				if !acc.AddChunk(ch) {
					t.Fatalf("accumulator refused chunk %s", ch.RawJSON())
				}
				if f, ok := ch.JSON.ExtraFields["cascade"]; ok && first == nil {
					first = &cascadeObj{}
					if err := json.Unmarshal([]byte(f.Raw()), first); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := acc.Choices[0].Message.Content; got != resp.Choices[0].Message.Content {
				t.Fatalf("stream %q != non-stream %q", got, resp.Choices[0].Message.Content)
			}
			if first == nil || first.Route != tc.route {
				t.Fatalf("first chunk cascade %+v", first)
			}
			if acc.Usage.TotalTokens == 0 {
				t.Fatalf("stream usage missing")
			}

			// Errors parse as *openai.Error with our status and message.
			_, err = client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "gpt-5", Messages: params.Messages})
			var apiErr *oai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
				t.Fatalf("unknown model error = %v", err)
			}
		})
	}
}
