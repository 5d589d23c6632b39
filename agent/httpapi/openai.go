package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/edgecascade/edgecascade/agent/cascade"

	"github.com/edgecascade/edgecascade/models"
)

// OpenAI wire types for /v1/chat/completions: only the fields edgecascade
// reads or writes. Other request fields are refused with a 400 naming them
// (fields.go).

// maxMaxTokens bounds max_tokens; larger values are refused as absurd.
const maxMaxTokens = 1 << 17

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                stopField       `json:"stop"`
	Seed                *int64          `json:"seed"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	N                   *int            `json:"n"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	ResponseFormat      *responseFormat `json:"response_format"`
	Tools               []wireTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	User                string          `json:"user"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// Cascade holds edgecascade's own request options.
	Cascade *cascadeOptions `json:"cascade"`
}

// cascadeOptions are edgecascade's request options (the `cascade` field).
type cascadeOptions struct {
	// Defer: false turns deferral off for this request.
	Defer *bool `json:"defer"`
	// Group is the request's group key (as the X-Cascade-Group header,
	// which wins): adaptation keeps a threshold per group.
	Group string `json:"group"`
}

// apply reads the policy header and the request's deferral and group from
// the headers and these options (the headers win) into req; it returns the
// policy in force. Both OpenAI routes call it.
func (o *cascadeOptions) apply(h http.Header, policy cascade.Policy, req *cascade.Request) (cascade.Policy, error) {
	policy, err := policyFromHeader(h, policy)
	if err != nil {
		return policy, err
	}
	var def *bool
	var group string
	if o != nil {
		def, group = o.Defer, o.Group
	}
	if req.NoDefer, err = noDefer(h, def); err != nil {
		return policy, err
	}
	req.Group, err = groupOf(h, group)
	return policy, err
}

type chatMessage struct {
	Role       string           `json:"role"`
	Content    chatContent      `json:"content"`
	ToolCalls  []openAIToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
}

// chatContent is a message's content: a string, or an array of text and
// image_url parts.
type chatContent struct {
	Text   string
	Images []models.Image
}

func (c *chatContent) UnmarshalJSON(b []byte) error {
	*c = chatContent{}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(b, &c.Text); err == nil {
		return nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL    string `json:"url"`
			Detail string `json:"detail"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("content must be a string or an array of text and image_url parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "text":
			sb.WriteString(p.Text)
		case "image_url":
			if p.ImageURL == nil {
				return errors.New("an image_url part needs image_url.url")
			}
			img, err := openAIImage(p.ImageURL.URL)
			if err != nil {
				return err
			}
			c.Images = append(c.Images, img)
		default:
			return fmt.Errorf("content part type %q is not supported (text, image_url)", p.Type)
		}
	}
	c.Text = sb.String()
	return nil
}

// decodeChatRequest reads, limits and validates a request body.
func decodeChatRequest(r io.Reader, limit int64) (*chatRequest, cascade.Policy, cascade.Request, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", cascade.Request{}, &TooLargeError{Limit: limit}
		}
		return nil, "", cascade.Request{}, &BadRequestError{Msg: "could not read the request body: " + err.Error()}
	}
	if int64(len(body)) > limit {
		return nil, "", cascade.Request{}, &TooLargeError{Limit: limit}
	}
	return parseChatRequest(body)
}

func parseChatRequest(body []byte) (*chatRequest, cascade.Policy, cascade.Request, error) {
	fail := func(param, format string, args ...any) (*chatRequest, cascade.Policy, cascade.Request, error) {
		return nil, "", cascade.Request{}, &BadRequestError{Msg: fmt.Sprintf(format, args...), Param: param}
	}
	var cr chatRequest
	if err := decodeBody(body, &cr, false); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if cr.Model == "" {
		return fail("model", "missing model: use auto, local or cloud")
	}
	policy, err := cascade.ParsePolicy(cr.Model)
	if err != nil {
		return nil, "", cascade.Request{}, err
	}
	if len(cr.Messages) == 0 {
		return fail("messages", "missing messages: send at least one message")
	}
	req := cascade.Request{Temperature: cr.Temperature}
	hasContent := false
	for i, m := range cr.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer", "tool":
		default:
			return fail(fmt.Sprintf("messages[%d].role", i), "messages[%d].role %q is not supported (system, user, assistant, tool)", i, m.Role)
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		msg := models.Message{Role: role, Content: m.Content.Text, Images: m.Content.Images}
		if len(msg.Images) > 0 && role != "user" {
			return fail(fmt.Sprintf("messages[%d].content", i), "messages[%d]: only user messages may have image_url parts", i)
		}
		if len(m.ToolCalls) > 0 {
			if role != "assistant" {
				return fail(fmt.Sprintf("messages[%d].tool_calls", i), "messages[%d]: only assistant messages have tool_calls", i)
			}
			calls, err := readOpenAIToolCalls(m.ToolCalls, fmt.Sprintf("messages[%d].tool_calls", i))
			if err != nil {
				return nil, "", cascade.Request{}, err
			}
			msg.ToolCalls = calls
		}
		if role == "tool" {
			if m.ToolCallID == "" {
				return fail(fmt.Sprintf("messages[%d].tool_call_id", i), "messages[%d]: a tool message needs tool_call_id", i)
			}
			msg.ToolCallID, msg.ToolName = m.ToolCallID, toolName(req.Messages, m.ToolCallID)
		} else if m.ToolCallID != "" {
			return fail(fmt.Sprintf("messages[%d].tool_call_id", i), "messages[%d]: only tool messages have tool_call_id", i)
		}
		if strings.TrimSpace(msg.Content) != "" || len(msg.Images) > 0 || len(msg.ToolCalls) > 0 {
			hasContent = true
		}
		req.Messages = append(req.Messages, msg)
	}
	if !hasContent {
		return fail("messages", "all messages are empty")
	}
	mt := cr.MaxCompletionTokens
	if mt == nil {
		mt = cr.MaxTokens
	}
	if mt != nil {
		if *mt < 1 || *mt > maxMaxTokens {
			return fail("max_tokens", "max_tokens must be between 1 and %d, got %d", maxMaxTokens, *mt)
		}
		req.MaxTokens = *mt
	}
	if t := cr.Temperature; t != nil && (*t < 0 || *t > 2) {
		return fail("temperature", "temperature must be between 0 and 2, got %v", *t)
	}
	if err := refuseUnknown(body, openAIFields, openAIMessageFields); err != nil {
		return nil, "", cascade.Request{}, err
	}
	if err := openAIOptions(&cr, &req); err != nil {
		return nil, "", cascade.Request{}, err
	}
	return &cr, policy, req, nil
}

type chatResponse struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"`
	Created int64             `json:"created"`
	Model   string            `json:"model"`
	Choices []chatChoice      `json:"choices"`
	Usage   *chatUsage        `json:"usage,omitempty"`
	Cascade *cascade.Decision `json:"cascade,omitempty"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      *responseMsg    `json:"message,omitempty"`
	Delta        *responseMsg    `json:"delta,omitempty"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

type responseMsg struct {
	Role      string           `json:"role,omitempty"`
	Content   *string          `json:"content,omitempty"`
	ToolCalls []openAIToolCall `json:"tool_calls,omitempty"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(u cascade.Usage) *chatUsage {
	return &chatUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens}
}

var jsonNull = json.RawMessage("null")

type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Created     int64  `json:"created"`
	OwnedBy     string `json:"owned_by"`
	Description string `json:"description"`
}

// noDefer reads the per-request deferral switch: the header
// X-Cascade-Defer (false/0/off/no) or the body's cascade.defer: false.
func noDefer(h http.Header, body *bool) (bool, error) {
	if v := h.Get("X-Cascade-Defer"); v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "false", "0", "off", "no":
			return true, nil
		case "true", "1", "on", "yes":
			return false, nil
		default:
			return false, &BadRequestError{Msg: fmt.Sprintf("header X-Cascade-Defer must be true or false, got %q", v), Param: "X-Cascade-Defer"}
		}
	}
	return body != nil && !*body, nil
}

// maxGroupLen bounds a group key.
const maxGroupLen = 64

// groupOf reads the request's group key: the header X-Cascade-Group, else
// the body's cascade.group. A key is 1 to 64 letters, digits, '.', '_',
// '-' or ':'.
func groupOf(h http.Header, body string) (string, error) {
	g, param := body, "cascade.group"
	if v := h.Get("X-Cascade-Group"); v != "" {
		g, param = strings.TrimSpace(v), "X-Cascade-Group"
	}
	if g == "" {
		return "", nil
	}
	ok := len(g) <= maxGroupLen
	for _, c := range g {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:", c)) {
			ok = false
		}
	}
	if !ok {
		return "", &BadRequestError{Msg: fmt.Sprintf("%s must be 1 to %d letters, digits, '.', '_', '-' or ':', got %q", param, maxGroupLen, g), Param: param}
	}
	return g, nil
}
