package tokenizer

import (
	"testing"
)

// FuzzEncode checks, on the Qwen2-style and GPT-2-style fixtures, that
// encoding never panics or fails, that Count agrees with Encode, and that
// decoding gives back the input, with U+FFFD for each invalid byte (every
// byte has a token, and neither fixture normalizes or adds a prefix space).
func FuzzEncode(f *testing.F) {
	for _, seed := range []string{
		"", " ", "hello the shell", "a  b\n\n\ty ", "x\r\n\r\n",
		"I'm don't WE'LL", "12345 3.14", "café 日本語 🙂 e\u0301",
		"\xff\xfe\x00\x01", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
		"<|im_x<|im_end", "<|endoftext|><|endoftext|>", "\u00a0\u2003\u3000x",
	} {
		f.Add(seed)
	}
	qwen := parse(f, miniDoc())
	gpt2 := parse(f, tokenizerDoc(miniVocab(), mergeStrings(miniMerges), chatMLAdded(), gpt2Pre(false)))

	f.Fuzz(func(t *testing.T, text string) {
		for name, tk := range map[string]*BPE{"qwen2": qwen, "gpt2": gpt2} {
			ids, err := tk.Encode(text)
			if err != nil {
				t.Fatalf("%s: Encode(%q): %v", name, text, err)
			}
			n, err := tk.Count(text)
			if err != nil || n != len(ids) {
				t.Fatalf("%s: Count(%q) = %d, %v; len(Encode) = %d", name, text, n, err, len(ids))
			}
			if n > len(validUTF8(text)) {
				t.Fatalf("%s: %d tokens for %d bytes", name, n, len(text))
			}
			back, err := tk.Decode(ids)
			if err != nil || back != validUTF8(text) {
				t.Fatalf("%s: Decode(Encode(%q)) = %q, %v", name, text, back, err)
			}
		}
	})
}

// FuzzParseBPE checks that no tokenizer.json, however broken, makes the
// parser or a parsed tokenizer panic.
func FuzzParseBPE(f *testing.F) {
	f.Add(marshal(f, miniDoc()))
	f.Add(marshal(f, tokenizerDoc(miniVocab(), mergeStrings(miniMerges), chatMLAdded(), gpt2Pre(true))))
	f.Add([]byte(`{"model": {"type": "WordPiece", "vocab": {}}}`))
	f.Add([]byte(`{"model": {"vocab": {"a": 0}, "merges": [["a", "a"]]}, "pre_tokenizer": {"type": "ByteLevel"}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 1, "content": "x", "lstrip": true, "rstrip": true, "single_word": true}],
		"model": {"type": "BPE", "vocab": {"x": 0}, "unk_token": "x", "fuse_unk": true, "byte_fallback": true},
		"normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := ParseBPE(data)
		if err != nil {
			return
		}
		for _, text := range []string{"", "x", " hello the\n\n日本 <|im_start|>", "\xff x  "} {
			ids, err := tk.Encode(text)
			if err != nil {
				continue
			}
			if n, _ := tk.Count(text); n != len(ids) {
				t.Fatalf("Count(%q) = %d, len(Encode) = %d", text, n, len(ids))
			}
			_, _ = tk.Decode(ids)
		}
	})
}
