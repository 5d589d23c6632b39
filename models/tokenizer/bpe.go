package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// BPE is the pure-Go byte-level BPE tokenizer built from a tokenizer.json by
// [ParseBPE] or [LoadBPE]. It is immutable after loading and safe for
// concurrent use.
//
// Encoding follows the Hugging Face library: added tokens are cut out of the
// text first; each remaining piece is normalized, split by the
// pre-tokenizer (Split regexps, then ByteLevel's own GPT-2 regexp when
// enabled), mapped byte by byte to the byte-level alphabet, and merged pair
// by pair in merge-rank order. The Split regexps run on
// github.com/dlclark/regexp2, because the usual patterns (GPT-2, Qwen2,
// Llama 3) need the lookahead that Go's regexp lacks; any pattern in a
// tokenizer.json is therefore used as written rather than only patterns
// recognized by name.
type BPE struct {
	vocab  map[string]int
	tokens map[int]string // id -> vocab token, for Decode
	added  map[int]string // id -> added token content, for Decode

	// byteID holds the id of each byte's one-rune token, -1 if absent.
	byteID [256]int
	// fallback holds the <0xXX> ids for a byte without a token (only with
	// byte_fallback), nil if absent.
	fallback [256][]int
	merges   map[uint64]merge

	unkToken     string // "" for none
	unkID        int    // -1 when unkToken is not in the vocab
	fuseUnk      bool
	ignoreMerges bool

	matcher   addedMatcher
	normalize func(string) string // nil for none
	steps     []preStep
}

var (
	_ Tokenizer = (*BPE)(nil)
	_ Decoder   = (*BPE)(nil)
)

// merge is what a pair of adjacent tokens becomes, and how early it merges.
type merge struct {
	rank int
	id   int
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Encode returns the token ids of text. Each byte of text that is not part
// of valid UTF-8 is encoded as U+FFFD, the way encoding/json sends such a
// string to a model server. (The Rust library behind the daulet variant
// replaces each maximal invalid sequence instead, which differs only for
// truncated multi-byte sequences.) Bytes without a token are encoded as the
// unknown token when the model has one, and are otherwise dropped, as the
// Hugging Face library does.
func (t *BPE) Encode(text string) ([]int, error) {
	if !utf8.ValidString(text) {
		text = validUTF8(text)
	}
	ids := make([]int, 0, len(text)/3+1)
	err := t.matcher.split(text, func(piece string, id int) error {
		if id >= 0 {
			ids = append(ids, id)
			return nil
		}
		if t.normalize != nil {
			piece = t.normalize(piece)
		}
		return preTokenize(t.steps, piece, func(word string) error {
			var err error
			ids, err = t.appendWord(ids, word)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return ids, nil
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD.
func validUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		b.WriteRune(r) // an invalid byte comes out of range as utf8.RuneError
	}
	return b.String()
}

// Count returns len(Encode(text)).
func (t *BPE) Count(text string) (int, error) {
	ids, err := t.Encode(text)
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return len(ids), nil
}

// Decode returns the text of ids: added tokens as written, vocabulary
// tokens mapped back from the byte-level alphabet to bytes. The result
// holds exactly those bytes, even when they are not valid UTF-8 (for
// example when ids end in the middle of a character; the Rust library
// writes U+FFFD there).
func (t *BPE) Decode(ids []int) (string, error) {
	out := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		if s, ok := t.added[id]; ok {
			out = append(out, s...)
			continue
		}
		tok, ok := t.tokens[id]
		if !ok {
			return "", fmt.Errorf("decode id %d: %w", id, ErrUnknownID)
		}
		out = appendByteLevelDecoded(out, tok)
	}
	return string(out), nil
}

// symbol is one token of a word being merged, in a doubly linked list over
// the word's symbol slice.
type symbol struct {
	id         int
	prev, next int // indexes, -1 at the ends
	gone       bool
}

// appendWord byte-level encodes one pre-tokenized word and appends its ids.
func (t *BPE) appendWord(ids []int, word string) ([]int, error) {
	if t.ignoreMerges {
		if id, ok := t.vocab[byteLevelString(word)]; ok {
			return append(ids, id), nil
		}
	}
	if len(word) == 1 && t.byteID[word[0]] >= 0 {
		return append(ids, t.byteID[word[0]]), nil
	}

	syms := make([]symbol, 0, len(word))
	add := func(id int) {
		n := len(syms)
		syms = append(syms, symbol{id: id, prev: n - 1, next: n + 1})
	}
	pendingUnk := false // an unknown token waiting to be added (fuse_unk)
	for i := 0; i < len(word); i++ {
		b := word[i]
		if id := t.byteID[b]; id >= 0 {
			if pendingUnk {
				add(t.unkID)
				pendingUnk = false
			}
			add(id)
			continue
		}
		if fb := t.fallback[b]; fb != nil {
			if pendingUnk {
				add(t.unkID)
				pendingUnk = false
			}
			for _, id := range fb {
				add(id)
			}
			continue
		}
		if t.unkToken == "" {
			continue // dropped, as in the Hugging Face library
		}
		if t.unkID < 0 {
			return nil, fmt.Errorf("byte %#02x has no token and unk_token %q is not in the vocab", b, t.unkToken)
		}
		if pendingUnk && !t.fuseUnk {
			add(t.unkID)
		}
		pendingUnk = true
	}
	if pendingUnk {
		add(t.unkID)
	}
	if len(syms) == 0 {
		return ids, nil
	}
	syms[len(syms)-1].next = -1

	t.mergeAll(syms)
	for i := 0; i >= 0; i = syms[i].next {
		ids = append(ids, syms[i].id)
	}
	return ids, nil
}

// mergeAll applies merges to the linked symbols, always the lowest-ranked
// pair first and the leftmost among equals, until none applies. Symbol 0
// stays the head of the list: a merge keeps the left symbol.
func (t *BPE) mergeAll(syms []symbol) {
	if len(syms) < 2 || len(t.merges) == 0 {
		return
	}
	var q mergeQueue
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := t.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q.push(candidate{rank: m.rank, pos: i, id: m.id})
		}
	}
	for len(q) > 0 {
		c := q.pop()
		left := &syms[c.pos]
		if left.gone || left.next < 0 {
			continue
		}
		right := &syms[left.next]
		// The candidate is stale when either side has changed since it was
		// queued.
		if m, ok := t.merges[pairKey(left.id, right.id)]; !ok || m.id != c.id {
			continue
		}
		left.id = c.id
		right.gone = true
		left.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = c.pos
		}
		if left.prev >= 0 {
			if m, ok := t.merges[pairKey(syms[left.prev].id, left.id)]; ok {
				q.push(candidate{rank: m.rank, pos: left.prev, id: m.id})
			}
		}
		if left.next >= 0 {
			if m, ok := t.merges[pairKey(left.id, syms[left.next].id)]; ok {
				q.push(candidate{rank: m.rank, pos: c.pos, id: m.id})
			}
		}
	}
}

// candidate is a possible merge of the symbol at pos with the next one.
type candidate struct {
	rank, pos, id int
}

func (a candidate) less(b candidate) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// mergeQueue is a binary min-heap of candidates (container/heap would box
// every element in an interface).
type mergeQueue []candidate

func (q *mergeQueue) push(c candidate) {
	h := append(*q, c)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].less(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	*q = h
}

func (q *mergeQueue) pop() candidate {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, smallest := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].less(h[smallest]) {
			smallest = l
		}
		if r < len(h) && h[r].less(h[smallest]) {
			smallest = r
		}
		if smallest == i {
			break
		}
		h[i], h[smallest] = h[smallest], h[i]
		i = smallest
	}
	*q = h
	return top
}
