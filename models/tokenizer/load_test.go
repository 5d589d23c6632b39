package tokenizer

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	path := writeDoc(t, miniDoc())
	tk, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ids, err := tk.Encode("<|im_start|>hello<|im_end|>")
	if err != nil || !slices.Equal(ids, []int{idImStart, idHello, idImEnd}) {
		t.Errorf("Encode = %v, %v", ids, err)
	}
	if _, ok := tk.(Decoder); !ok {
		t.Errorf("%T does not implement Decoder", tk)
	}

	_, err = Load(filepath.Join(t.TempDir(), "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestUnsupported(t *testing.T) {
	tests := []struct {
		name   string
		change func(doc map[string]any)
		value  string // the unsupported value the error must name
	}{
		{"WordPiece model", func(doc map[string]any) {
			doc["model"] = map[string]any{"type": "WordPiece", "unk_token": "[UNK]",
				"continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
				"vocab": map[string]int{"[UNK]": 0, "a": 1}}
		}, "WordPiece"},
		{"Unigram model", func(doc map[string]any) {
			// Unigram's vocab is a list of [piece, score]: the type must be
			// named before the rest is decoded.
			doc["model"] = map[string]any{"type": "Unigram", "unk_id": 0,
				"vocab": []any{[]any{"<unk>", 0.0}, []any{"▁a", -1.5}}}
		}, "Unigram"},
		{"WordLevel model", func(doc map[string]any) {
			doc["model"] = map[string]any{"type": "WordLevel", "vocab": map[string]int{"a": 0}, "unk_token": "a"}
		}, "WordLevel"},
		{"Metaspace pre-tokenizer", func(doc map[string]any) {
			doc["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁",
				"prepend_scheme": "always", "split": false}
		}, "Metaspace"},
		{"BERT pre-tokenizer in a sequence", func(doc map[string]any) {
			doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "BertPreTokenizer"}}}
		}, "BertPreTokenizer"},
		{"no pre-tokenizer", func(doc map[string]any) {
			doc["pre_tokenizer"] = nil
		}, "null"},
		{"Lowercase normalizer", func(doc map[string]any) {
			doc["normalizer"] = map[string]any{"type": "Lowercase"}
		}, "Lowercase"},
		{"Contiguous split", func(doc map[string]any) {
			doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\d`},
					"behavior": "Contiguous", "invert": false},
				map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}}
		}, "Contiguous"},
		{"untyped WordPiece model", func(doc map[string]any) {
			doc["model"] = map[string]any{"unk_token": "[UNK]", "continuing_subword_prefix": "##",
				"max_input_chars_per_word": 100, "vocab": map[string]int{"[UNK]": 0}}
		}, "WordPiece"},
		{"untyped Unigram model", func(doc map[string]any) {
			doc["model"] = map[string]any{"unk_id": 0, "vocab": []any{[]any{"<unk>", 0.0}}}
		}, "Unigram"},
		{"continuing subword prefix", func(doc map[string]any) {
			model(doc)["continuing_subword_prefix"] = "##"
		}, "##"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := miniDoc()
			tt.change(doc)
			_, err := ParseBPE(marshal(t, doc))
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("ParseBPE error = %v, want ErrUnsupported", err)
			}
			var ue *UnsupportedError
			if !errors.As(err, &ue) || ue.Value != tt.value {
				t.Errorf("UnsupportedError = %+v, want value %q", ue, tt.value)
			}
			if !strings.Contains(err.Error(), `"`+tt.value+`"`) {
				t.Errorf("error %q does not name %q", err, tt.value)
			}
		})
	}
}

func TestLoadNamesUnsupportedType(t *testing.T) {
	doc := miniDoc()
	doc["model"] = map[string]any{"type": "WordPiece", "vocab": map[string]int{"a": 0}}
	_, err := Load(writeDoc(t, doc))
	if err == nil || !strings.Contains(err.Error(), `unsupported model type "WordPiece"`) {
		t.Errorf("Load error = %v", err)
	}
}

func TestMalformed(t *testing.T) {
	good := string(marshal(t, miniDoc()))
	raw := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"truncated", good[:len(good)/2]},
		{"not an object", `[1, 2, 3]`},
		{"vocab of the wrong shape", `{"model": {"type": "BPE", "vocab": [1, 2]}}`},
		{"merges of the wrong shape", `{"model": {"type": "BPE", "vocab": {}, "merges": {"a": "b"}}}`},
		{"no model", `{"pre_tokenizer": {"type": "ByteLevel"}}`},
		{"no vocab", `{"model": {"type": "BPE", "merges": []}}`},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseBPE([]byte(tt.data)); err == nil {
				t.Error("ParseBPE succeeded")
			} else if errors.Is(err, ErrUnsupported) {
				t.Errorf("malformed input reported as unsupported: %v", err)
			}
		})
	}

	docs := []struct {
		name   string
		change func(doc map[string]any)
	}{
		{"merge with three parts", func(doc map[string]any) {
			model(doc)["merges"] = []string{"h e l"}
		}},
		{"merge pair with one token", func(doc map[string]any) {
			model(doc)["merges"] = [][]string{{"h"}}
		}},
		{"merge token not in vocab", func(doc map[string]any) {
			model(doc)["merges"] = []string{"h ☃"}
		}},
		{"merged token not in vocab", func(doc map[string]any) {
			model(doc)["merges"] = []string{"x y"}
		}},
		{"negative id", func(doc map[string]any) {
			model(doc)["vocab"].(map[string]int)["neg"] = -1
		}},
		{"negative added id", func(doc map[string]any) {
			doc["added_tokens"] = []any{added(-5, "<x>", true)}
		}},
		{"bad regexp", func(doc map[string]any) {
			doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(unclosed`},
					"behavior": "Isolated", "invert": false},
				map[string]any{"type": "ByteLevel"}}}
		}},
	}
	for _, tt := range docs {
		t.Run(tt.name, func(t *testing.T) {
			doc := miniDoc()
			tt.change(doc)
			if _, err := ParseBPE(marshal(t, doc)); err == nil {
				t.Error("ParseBPE succeeded")
			}
		})
	}
}

// A model without a "type" (files older than tagged models) is read as BPE.
func TestUntypedModel(t *testing.T) {
	doc := miniDoc()
	delete(model(doc), "type")
	checkEncode(t, parse(t, doc), "hello", []int{idHello})
}

// A repeated merge takes its last rank, as in the Hugging Face library.
func TestRepeatedMerge(t *testing.T) {
	checkEncode(t, parse(t, miniDoc()), "hel", []int{idHe, 'l'})
	doc := miniDoc()
	// "h e" again after "e l": now "e l" merges first.
	model(doc)["merges"] = mergePairs(append(slices.Clone(miniMerges), [2]string{"h", "e"}))
	checkEncode(t, parse(t, doc), "hel", []int{'h', idEL})
}
