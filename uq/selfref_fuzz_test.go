package uq

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

// FuzzSelfRefScore feeds the Self-REF scorer model output it may see: any
// token texts (split on "|"), confidence tokens anywhere or nowhere, and
// any log probabilities, alternatives included (the bytes of lps, as
// -b/16; 255 stands for -Inf, and bad output: 254 for +0.5, 253 for NaN,
// 252 for +Inf). Property: ErrUnscorable exactly for bad output, else a
// score in [0, 1] or ErrNoTokens for an answer with nothing to score; the
// note is empty exactly when a confidence token was read. Seeds: testdata/fuzz and f.Add;
// `go test -fuzz=FuzzSelfRefScore -fuzztime=10m ./uq/`.
func FuzzSelfRefScore(f *testing.F) {
	f.Add("Paris|<CN>", []byte{1, 2, 0, 40})
	f.Add("Paris|<UN>", []byte{1, 2, 30, 3})
	f.Add("a|<CN>|b|<UN>", []byte{0, 0, 0, 0, 0, 0})
	f.Add("no token here", []byte{5})
	f.Add("<CN>", []byte{255, 255})
	f.Add("<CN>|<UN>", []byte(nil))
	f.Add("", []byte{})
	f.Add("x|<C|N>", []byte{9, 9, 9})
	f.Add("Paris|<CN>", []byte{1, 252, 0, 40})
	f.Add("Paris|<CN>", []byte{254})
	f.Add("Paris|<UN>", []byte{2, 253})
	mean, err := New(MeanLogprob)
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewSelfRef("<CN>", "<UN>", mean)
	if err != nil {
		f.Fatal(err)
	}
	lp := func(lps []byte, i int) float64 {
		if len(lps) == 0 {
			return 0
		}
		b := lps[i%len(lps)]
		switch b {
		case 255:
			return math.Inf(-1)
		case 254: // bad model output: a probability above 1
			return 0.5
		case 253:
			return math.NaN()
		case 252:
			return math.Inf(1)
		}
		return -float64(b) / 16
	}
	f.Fuzz(func(t *testing.T, text string, lps []byte) {
		var toks []models.TokenLogprob
		if text != "" {
			for i, tok := range strings.Split(text, "|") {
				tl := models.TokenLogprob{Token: tok, Logprob: lp(lps, 2*i)}
				// Alternatives: the other confidence token, sometimes.
				if len(lps) > 0 && lps[i%len(lps)]%2 == 0 {
					tl.Top = []models.TopLogprob{{Token: "<UN>", Logprob: lp(lps, 2*i+1)}, {Token: "<CN>", Logprob: lp(lps, 2*i+2)}}
				}
				toks = append(toks, tl)
			}
		}
		r, err := s.Score(context.Background(), Input{Answer: strings.ReplaceAll(text, "|", ""), Tokens: toks})
		bad := false
		for _, tk := range toks {
			bad = bad || math.IsNaN(tk.Logprob) || tk.Logprob > 0
			for _, a := range tk.Top {
				bad = bad || math.IsNaN(a.Logprob) || a.Logprob > 0
			}
		}
		if got := errors.Is(err, ErrUnscorable); got != bad {
			t.Fatalf("bad output %v, unscorable %v: %v (score %v, err %v)", bad, got, toks, r.Score, err)
		}
		if bad {
			return
		}
		if err != nil {
			if !errors.Is(err, ErrNoTokens) {
				t.Fatalf("error %v", err)
			}
			if len(StripTokenList(toks, "<CN>", "<UN>")) > 0 {
				t.Fatalf("ErrNoTokens with answer tokens left: %v", toks)
			}
			return
		}
		if math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1 {
			t.Fatalf("score %v for %v", r.Score, toks)
		}
		hasConf := false
		for _, tk := range toks {
			hasConf = hasConf || tk.Token == "<CN>" || tk.Token == "<UN>"
		}
		if !hasConf && r.Note == "" {
			t.Fatalf("no confidence token but no fallback note: %+v", r)
		}
	})
}
