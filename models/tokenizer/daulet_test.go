//go:build daulet

package tokenizer

import (
	"errors"
	"testing"
)

// These run only where libtokenizers.a can be linked; CI type-checks them
// with go vet -tags daulet.

func TestContractDaulet(t *testing.T) {
	runContract(t, func(path string) (Tokenizer, error) { return LoadDaulet(path) })
}

func TestDauletClose(t *testing.T) {
	d, err := LoadDaulet(writeDoc(t, miniDoc()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Encode("a\x00b"); err == nil {
		t.Error("Encode with a NUL byte succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Encode("hello"); !errors.Is(err, ErrClosed) {
		t.Errorf("Encode after Close: %v, want ErrClosed", err)
	}
}

// The daulet variant reads model types the pure-Go one refuses.
func TestDauletWordPiece(t *testing.T) {
	doc := miniDoc()
	doc["model"] = map[string]any{"type": "WordPiece", "unk_token": "[UNK]",
		"continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
		"vocab": map[string]int{"[UNK]": 0, "hello": 1, "##s": 2}}
	doc["pre_tokenizer"] = map[string]any{"type": "Whitespace"}
	doc["decoder"] = nil
	doc["post_processor"] = nil
	d, err := LoadDaulet(writeDoc(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n, err := d.Count("hellos hello"); err != nil || n != 3 {
		t.Errorf("Count = %d, %v; want 3", n, err)
	}
}
