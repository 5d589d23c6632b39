package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The test bed's models (testdata/testbed in the repository root) carry
// their vocabulary in GGUF metadata: byte-level tokens with id = byte value,
// one merge (id 256), and the specials 257-261. These tests build a
// tokenizer.json from that metadata, the way a converter would, and check
// that ChatML prompts count as their bytes plus their special tokens.

const testbedDir = "../../testdata/testbed"

// Test bed special token ids.
const (
	tbEndOfText = 257
	tbImStart   = 258
	tbImEnd     = 259
	tbCN        = 260
	tbUN        = 261
)

// ggufTokenizer is the tokenizer metadata of a GGUF file.
type ggufTokenizer struct {
	model, pre string
	tokens     []string
	tokenTypes []int
	merges     []string
}

// readGGUFTokenizer reads the tokenizer.ggml.* keys of a GGUF file's
// metadata (format versions 2 and 3).
func readGGUFTokenizer(path string) (*ggufTokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &ggufReader{b: data}
	if string(r.bytes(4)) != "GGUF" {
		return nil, fmt.Errorf("%s: not a GGUF file", path)
	}
	_ = r.u32()         // version
	_ = r.u64()         // tensor count
	nkv := int(r.u64()) // metadata count
	var tok ggufTokenizer
	for i := 0; i < nkv && r.err == nil; i++ {
		key := r.str()
		v := r.value(r.u32())
		switch key {
		case "tokenizer.ggml.model":
			tok.model, _ = v.(string)
		case "tokenizer.ggml.pre":
			tok.pre, _ = v.(string)
		case "tokenizer.ggml.tokens":
			for _, s := range v.([]any) {
				tok.tokens = append(tok.tokens, s.(string))
			}
		case "tokenizer.ggml.merges":
			for _, s := range v.([]any) {
				tok.merges = append(tok.merges, s.(string))
			}
		case "tokenizer.ggml.token_type":
			for _, n := range v.([]any) {
				tok.tokenTypes = append(tok.tokenTypes, int(n.(int64)))
			}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", path, r.err)
	}
	return &tok, nil
}

type ggufReader struct {
	b   []byte
	err error
}

func (r *ggufReader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("truncated metadata")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *ggufReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *ggufReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *ggufReader) str() string { return string(r.bytes(int(r.u64()))) }

// value reads one metadata value: integers as int64, floats as float64.
func (r *ggufReader) value(typ uint32) any {
	sizes := map[uint32]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
	switch typ {
	case 8:
		return r.str()
	case 9:
		elem := r.u32()
		n := r.u64()
		if n > uint64(len(r.b)) {
			r.err = fmt.Errorf("array of %d elements in %d bytes", n, len(r.b))
			return nil
		}
		out := make([]any, 0, n)
		for range n {
			out = append(out, r.value(elem))
		}
		return out
	case 6, 12: // floats are not needed here
		r.bytes(sizes[typ])
		return 0.0
	}
	size, ok := sizes[typ]
	if !ok {
		r.err = fmt.Errorf("unknown metadata type %d", typ)
		return nil
	}
	var buf [8]byte
	copy(buf[:], r.bytes(size))
	return int64(binary.LittleEndian.Uint64(buf[:]))
}

// testbedDoc builds a tokenizer.json document from a test bed model's GGUF
// metadata: normal tokens (type 1) form the vocabulary, control tokens
// (type 3) are added special tokens, and the pre-tokenizer is Qwen2's.
func testbedDoc(t *testing.T, gguf string) map[string]any {
	t.Helper()
	meta, err := readGGUFTokenizer(filepath.Join(testbedDir, "models", gguf))
	if err != nil {
		t.Fatalf("read test bed vocabulary: %v", err)
	}
	if meta.model != "gpt2" || meta.pre != "qwen2" {
		t.Fatalf("test bed tokenizer is %q/%q, want gpt2/qwen2", meta.model, meta.pre)
	}
	vocab := map[string]int{}
	var specials []any
	for id, tok := range meta.tokens {
		switch meta.tokenTypes[id] {
		case 1:
			vocab[tok] = id
		case 3:
			specials = append(specials, added(id, tok, true))
		default:
			t.Fatalf("token %d %q has type %d", id, tok, meta.tokenTypes[id])
		}
	}
	return tokenizerDoc(vocab, meta.merges, specials, qwen2Pre())
}

func TestTestbedVocabulary(t *testing.T) {
	doc := testbedDoc(t, "weak.gguf")
	vocab := model(doc)["vocab"].(map[string]int)
	for b := range 256 {
		if id, ok := vocab[string(byteRune[b])]; !ok || id != b {
			t.Fatalf("byte %#02x: id %d (%v), want %d", b, id, ok, b)
		}
	}
	if got := model(doc)["merges"]; !slices.Equal(got.([]string), []string{"Ā ā"}) {
		t.Errorf("merges = %q, want the one dummy merge", got)
	}
	want := []any{
		added(tbEndOfText, "<|endoftext|>", true), added(tbImStart, "<|im_start|>", true),
		added(tbImEnd, "<|im_end|>", true), added(tbCN, "<CN>", true), added(tbUN, "<UN>", true),
	}
	gotJSON, _ := json.Marshal(doc["added_tokens"])
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("added tokens = %s, want %s", gotJSON, wantJSON)
	}
	// The models share one vocabulary.
	for _, other := range []string{"selfref.gguf", "strong.gguf"} {
		o := testbedDoc(t, other)
		a, _ := json.Marshal(doc)
		b, _ := json.Marshal(o)
		if !bytes.Equal(a, b) {
			t.Errorf("%s has another vocabulary than weak.gguf", other)
		}
	}
}

// chatML renders one user turn as the test bed's Modelfiles do.
func chatML(question string) string {
	return "<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n"
}

func TestTestbedChatMLCounts(t *testing.T) {
	tk := parse(t, testbedDoc(t, "weak.gguf"))
	f, err := os.Open(filepath.Join(testbedDir, "data", "val.jsonl"))
	if err != nil {
		t.Fatalf("open test bed data: %v", err)
	}
	defer f.Close()

	longest := 0
	sc := bufio.NewScanner(f)
	for n := 0; n < 200 && sc.Scan(); n++ {
		var item struct{ Prompt, Answer string }
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		prompt := chatML(item.Prompt)
		want := cat([]int{tbImStart}, bytesOf("user\n"+item.Prompt), []int{tbImEnd},
			bytesOf("\n"), []int{tbImStart}, bytesOf("assistant\n"))
		got, err := tk.Encode(prompt)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Encode(%q) = %v, %v; want %v", prompt, got, err, want)
		}
		// Count = bytes outside special tokens + one per special token.
		const specials = 3
		plain := len(prompt) - len("<|im_start|>")*2 - len("<|im_end|>")
		if n, _ := tk.Count(prompt); n != plain+specials {
			t.Fatalf("Count(%q) = %d, want %d", prompt, n, plain+specials)
		}
		// A Self-REF answer with its confidence token.
		turn := prompt + item.Answer + "<CN><|im_end|>"
		if n, _ := tk.Count(turn); n != plain+specials+len(item.Answer)+2 {
			t.Fatalf("Count(%q) = %d", turn, n)
		}
		longest = max(longest, len(got))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("longest of 200 prompts: %d tokens", longest)

	// The one merge joins bytes 0x00 and 0x01.
	checkEncode(t, tk, "\x00\x01\x00", []int{256, 0})
}

// TestTestbedTokenizerFile keeps testdata/testbed/tokenizer.json, the test
// bed's tokenizer in Hugging Face format (used by the daemon's context-length
// check in tests), equal to the vocabulary in the GGUF files. Regenerate with
// EDGECASCADE_UPDATE_TESTBED=1 go test ./models/tokenizer -run TokenizerFile.
func TestTestbedTokenizerFile(t *testing.T) {
	want, err := json.MarshalIndent(testbedDoc(t, "weak.gguf"), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testbedDir, "tokenizer.json")
	if os.Getenv("EDGECASCADE_UPDATE_TESTBED") == "1" {
		if err := os.WriteFile(path, append(want, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with EDGECASCADE_UPDATE_TESTBED=1)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), want) {
		t.Fatalf("%s is out of date: regenerate with EDGECASCADE_UPDATE_TESTBED=1", path)
	}
	tk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tk.Count(chatML("Spell rmzf backwards.")); err != nil || n != 3+len("user\nSpell rmzf backwards.")+len("\nassistant\n") {
		t.Fatalf("Count = %d, %v", n, err)
	}
}
