package tokenizer

import (
	"errors"
	"slices"
	"testing"
)

func checkEncode(t *testing.T, tk *BPE, text string, want []int) {
	t.Helper()
	got, err := tk.Encode(text)
	if err != nil {
		t.Fatalf("Encode(%q): %v", text, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Encode(%q) = %v, want %v", text, got, want)
	}
	n, err := tk.Count(text)
	if err != nil || n != len(want) {
		t.Errorf("Count(%q) = %d, %v; want %d", text, n, err, len(want))
	}
}

func TestEncodeGPT2Style(t *testing.T) {
	doc := tokenizerDoc(miniVocab(), mergeStrings(miniMerges), chatMLAdded(), gpt2Pre(false))
	tk := parse(t, doc)
	checkEncode(t, tk, "hello the", []int{idHello, idSpThe})
	checkEncode(t, tk, "the", []int{'t', idHe})
	// GPT-2's pattern keeps a space with the word and digits together.
	checkEncode(t, tk, "a  b", []int{'a', ' ', ' ', 'b'})
	checkEncode(t, tk, "12", []int{'1', '2'})
	// Unlike Qwen2's, it cuts a run of newlines before a word apart.
	checkEncode(t, tk, "x\n\ny", []int{'x', '\n', '\n', 'y'})
	checkEncode(t, tk, "x\n\n", []int{'x', idNL2})

	withPrefix := tokenizerDoc(miniVocab(), mergeStrings(miniMerges), chatMLAdded(), gpt2Pre(true))
	tk = parse(t, withPrefix)
	checkEncode(t, tk, "the", []int{idSpThe})
	checkEncode(t, tk, " the", []int{idSpThe})
	// The space is added to each piece between added tokens.
	checkEncode(t, tk, "<|im_start|>the", []int{idImStart, idSpThe})
	checkEncode(t, tk, "", nil)
}

func TestMergeFormatsAgree(t *testing.T) {
	strs := miniDoc()
	model(strs)["merges"] = mergeStrings(miniMerges)
	a, b := parse(t, strs), parse(t, miniDoc())
	for _, s := range []string{"hello the shell", "x\n\ny café", "ell eel", "<|im_start|>hello"} {
		ga, errA := a.Encode(s)
		gb, errB := b.Encode(s)
		if errA != nil || errB != nil || !slices.Equal(ga, gb) {
			t.Errorf("%q: strings %v (%v), pairs %v (%v)", s, ga, errA, gb, errB)
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tk := parse(t, miniDoc())
	for _, s := range []string{
		"", "hello the", "a  b\n\n", "café 日本 🙂", "\x00\x01",
		"<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
	} {
		ids, err := tk.Encode(s)
		if err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		got, err := tk.Decode(ids)
		if err != nil || got != s {
			t.Errorf("Decode(Encode(%q)) = %q, %v", s, got, err)
		}
	}
	// Invalid UTF-8 is encoded as U+FFFD, one per bad byte.
	ids, _ := tk.Encode("a\xff\xe6\x97b")
	if got, _ := tk.Decode(ids); got != "a\uFFFD\uFFFD\uFFFDb" {
		t.Errorf("Decode(Encode(invalid)) = %q", got)
	}
	if _, err := tk.Decode([]int{999}); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Decode(999) error = %v, want ErrUnknownID", err)
	}
	// A token cut in the middle of a character decodes to its raw bytes.
	if got, _ := tk.Decode([]int{0xC3}); got != "\xc3" {
		t.Errorf("Decode(0xC3) = %q", got)
	}
}

func TestAddedTokenOptions(t *testing.T) {
	const idMask, idHi = 310, 311
	mask := added(idMask, "<mask>", true)
	mask["lstrip"] = true
	mask["rstrip"] = true
	hi := added(idHi, "hi", false)
	hi["single_word"] = true
	tk := parse(t, tokenizerDoc(miniVocab(), mergePairs(miniMerges), []any{mask, hi}, qwen2Pre()))

	checkEncode(t, tk, "a <mask> b", []int{'a', idMask, 'b'})
	checkEncode(t, tk, "a\n\t<mask>", []int{'a', idMask})
	checkEncode(t, tk, "hi there", []int{idHi, idSpThe, 'r', 'e'})
	checkEncode(t, tk, "(hi)", []int{'(', idHi, ')'})
	// Inside a word "hi" is not a single word, so it is plain text.
	checkEncode(t, tk, "this", bytesOf("this"))
	checkEncode(t, tk, "hi_", bytesOf("hi_"))
}

func TestUnknownBytes(t *testing.T) {
	vocab := byteVocab()
	delete(vocab, "z")
	vocab["<unk>"] = 400
	tests := []struct {
		name  string
		unk   any
		fuse  bool
		text  string
		want  []int
		isErr bool
	}{
		{"dropped without unk", nil, false, "azz", []int{'a'}, false},
		{"one unk each", "<unk>", false, "azzb", []int{'a', 400, 400, 'b'}, false},
		{"fused unks", "<unk>", true, "azzbz", []int{'a', 400, 'b', 400}, false},
		{"unk missing from vocab", "<nope>", false, "z", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tokenizerDoc(vocab, nil, nil, qwen2Pre())
			model(doc)["unk_token"] = tt.unk
			model(doc)["fuse_unk"] = tt.fuse
			tk := parse(t, doc)
			got, err := tk.Encode(tt.text)
			if tt.isErr {
				if err == nil {
					t.Fatalf("Encode(%q) = %v, want an error", tt.text, got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, %v; want %v", tt.text, got, err, tt.want)
			}
		})
	}
}

func TestByteFallback(t *testing.T) {
	vocab := byteVocab()
	delete(vocab, "z")
	vocab["<0x7A>"] = 500
	doc := tokenizerDoc(vocab, nil, nil, qwen2Pre())
	model(doc)["byte_fallback"] = true
	checkEncode(t, parse(t, doc), "az", []int{'a', 500})
}

func TestIgnoreMerges(t *testing.T) {
	vocab := byteVocab()
	vocab["abc"] = 600 // reachable by no merge
	doc := tokenizerDoc(vocab, nil, nil, qwen2Pre())
	checkEncode(t, parse(t, doc), "abc", []int{'a', 'b', 'c'})
	model(doc)["ignore_merges"] = true
	checkEncode(t, parse(t, doc), "abc", []int{600})
	checkEncode(t, parse(t, doc), "abcd", bytesOf("abcd"))
}

func TestNormalizer(t *testing.T) {
	doc := miniDoc()
	doc["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{
		map[string]any{"type": "NFC"},
	}}
	// e followed by a combining acute accent composes to é.
	checkEncode(t, parse(t, doc), "e\u0301", []int{idEAcute})
	checkEncode(t, parse(t, miniDoc()), "e\u0301", cat([]int{'e'}, bytesOf("\u0301")))
}

func TestSplitRemoved(t *testing.T) {
	doc := miniDoc()
	doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"String": " "},
			"behavior": "Removed", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
	}}
	checkEncode(t, parse(t, doc), "hello the", []int{idHello, 't', idHe})
}

func TestLongInput(t *testing.T) {
	tk := parse(t, miniDoc())
	word := make([]byte, 0, 1<<17)
	for len(word) < 1<<17 {
		word = append(word, "hellel"...)
	}
	ids, err := tk.Encode(string(word))
	if err != nil {
		t.Fatal(err)
	}
	// "hellel" is hell + el at every repetition.
	if len(ids) != len(word)/6*2 {
		t.Errorf("got %d ids for %d bytes", len(ids), len(word))
	}
}

func TestApprox(t *testing.T) {
	var a Approx
	for text, want := range map[string]int{"": 0, "a": 1, "abcd": 1, "abcde": 2, "日本": 2} {
		if got, err := a.Count(text); err != nil || got != want {
			t.Errorf("Count(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	if _, err := a.Encode("x"); !errors.Is(err, ErrNoIDs) {
		t.Errorf("Encode error = %v, want ErrNoIDs", err)
	}
}
