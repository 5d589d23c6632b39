package ollama

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ollama/ollama/api"
)

// maxLine bounds one NDJSON line from the server (the official client's
// limit).
const maxLine = 8 << 20

// chatStream posts req to /api/chat and calls fn with each NDJSON response.
//
// It does what api.Client.Chat does, with the same wire types and the same
// errors (api.StatusError for HTTP errors, the server's message for an
// error line), but reads lines with a buffer that grows as needed: the
// official client allocates and zeroes an 8 MB scan buffer per call, which
// the profile of a local answer through the daemon showed as a quarter of
// the daemon's CPU time (docs/bench.md).
func (c *Client) chatStream(ctx context.Context, req *api.ChatRequest, fn func(api.ChatResponse) error) error {
	return c.ndjson(ctx, "/api/chat", req, func(line []byte) error {
		var cr api.ChatResponse
		if err := json.Unmarshal(line, &cr); err != nil {
			return fmt.Errorf("malformed response line: %w", err)
		}
		return fn(cr)
	})
}

// generateStream posts req to /api/generate and calls fn with each NDJSON
// response as the chat response it amounts to (the text in Message).
func (c *Client) generateStream(ctx context.Context, req *api.GenerateRequest, fn func(api.ChatResponse) error) error {
	return c.ndjson(ctx, "/api/generate", req, func(line []byte) error {
		var gr api.GenerateResponse
		if err := json.Unmarshal(line, &gr); err != nil {
			return fmt.Errorf("malformed response line: %w", err)
		}
		return fn(api.ChatResponse{Model: gr.Model, Message: api.Message{Role: "assistant", Content: gr.Response},
			Done: gr.Done, DoneReason: gr.DoneReason, Metrics: gr.Metrics, Logprobs: gr.Logprobs})
	})
}

// ndjson posts req to path and calls fn with each response line that is
// not an error.
func (c *Client) ndjson(ctx context.Context, path string, req any, fn func(line []byte) error) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/x-ndjson")
	hreq.Header.Set("User-Agent", "edgecascade")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	for {
		line, err := readLine(r)
		if len(bytes.TrimSpace(line)) > 0 {
			if herr := handleLine(resp, line, fn); herr != nil {
				return herr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line of at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("a response line is longer than %d bytes", maxLine)
		}
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// handleLine decodes one line: an error (HTTP status or error field) or a
// response for fn.
func handleLine(resp *http.Response, line []byte, fn func(line []byte) error) error {
	var e struct {
		Error string `json:"error,omitempty"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		if resp.StatusCode >= http.StatusBadRequest {
			return api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status, ErrorMessage: string(line)}
		}
		return fmt.Errorf("malformed response line: %w", err)
	}
	if resp.StatusCode >= http.StatusBadRequest {
		return api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status, ErrorMessage: e.Error}
	}
	if e.Error != "" {
		return errors.New(e.Error)
	}
	return fn(line)
}
