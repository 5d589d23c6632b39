package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// LoadBPE reads a Hugging Face tokenizer.json and builds the pure-Go
// tokenizer from it. See [ParseBPE] for what is supported.
func LoadBPE(path string) (*BPE, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := ParseBPE(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// ParseBPE builds the pure-Go tokenizer from the contents of a Hugging Face
// tokenizer.json. It supports:
//   - model "BPE" with merges as "a b" strings or ["a", "b"] pairs,
//     ignore_merges, unk_token with fuse_unk, and byte_fallback; dropout is
//     ignored (counts are those without dropout);
//   - a pre_tokenizer that contains a ByteLevel step, optionally after Split
//     steps with behaviour "Isolated" or "Removed", within a Sequence;
//   - no normalizer, or NFC, NFD, NFKC, NFKD and Sequences of them;
//   - added_tokens, matched before everything else, longest first, with
//     single_word, lstrip and rstrip.
//
// Other model types (WordPiece, Unigram, WordLevel), pre-tokenizers and
// normalizers give an [*UnsupportedError]. The post_processor, decoder,
// truncation and padding are ignored. Added tokens are matched on the text
// before normalization, also those marked "normalized".
func ParseBPE(data []byte) (*BPE, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	t := &BPE{unkID: -1}
	if err := t.setModel(f.Model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := t.setAddedTokens(f.AddedTokens); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	normalize, err := parseNormalizer(f.Normalizer)
	if err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	t.normalize = normalize
	var p preParser
	if err := p.parse(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if !p.byteLevel {
		return nil, fmt.Errorf("pre_tokenizer: %w", &UnsupportedError{
			Field: "pre_tokenizer type", Value: typeName(f.PreTokenizer),
			Detail: "a ByteLevel step is required (only byte-level BPE is supported)",
		})
	}
	t.steps = p.steps
	return t, nil
}

// fileJSON is the part of tokenizer.json that encoding needs.
type fileJSON struct {
	AddedTokens  []addedTokenJSON `json:"added_tokens"`
	Normalizer   json.RawMessage  `json:"normalizer"`
	PreTokenizer json.RawMessage  `json:"pre_tokenizer"`
	Model        json.RawMessage  `json:"model"`
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type bpeJSON struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

// typed is the first look at a tagged component: its "type" alone, read
// before the rest so that an unsupported type is named even when its other
// fields have shapes this package does not expect.
type typed struct {
	Type string `json:"type"`
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// typeName returns the "type" of a component, or "null" when there is none.
func typeName(raw json.RawMessage) string {
	var t typed
	if isNull(raw) || json.Unmarshal(raw, &t) != nil || t.Type == "" {
		return "null"
	}
	return t.Type
}

func (t *BPE) setModel(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("missing")
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	typ := head.Type
	if typ == "" {
		typ = inferModelType(raw)
	}
	if typ != "BPE" {
		return &UnsupportedError{Field: "model type", Value: typ, Detail: "only BPE is supported"}
	}
	var m bpeJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("parse BPE: %w", err)
	}
	if m.Vocab == nil {
		return fmt.Errorf("BPE: no vocab")
	}
	if p := m.ContinuingSubwordPrefix; p != nil && *p != "" {
		return &UnsupportedError{Field: "BPE continuing_subword_prefix", Value: *p, Detail: "byte-level BPE has none"}
	}
	if s := m.EndOfWordSuffix; s != nil && *s != "" {
		return &UnsupportedError{Field: "BPE end_of_word_suffix", Value: *s, Detail: "byte-level BPE has none"}
	}

	t.vocab = m.Vocab
	t.tokens = make(map[int]string, len(m.Vocab))
	for tok, id := range m.Vocab {
		if err := checkID(id); err != nil {
			return fmt.Errorf("vocab %q: %w", tok, err)
		}
		t.tokens[id] = tok
	}
	for b := range 256 {
		t.byteID[b] = -1
		if id, ok := t.vocab[string(byteRune[b])]; ok {
			t.byteID[b] = id
		}
		if m.ByteFallback {
			t.fallback[b] = byteFallbackIDs(t.vocab, string(byteRune[b]))
		}
	}
	if m.UnkToken != nil {
		t.unkToken = *m.UnkToken
		if id, ok := t.vocab[t.unkToken]; ok {
			t.unkID = id
		}
	}
	t.fuseUnk = m.FuseUnk
	t.ignoreMerges = m.IgnoreMerges

	pairs, err := parseMerges(m.Merges)
	if err != nil {
		return fmt.Errorf("merges: %w", err)
	}
	t.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		a, okA := t.vocab[p[0]]
		b, okB := t.vocab[p[1]]
		c, okC := t.vocab[p[0]+p[1]]
		switch {
		case !okA:
			return fmt.Errorf("merge %d: token %q not in vocab", rank, p[0])
		case !okB:
			return fmt.Errorf("merge %d: token %q not in vocab", rank, p[1])
		case !okC:
			return fmt.Errorf("merge %d: merged token %q not in vocab", rank, p[0]+p[1])
		}
		// A repeated pair takes its last rank, as in the Hugging Face library.
		t.merges[pairKey(a, b)] = merge{rank: rank, id: c}
	}
	return nil
}

// inferModelType names the model type of a tokenizer.json written before
// models carried a "type" (such as bert-base-uncased's), from its fields.
func inferModelType(raw json.RawMessage) string {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "unknown"
	}
	_, merges := fields["merges"]
	_, maxChars := fields["max_input_chars_per_word"]
	switch vocab := bytes.TrimSpace(fields["vocab"]); {
	case merges:
		return "BPE"
	case len(vocab) > 0 && vocab[0] == '[':
		return "Unigram"
	case maxChars:
		return "WordPiece"
	default:
		return "WordLevel"
	}
}

// byteFallbackIDs returns the ids of the <0xXX> tokens for the bytes of s,
// or nil when one is missing.
func byteFallbackIDs(vocab map[string]int, s string) []int {
	ids := make([]int, 0, len(s))
	for i := 0; i < len(s); i++ {
		id, ok := vocab[fmt.Sprintf("<0x%02X>", s[i])]
		if !ok {
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

func checkID(id int) error {
	if id < 0 || int64(id) > math.MaxUint32 {
		return fmt.Errorf("id %d out of range", id)
	}
	return nil
}

// parseMerges accepts both forms that tokenizer.json files use: ["a b", ...]
// (older files) and [["a", "b"], ...] (tokenizers 0.20 and later).
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err == nil {
		out := make([][2]string, len(lines))
		for i, line := range lines {
			parts := strings.Split(line, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("merge %d %q: want two tokens separated by one space", i, line)
			}
			out[i] = [2]string{parts[0], parts[1]}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("want a list of \"a b\" strings or of [\"a\", \"b\"] pairs: %w", err)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d: want a pair, got %d tokens", i, len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

func (t *BPE) setAddedTokens(list []addedTokenJSON) error {
	t.added = make(map[int]string, len(list))
	tokens := make([]addedToken, 0, len(list))
	for _, a := range list {
		if err := checkID(a.ID); err != nil {
			return fmt.Errorf("%q: %w", a.Content, err)
		}
		if a.Content == "" {
			continue
		}
		t.added[a.ID] = a.Content
		tokens = append(tokens, addedToken{
			content: a.Content, id: a.ID,
			singleWord: a.SingleWord, lstrip: a.LStrip, rstrip: a.RStrip,
		})
	}
	t.matcher = newAddedMatcher(tokens)
	return nil
}

// parseNormalizer returns the normalization function, nil for none.
func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	switch head.Type {
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Sequence":
		var seq struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("parse Sequence: %w", err)
		}
		var fns []func(string) string
		for i, n := range seq.Normalizers {
			fn, err := parseNormalizer(n)
			if err != nil {
				return nil, fmt.Errorf("sequence %d: %w", i, err)
			}
			if fn != nil {
				fns = append(fns, fn)
			}
		}
		if len(fns) == 0 {
			return nil, nil
		}
		return func(s string) string {
			for _, fn := range fns {
				s = fn(s)
			}
			return s
		}, nil
	default:
		return nil, &UnsupportedError{Field: "normalizer type", Value: typeName(raw),
			Detail: "only NFC, NFD, NFKC, NFKD and Sequence are supported"}
	}
}

// preParser collects the pre-tokenizer steps of a tokenizer.json.
type preParser struct {
	steps     []preStep
	byteLevel bool
}

func (p *preParser) parse(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var head typed
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	switch head.Type {
	case "Sequence":
		var seq struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return fmt.Errorf("parse Sequence: %w", err)
		}
		for i, s := range seq.PreTokenizers {
			if err := p.parse(s); err != nil {
				return fmt.Errorf("sequence %d: %w", i, err)
			}
		}
		return nil
	case "Split":
		return p.parseSplit(raw)
	case "ByteLevel":
		return p.parseByteLevel(raw)
	default:
		return &UnsupportedError{Field: "pre_tokenizer type", Value: typeName(raw),
			Detail: "only ByteLevel, Split and Sequence are supported"}
	}
}

func (p *preParser) parseSplit(raw json.RawMessage) error {
	var s struct {
		Pattern struct {
			Regex  *string `json:"Regex"`
			String *string `json:"String"`
		} `json:"pattern"`
		Behavior string `json:"behavior"`
		Invert   bool   `json:"invert"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("parse Split: %w", err)
	}
	if p.byteLevel {
		return &UnsupportedError{Field: "pre_tokenizer type", Value: "Split",
			Detail: "a Split after the ByteLevel step is not supported"}
	}
	var kind stepKind
	switch s.Behavior {
	case "Isolated":
		kind = stepIsolate
	case "Removed":
		kind = stepRemove
	default:
		return &UnsupportedError{Field: "Split behavior", Value: s.Behavior,
			Detail: "only Isolated and Removed are supported"}
	}
	if s.Invert {
		return &UnsupportedError{Field: "Split invert", Value: "true"}
	}
	var expr string
	switch {
	case s.Pattern.Regex != nil:
		expr = *s.Pattern.Regex
	case s.Pattern.String != nil:
		expr = regexp2.Escape(*s.Pattern.String)
	default:
		return fmt.Errorf("split: pattern has neither Regex nor String")
	}
	if expr == "" {
		return fmt.Errorf("split: empty pattern")
	}
	re, err := regexp2.Compile(expr, regexp2.None)
	if err != nil {
		return fmt.Errorf("split pattern: %w", err)
	}
	p.steps = append(p.steps, preStep{kind: kind, re: re})
	return nil
}

func (p *preParser) parseByteLevel(raw json.RawMessage) error {
	// Defaults as in the Hugging Face library.
	b := struct {
		AddPrefixSpace bool `json:"add_prefix_space"`
		UseRegex       bool `json:"use_regex"`
	}{AddPrefixSpace: true, UseRegex: true}
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("parse ByteLevel: %w", err)
	}
	if p.byteLevel {
		return &UnsupportedError{Field: "pre_tokenizer type", Value: "ByteLevel",
			Detail: "only one ByteLevel step is supported"}
	}
	p.byteLevel = true
	if b.AddPrefixSpace {
		p.steps = append(p.steps, preStep{kind: stepPrefixSpace})
	}
	if b.UseRegex {
		re, err := regexp2.Compile(gpt2Pattern, regexp2.None)
		if err != nil {
			return fmt.Errorf("byte-level pattern: %w", err)
		}
		p.steps = append(p.steps, preStep{kind: stepIsolate, re: re})
	}
	return nil
}
