package tokenizer

import (
	"io"
	"slices"
	"sync"
	"testing"
)

// contractCases are texts and their ids under the Qwen2-style mini fixture
// (miniDoc). Every implementation must produce exactly these ids, so they
// follow the Hugging Face library's behaviour.
var contractCases = []struct {
	name string
	text string
	want []int
}{
	{"empty", "", nil},
	{"merged word", "hello", []int{idHello}},
	{"rank order beats left to right", "ell", []int{'e', idLL}},
	{"low rank merge alone", "eel", []int{'e', idEL}},
	{"partial merges", "shell", []int{'s', idHell}},
	{"no merges", "the", []int{'t', idHe}},
	{"space joins the word", "hello the", []int{idHello, idSpThe}},
	{"leading space", " the", []int{idSpThe}},
	{"two spaces", "a  b", []int{'a', ' ', ' ', 'b'}},
	{"trailing spaces", "a  ", []int{'a', ' ', ' '}},
	{"newlines", "x\n\ny", []int{'x', idNL2, 'y'}},
	{"one newline", "\n", []int{'\n'}},
	{"three newlines", "\n\n\n", []int{idNL2, '\n'}},
	{"CRLF", "a\r\nb", []int{'a', '\r', '\n', 'b'}},
	{"digits one by one", "123", []int{'1', '2', '3'}},
	{"contraction", "I'm", []int{'I', '\'', 'm'}},
	{"punctuation run", "hi!!\n", []int{'h', 'i', '!', '!', '\n'}},
	{"two-byte UTF-8 merged", "é", []int{idEAcute}},
	{"two-byte UTF-8 in a word", "café", []int{'c', 'a', 'f', idEAcute}},
	{"three-byte UTF-8", "日本", bytesOf("日本")},
	{"four-byte UTF-8", "🙂", bytesOf("🙂")},
	{"invalid UTF-8", "a\xff\xfeb", cat([]int{'a'}, bytesOf("\uFFFD\uFFFD"), []int{'b'})},
	{"special token", "<|im_start|>", []int{idImStart}},
	{"specials back to back", "<|endoftext|><|endoftext|>", []int{idEndOfText, idEndOfText}},
	{"longest added token wins", "<|im_start|>x", []int{idImStart, 'x'}},
	{"shorter added token", "<|im_x", []int{idIm, '_', 'x'}},
	{"broken special", "<|im_end", []int{idIm, '_', 'e', 'n', 'd'}},
	{"ChatML turn", "<|im_start|>user\nhello<|im_end|>\n",
		cat([]int{idImStart}, bytesOf("user"), []int{'\n', idHello, idImEnd, '\n'})},
}

// runContract checks an implementation, loaded from the mini fixture's
// tokenizer.json by load, against contractCases: Encode, Count, Decode
// (when it is a Decoder) and concurrent use.
func runContract(t *testing.T, load func(path string) (Tokenizer, error)) {
	tk, err := load(writeDoc(t, miniDoc()))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if c, ok := tk.(io.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	dec, canDecode := tk.(Decoder)
	for _, tt := range contractCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tk.Encode(tt.text)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Encode(%q) = %v, %v; want %v", tt.text, got, err, tt.want)
			}
			if n, err := tk.Count(tt.text); err != nil || n != len(tt.want) {
				t.Errorf("Count(%q) = %d, %v; want %d", tt.text, n, err, len(tt.want))
			}
			if !canDecode {
				return
			}
			want := validUTF8(tt.text)
			if back, err := dec.Decode(got); err != nil || back != want {
				t.Errorf("Decode(%v) = %q, %v; want %q", got, back, err, want)
			}
		})
	}

	const text = "hello the café\n\n<|im_end|>"
	want, _ := tk.Encode(text)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if got, err := tk.Encode(text); err != nil || !slices.Equal(got, want) {
					t.Errorf("concurrent Encode = %v, %v; want %v", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestContractBPE(t *testing.T) {
	runContract(t, func(path string) (Tokenizer, error) { return LoadBPE(path) })
}

func TestContractLoad(t *testing.T) {
	runContract(t, Load)
}
