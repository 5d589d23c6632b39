package llamacpp

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

func FuzzParseEmbedding(f *testing.F) {
	for _, s := range []string{embPerToken, embPooledRow, embPooledFlat, embObjectIndex, embObjectOld, `[]`, `{}`, `[[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := parseEmbedding(b)
		if err != nil {
			if rows != nil {
				t.Fatalf("rows and an error: %v", err)
			}
			return
		}
		if len(rows) == 0 {
			t.Fatal("no rows and no error")
		}
		vec, err := meanPool(rows)
		if err != nil {
			return
		}
		if len(vec) != len(rows[0]) {
			t.Fatalf("pooled %d values from rows of %d", len(vec), len(rows[0]))
		}
		l2Normalize(vec)
		var ss float64
		for _, x := range vec {
			if math.IsNaN(float64(x)) {
				t.Fatalf("NaN after normalizing %v", rows)
			}
			ss += float64(x) * float64(x)
		}
		if !math.IsInf(ss, 0) && ss != 0 && math.Abs(ss-1) > 1e-3 {
			t.Fatalf("normalized vector has squared norm %v", ss)
		}
	})
}

func FuzzStream(f *testing.F) {
	f.Add(sse(streamRole, streamTok1, streamTok2, streamStop, streamUsg, streamDone))
	f.Add(sse(streamRole, streamErr))
	f.Add(sse(streamErrOld))
	f.Add("data: {\"choices\":[{}]}\n\ndata: [DONE]")
	f.Fuzz(func(t *testing.T, s string) {
		acc := newAccumulator("m", 3, true)
		var emitted strings.Builder
		ntok := 0
		err := readSSE(strings.NewReader(s), func(data []byte) error {
			if strings.TrimSpace(string(data)) == "[DONE]" {
				acc.done = true
				return errStopStream
			}
			var cr chatResponse
			if err := json.Unmarshal(data, &cr); err != nil {
				return err
			}
			return acc.add(cr, func(c models.Chunk) error {
				emitted.WriteString(c.Content)
				ntok += len(c.Tokens)
				return nil
			})
		})
		if err != nil && !errors.Is(err, errStopStream) {
			return
		}
		res, err := acc.result()
		if err != nil {
			return
		}
		// The answer is exactly what was streamed, with logprobs for it.
		if res.Content != emitted.String() || len(res.Tokens) != ntok {
			t.Fatalf("answer %q with %d tokens, streamed %q with %d", res.Content, len(res.Tokens), emitted.String(), ntok)
		}
		if res.Content != "" && len(res.Tokens) == 0 {
			t.Fatal("an answer without logprobs")
		}
		for _, tk := range res.Tokens {
			if len(tk.Top) > 3 {
				t.Fatalf("%d alternatives, asked for 3", len(tk.Top))
			}
		}
	})
}
