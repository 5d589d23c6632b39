package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// gpt2Pattern is the split pattern of the ByteLevel pre-tokenizer when its
// use_regex option is on (GPT-2 and every tokenizer built like it).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// byteRune maps each byte to the printable rune that stands for it in a
// byte-level vocabulary (GPT-2's bytes_to_unicode): printable Latin-1 bytes
// stand for themselves, the others for 256, 257, ... in byte order.
// runeByte is its inverse, indexed by rune, -1 where a rune stands for no
// byte. Both are computed once and never written after.
var byteRune, runeByte = byteLevelTables()

func byteLevelTables() (fwd [256]rune, inv [324]int16) {
	for i := range inv {
		inv[i] = -1
	}
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = next
			next++
		}
		fwd[b] = r
		inv[r] = int16(b)
	}
	return fwd, inv
}

// byteLevelString maps every byte of s to its byte-level rune.
func byteLevelString(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteRune[s[i]])
	}
	return b.String()
}

// appendByteLevelDecoded appends the bytes that the byte-level runes of tok
// stand for. Like the Hugging Face ByteLevel decoder, a token with any rune
// outside the table is appended as it is.
func appendByteLevelDecoded(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeByte) || runeByte[r] < 0 {
			return append(dst[:start], tok...)
		}
		dst = append(dst, byte(runeByte[r]))
	}
	return dst
}

// addedToken is one entry of a tokenizer.json's added_tokens.
type addedToken struct {
	content    string
	id         int
	singleWord bool
	lstrip     bool
	rstrip     bool
}

// addedMatcher finds added tokens in text, leftmost first and longest among
// those that start at the same byte, as the Hugging Face library does.
type addedMatcher struct {
	// byFirst holds the tokens by their first byte, longest first.
	byFirst map[byte][]addedToken
}

func newAddedMatcher(tokens []addedToken) addedMatcher {
	m := addedMatcher{byFirst: make(map[byte][]addedToken)}
	for _, t := range tokens {
		if t.content == "" {
			continue
		}
		m.byFirst[t.content[0]] = append(m.byFirst[t.content[0]], t)
	}
	for _, list := range m.byFirst {
		sort.SliceStable(list, func(i, j int) bool { return len(list[i].content) > len(list[j].content) })
	}
	return m
}

// split calls fn for each piece of text in order: plain text with id -1,
// added tokens with their id (the piece then includes any white space that
// the token's lstrip or rstrip absorbs).
func (m addedMatcher) split(text string, fn func(piece string, id int) error) error {
	last := 0
	for i := 0; i < len(text); {
		tok := m.longestAt(text, i)
		if tok == nil {
			i++
			continue
		}
		start, stop := i, i+len(tok.content)
		i = stop
		if tok.singleWord && (endsWithWordChar(text[:start]) || startsWithWordChar(text[stop:])) {
			continue
		}
		if tok.lstrip {
			start = max(len(strings.TrimRightFunc(text[:start], unicode.IsSpace)), last)
		}
		if tok.rstrip {
			stop = len(text) - len(strings.TrimLeftFunc(text[stop:], unicode.IsSpace))
			i = stop
		}
		if last < start {
			if err := fn(text[last:start], -1); err != nil {
				return err
			}
		}
		if err := fn(text[start:stop], tok.id); err != nil {
			return err
		}
		last = stop
	}
	if last < len(text) {
		return fn(text[last:], -1)
	}
	return nil
}

func (m addedMatcher) longestAt(text string, i int) *addedToken {
	list := m.byFirst[text[i]]
	for k := range list {
		if strings.HasPrefix(text[i:], list[k].content) {
			return &list[k]
		}
	}
	return nil
}

// isWordChar reports whether r is in the \w class of Rust's regex crate,
// which the Hugging Face library uses for single_word added tokens.
func isWordChar(r rune) bool {
	return r == '_' || unicode.In(r, unicode.L, unicode.Nl, unicode.Other_Alphabetic,
		unicode.M, unicode.Nd, unicode.Pc, unicode.Join_Control)
}

func endsWithWordChar(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && r != utf8.RuneError && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && r != utf8.RuneError && isWordChar(r)
}

// stepKind is what one pre-tokenizer step does to each piece of text.
type stepKind int

const (
	// stepIsolate splits a piece at the matches of a regexp, keeping both
	// the matches and the text between them (Split behaviour "Isolated").
	stepIsolate stepKind = iota
	// stepRemove splits a piece at the matches and drops the matches
	// (Split behaviour "Removed").
	stepRemove
	// stepPrefixSpace prepends a space to a piece that does not start with
	// one (ByteLevel add_prefix_space).
	stepPrefixSpace
)

// preStep is one step of the pre-tokenizer pipeline.
type preStep struct {
	kind stepKind
	re   *regexp2.Regexp // for stepIsolate and stepRemove
}

// preTokenize runs steps on s and calls emit for every non-empty piece
// that comes out of the last step, in order.
func preTokenize(steps []preStep, s string, emit func(string) error) error {
	if s == "" {
		return nil
	}
	if len(steps) == 0 {
		return emit(s)
	}
	st, rest := steps[0], steps[1:]
	if st.kind == stepPrefixSpace {
		if s[0] != ' ' {
			s = " " + s
		}
		return preTokenize(rest, s, emit)
	}
	return splitRegexp(st.re, s, st.kind == stepIsolate, func(piece string) error {
		return preTokenize(rest, piece, emit)
	})
}

// splitRegexp calls fn for the text between the matches of re in s and,
// when keepMatches is set, for the matches themselves, in order. regexp2
// reports rune positions; they are turned back into byte offsets (s may
// come from a normalizer, so it is not assumed to be valid UTF-8: a bad
// byte is one rune, as in []rune(s)).
func splitRegexp(re *regexp2.Regexp, s string, keepMatches bool, fn func(string) error) error {
	runes := []rune(s)
	offsets := make([]int, 0, len(runes)+1)
	for i := range s {
		offsets = append(offsets, i)
	}
	offsets = append(offsets, len(s))

	last := 0
	m, err := re.FindRunesMatch(runes)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		start, end := offsets[m.Index], offsets[m.Index+m.Length]
		if start == end {
			continue
		}
		if last < start {
			if err := fn(s[last:start]); err != nil {
				return err
			}
		}
		if keepMatches {
			if err := fn(s[start:end]); err != nil {
				return err
			}
		}
		last = end
	}
	if err != nil {
		return fmt.Errorf("split %q: %w", re.String(), err)
	}
	if last < len(s) {
		return fn(s[last:])
	}
	return nil
}
