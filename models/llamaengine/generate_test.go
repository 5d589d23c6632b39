//go:build llamacpp

package llamaengine

import (
	"math"
	"slices"
	"testing"
)

func TestCompletePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 2},
		{"a\xc3", 1},            // first byte of é
		{"a\xe2\x82", 1},        // two bytes of €
		{"a\xe2\x82\xac", 4},    // €
		{"\xf0\x9f\x98", 0},     // three bytes of 😀
		{"a\xff", 2},            // invalid: passed on
		{"\x82\x82\x82\x82", 4}, // continuation bytes only: passed on
	}
	for _, tt := range tests {
		if got := completePrefix([]byte(tt.in)); got != tt.want {
			t.Errorf("completePrefix(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestLogSoftmaxAndTopK(t *testing.T) {
	logits := []float32{1, 3, 2, 3, -1}
	lp := logSoftmax(logits)
	var sum float64
	for _, x := range lp {
		if x > 0 {
			t.Errorf("log probability %v > 0", x)
		}
		sum += math.Exp(x)
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("probabilities sum to %v", sum)
	}
	// Differences of log probabilities are differences of logits.
	if d := lp[1] - lp[0]; math.Abs(d-2) > 1e-12 {
		t.Errorf("lp[1]-lp[0] = %v, want 2", d)
	}
	tests := []struct {
		k    int
		want []int
	}{
		{0, nil}, {1, []int{1}}, {3, []int{1, 3, 2}}, {5, []int{1, 3, 2, 0, 4}}, {9, []int{1, 3, 2, 0, 4}},
	}
	for _, tt := range tests {
		if got := topK(lp, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("topK(%d) = %v, want %v", tt.k, got, tt.want)
		}
	}
}
