package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The real Llama 3 tokenizer.json (9 MB, 280,147 merges, ignore_merges,
// 256 added tokens) ships in the github.com/daulet/tokenizers module as
// test data. testdata/llama3_ids.json holds the ids that an independent
// tiktoken-style encoder (Python's regex module over the tiktoken ranks of
// the same model, also in that module) gives for 137 texts, among them odd
// white space, case folding and combining marks; the first one
// is also the daulet module's own expectation from the Rust library.
func llama3Path(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("no go command to find the module cache: %v", err)
	}
	pattern := filepath.Join(strings.TrimSpace(string(out)),
		"github.com", "daulet", "tokenizers@*", "test", "data", "Meta-Llama-3-8B-Instruct.json")
	matches, _ := filepath.Glob(pattern)
	if len(matches) == 0 {
		t.Skip("Llama 3 tokenizer.json not in the module cache: run `go mod download github.com/daulet/tokenizers`")
	}
	return matches[len(matches)-1]
}

// The real bert-base-uncased tokenizer.json from the same module is refused
// with an error that names its model type.
func TestRealWordPiece(t *testing.T) {
	path := filepath.Join(filepath.Dir(llama3Path(t)), "bert-base-uncased.json")
	_, err := LoadBPE(path)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"WordPiece"`) {
		t.Errorf("LoadBPE(bert-base-uncased) error = %v", err)
	}
}

func TestLlama3(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 9 MB tokenizer.json")
	}
	tk, err := LoadBPE(llama3Path(t))
	if err != nil {
		t.Fatalf("LoadBPE: %v", err)
	}
	data, err := os.ReadFile("testdata/llama3_ids.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Text string
		IDs  []int
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		got, err := tk.Encode(c.Text)
		if err != nil || !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q) = %v, %v\nwant %v", c.Text, got, err, c.IDs)
			continue
		}
		if back, err := tk.Decode(got); err != nil || back != c.Text {
			t.Errorf("Decode(Encode(%q)) = %q, %v", c.Text, back, err)
		}
	}

	// Llama 3 special tokens, and a chat prompt in its template.
	checkEncode(t, tk, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
		[]int{128000, 128006, 882, 128007, 271, 13347, 128009})
}
