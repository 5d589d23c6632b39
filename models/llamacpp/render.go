package llamacpp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/edgecascade/edgecascade/models"
)

var _ models.Renderer = (*Client)(nil)

const pathApplyTemplate = "/apply-template"

// applyTemplateRequest is the body of POST /apply-template (tools/server
// README.md: "Uses the server's prompt template formatting functionality to
// convert chat messages to a single string expected by a chat model as
// input, but does not perform inference"). The server parses it as a chat
// request (oaicompat_chat_params_parse), whose add_generation_prompt
// defaults to true: the text ends where the answer begins.
type applyTemplateRequest struct {
	Model    string        `json:"model,omitempty"`
	Messages []wireMessage `json:"messages"`
}

// Render renders the conversation with the server's chat template (POST
// /apply-template, no generation): the text probes read, together with
// Features.
func (c *Client) Render(ctx context.Context, msgs []models.Message) (string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodPost, pathApplyTemplate, applyTemplateRequest{Model: c.model, Messages: wireMessages(msgs)})
	if err != nil {
		return "", c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	var out struct {
		Prompt *string `json:"prompt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", c.wrap(ctx, fmt.Errorf("decode apply-template: %w", err))
	}
	if out.Prompt == nil {
		return "", c.wrap(ctx, fmt.Errorf("apply-template answered no prompt"))
	}
	return *out.Prompt, nil
}
