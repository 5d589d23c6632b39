package uq

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

func TestSelfRefScore(t *testing.T) {
	ln := math.Log
	mean, _ := New(MeanLogprob)
	s, err := NewSelfRef("<CN>", "<UN>", mean)
	if err != nil {
		t.Fatal(err)
	}
	answer := []models.TokenLogprob{{Token: "a", Logprob: ln(0.5)}, {Token: "b", Logprob: ln(0.5)}}
	conf := func(tok string, top ...models.TopLogprob) []models.TokenLogprob {
		lp := 0.0
		for _, a := range top {
			if a.Token == tok {
				lp = a.Logprob
			}
		}
		return append(append([]models.TokenLogprob{}, answer...), models.TokenLogprob{Token: tok, Logprob: lp, Top: top})
	}
	tests := []struct {
		name     string
		tokens   []models.TokenLogprob
		want     float64
		fallback bool
	}{
		{"confident", conf("<CN>", models.TopLogprob{Token: "<CN>", Logprob: ln(0.6)}, models.TopLogprob{Token: "<UN>", Logprob: ln(0.2)}), 0.75, false},
		{"unsure", conf("<UN>", models.TopLogprob{Token: "<UN>", Logprob: ln(0.9)}, models.TopLogprob{Token: "<CN>", Logprob: ln(0.1)}), 0.1, false},
		{"only the chosen token known", conf("<CN>", models.TopLogprob{Token: "<CN>", Logprob: ln(0.7)}, models.TopLogprob{Token: "x", Logprob: ln(0.3)}), 1, false},
		// No confidence token: the mean logprob of the answer, 0.5.
		{"no token", answer, 0.5, true},
	}
	for _, tc := range tests {
		r, err := s.Score(context.Background(), Input{Tokens: tc.tokens})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if math.Abs(r.Score-tc.want) > 1e-12 {
			t.Errorf("%s: score %v, want %v", tc.name, r.Score, tc.want)
		}
		if got := r.Note != ""; got != tc.fallback {
			t.Errorf("%s: note %q, fallback %v", tc.name, r.Note, tc.fallback)
		}
		if tc.fallback && !strings.Contains(r.Note, "fell back to mean_logprob") {
			t.Errorf("%s: note %q does not name the fallback", tc.name, r.Note)
		}
	}
	if _, err := NewSelfRef("<CN>", "<CN>", mean); err == nil {
		t.Error("identical tokens accepted")
	}
	if _, err := NewSelfRef("<CN>", "<UN>", nil); err == nil {
		t.Error("nil fallback accepted")
	}
}

func TestStripper(t *testing.T) {
	st := NewStripper("<CN>", "<UN>")
	if got := st.Strip("Tupel<CN>"); got != "Tupel" {
		t.Fatalf("Strip = %q", got)
	}
	msgs := st.StripMessages([]models.Message{{Role: "assistant", Content: "x<UN>"}, {Role: "user", Content: "y"}})
	if msgs[0].Content != "x" || msgs[1].Content != "y" {
		t.Fatalf("StripMessages = %+v", msgs)
	}
	// Streams: tokens split across pieces are removed too, nothing else is lost.
	for _, pieces := range [][]string{
		{"Tu", "pel", "<CN>"},
		{"Tupel<", "CN>"},
		{"Tupel", "<", "C", "N", ">"},
		{"Tu<pel", "<UN>"},
		{"a<C", "Nb"}, // a prefix that turns out not to be a token is kept
	} {
		ss := st.Stream()
		var out strings.Builder
		for _, p := range pieces {
			out.WriteString(ss.Write(p))
		}
		out.WriteString(ss.Flush())
		if want := st.Strip(strings.Join(pieces, "")); out.String() != want {
			t.Errorf("%q: streamed %q, want %q", pieces, out.String(), want)
		}
	}
}

func FuzzStripStream(f *testing.F) {
	for _, s := range []string{"Tupel<CN>", "a<C", "<UN><CN>x", "<<CN>>", "<C<CN>N>", ""} {
		f.Add(s, 3)
	}
	st := NewStripper("<CN>", "<UN>")
	f.Fuzz(func(t *testing.T, text string, cut int) {
		ss := st.Stream()
		var out strings.Builder
		step := cut%7 + 1
		if step < 1 {
			step = 1
		}
		for i := 0; i < len(text); i += step {
			out.WriteString(ss.Write(text[i:min(i+step, len(text))]))
		}
		out.WriteString(ss.Flush())
		got := out.String()
		if want := st.Strip(text); got != want {
			t.Fatalf("stream %q != strip %q for %q", got, want, text)
		}
	})
}

// streamStrip runs text through a stream stripper in pieces whose sizes
// come from cuts (cycled; each 1..8 bytes), then flushes.
func streamStrip(st Stripper, text string, cuts []byte) string {
	ss := st.Stream()
	var out strings.Builder
	for i, k := 0, 0; i < len(text); k++ {
		step := 1
		if len(cuts) > 0 {
			step = int(cuts[k%len(cuts)])%8 + 1
		}
		out.WriteString(ss.Write(text[i:min(i+step, len(text))]))
		i += step
	}
	out.WriteString(ss.Flush())
	return out.String()
}

// Issue 14 item 5: a complete token that ends inside the held-back tail
// leaked, and overlapping token pairs streamed differently from Strip.
func TestStripperStreamOtherTokens(t *testing.T) {
	tests := []struct {
		cn, un string
		pieces []string
	}{
		{"|CN|", "|UN|", []string{"Paris|CN|"}},
		{"|CN|", "|UN|", []string{"Paris", "|CN|"}},
		{"|CN|", "|UN|", []string{"a|UN||CN|b"}},
		{"ab", "bc", []string{"abc"}},
		{"ab", "bc", []string{"a", "bc"}},
		{"ab", "bc", []string{"xab", "c"}},
		{"bc", "ab", []string{"abc"}},
		{"aa", "aab", []string{"aaab"}},
	}
	for _, tc := range tests {
		st := NewStripper(tc.cn, tc.un)
		ss := st.Stream()
		var out strings.Builder
		for _, p := range tc.pieces {
			out.WriteString(ss.Write(p))
		}
		out.WriteString(ss.Flush())
		if want := st.Strip(strings.Join(tc.pieces, "")); out.String() != want {
			t.Errorf("tokens %q %q, pieces %q: streamed %q, want %q", tc.cn, tc.un, tc.pieces, out.String(), want)
		}
	}
}

// FuzzStripStreamTokens: for any two different non-empty tokens and any
// chunking, the streamed text equals Strip over the whole text.
func FuzzStripStreamTokens(f *testing.F) {
	f.Add("Paris|CN|", "|CN|", "|UN|", []byte{8})
	f.Add("abcabc", "ab", "bc", []byte{0, 1})
	f.Add("aaab", "aa", "aab", []byte{2})
	f.Add("Tupel<C<CN>N>", "<CN>", "<UN>", []byte{3, 0})
	f.Fuzz(func(t *testing.T, text, cn, un string, cuts []byte) {
		if cn == "" || un == "" || cn == un || len(cn) > 16 || len(un) > 16 {
			return
		}
		st := NewStripper(cn, un)
		if got, want := streamStrip(st, text, cuts), st.Strip(text); got != want {
			t.Fatalf("tokens %q %q, cuts %v: stream %q != strip %q for %q", cn, un, cuts, got, want, text)
		}
	})
}
