package ollama

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
)

// TestHandleLine: the lean reader reports what api.Client.Chat reports for
// the same lines (statuses as api.StatusError, error lines as errors).
func TestHandleLine(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		line    string
		content string // fn got this content
		status2 int    // api.StatusError code, 0 for none
		errMsg  string
	}{
		{"answer", 200, `{"message":{"role":"assistant","content":"Paris"},"done":true}`, "Paris", 0, ""},
		{"missing model", 404, `{"error":"model 'x' not found"}`, "", 404, "model 'x' not found"},
		{"server error, not JSON", 500, `Internal Server Error`, "", 500, "Internal Server Error"},
		{"error line mid-stream", 200, `{"error":"llama runner process has terminated"}`, "", 0, "llama runner process has terminated"},
		{"malformed", 200, `{"message":`, "", 0, "malformed response line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			err := handleLine(&http.Response{StatusCode: tc.status, Status: http.StatusText(tc.status)}, []byte(tc.line), func(line []byte) error {
				var r api.ChatResponse
				if err := json.Unmarshal(line, &r); err != nil {
					return err
				}
				got = r.Message.Content
				return nil
			})
			var se api.StatusError
			switch {
			case tc.status2 != 0:
				if !errors.As(err, &se) || se.StatusCode != tc.status2 || se.ErrorMessage != tc.errMsg {
					t.Fatalf("err %v, want status %d %q", err, tc.status2, tc.errMsg)
				}
			case tc.errMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("err %v, want %q", err, tc.errMsg)
				}
			default:
				if err != nil || got != tc.content {
					t.Fatalf("got %q, %v", got, err)
				}
			}
		})
	}
}

func TestReadLineBounds(t *testing.T) {
	long := strings.Repeat("x", 100<<10) + "\n" + "short\n"
	r := bufio.NewReaderSize(strings.NewReader(long), 16<<10)
	l, err := readLine(r)
	if err != nil || len(l) != 100<<10+1 {
		t.Fatalf("long line: %d bytes, %v", len(l), err)
	}
	if l, err := readLine(r); err != nil || string(l) != "short\n" {
		t.Fatalf("next line %q %v", l, err)
	}
	huge := bufio.NewReaderSize(strings.NewReader(strings.Repeat("y", maxLine+10)), 16<<10)
	if _, err := readLine(huge); err == nil {
		t.Fatal("a line over the limit was accepted")
	}
}
