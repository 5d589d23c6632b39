package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The fixtures are tokenizer.json files written from Go: a byte-level
// vocabulary in which id b is byte b's token (as in the test bed), a few
// merges, and ChatML special tokens.

// qwen2Pattern is the Split regexp of Qwen2's tokenizer.json.
const qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Ids of the mini fixture beyond the 256 byte tokens.
const (
	idSpT    = 256 // "Ġt"
	idHe     = 257 // "he"
	idSpThe  = 258 // "Ġthe"
	idLL     = 259 // "ll"
	idHell   = 260 // "hell"
	idHello  = 261 // "hello"
	idEAcute = 262 // "Ã©", é
	idNL2    = 263 // "ĊĊ", two newlines
	idEL     = 264 // "el"

	idEndOfText = 300
	idImStart   = 301
	idImEnd     = 302
	idIm        = 303 // "<|im", a non-special added token that prefixes <|im_start|>
)

// miniMerges are the mini fixture's merges in rank order, written in
// byte-level runes: Ġ is the space, Ċ the newline, "Ã ©" the bytes of é.
var miniMerges = [][2]string{
	{"Ġ", "t"},    // 256
	{"h", "e"},    // 257
	{"Ġt", "he"},  // 258
	{"l", "l"},    // 259
	{"he", "ll"},  // 260
	{"hell", "o"}, // 261
	{"Ã", "©"},    // 262
	{"Ċ", "Ċ"},    // 263
	{"e", "l"},    // 264: ranks after "l l", so "ell" is e + ll
}

// byteVocab returns a vocabulary with byte b's byte-level token at id b.
func byteVocab() map[string]int {
	v := make(map[string]int, 300)
	for b := range 256 {
		v[string(byteRune[b])] = b
	}
	return v
}

func miniVocab() map[string]int {
	v := byteVocab()
	for i, m := range miniMerges {
		v[m[0]+m[1]] = 256 + i
	}
	return v
}

func added(id int, content string, special bool) map[string]any {
	return map[string]any{
		"id": id, "content": content, "single_word": false, "lstrip": false,
		"rstrip": false, "normalized": !special, "special": special,
	}
}

func chatMLAdded() []any {
	return []any{
		added(idEndOfText, "<|endoftext|>", true),
		added(idImStart, "<|im_start|>", true),
		added(idImEnd, "<|im_end|>", true),
		added(idIm, "<|im", false),
	}
}

// qwen2Pre is Qwen2's pre-tokenizer: its Split regexp, then ByteLevel
// without its own regexp.
func qwen2Pre() map[string]any {
	return map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": qwen2Pattern},
			"behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
	}}
}

// gpt2Pre is GPT-2's pre-tokenizer: ByteLevel with its own regexp.
func gpt2Pre(prefixSpace bool) map[string]any {
	return map[string]any{"type": "ByteLevel", "add_prefix_space": prefixSpace, "trim_offsets": true, "use_regex": true}
}

// mergeStrings writes merges in the older "a b" form.
func mergeStrings(ms [][2]string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m[0] + " " + m[1]
	}
	return out
}

// mergePairs writes merges in the newer ["a", "b"] form.
func mergePairs(ms [][2]string) [][]string {
	out := make([][]string, len(ms))
	for i, m := range ms {
		out[i] = []string{m[0], m[1]}
	}
	return out
}

// tokenizerDoc is a whole tokenizer.json as a map, for tests to change.
func tokenizerDoc(vocab map[string]int, merges any, addedTokens []any, pre any) map[string]any {
	return map[string]any{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  addedTokens,
		"normalizer":    nil,
		"pre_tokenizer": pre,
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": false,
			"trim_offsets": false, "use_regex": false},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": false,
			"trim_offsets": false, "use_regex": false},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil,
			"continuing_subword_prefix": nil, "end_of_word_suffix": nil,
			"fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": merges,
		},
	}
}

// miniDoc is the Qwen2-style mini fixture with pair-form merges.
func miniDoc() map[string]any {
	return tokenizerDoc(miniVocab(), mergePairs(miniMerges), chatMLAdded(), qwen2Pre())
}

func model(doc map[string]any) map[string]any { return doc["model"].(map[string]any) }

func marshal(t testing.TB, doc map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("marshal fixture: %v", err)
	}
	return data
}

func parse(t testing.TB, doc map[string]any) *BPE {
	t.Helper()
	tk, err := ParseBPE(marshal(t, doc))
	if err != nil {
		t.Fatalf("ParseBPE: %v", err)
	}
	return tk
}

// writeDoc writes doc as tokenizer.json in a temporary directory.
func writeDoc(t testing.TB, doc map[string]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, marshal(t, doc), 0o644); err != nil {
		t.Fatalf("write fixture: %v", err)
	}
	return path
}

// bytesOf returns the byte-token ids of s (id = byte value).
func bytesOf(s string) []int {
	ids := make([]int, len(s))
	for i := range len(s) {
		ids[i] = int(s[i])
	}
	return ids
}

func cat(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
