package tokenizer

import (
	"strings"
	"testing"
)

// BenchmarkEncode runs on the Qwen2-style fixture; inputs include long runs
// of one character class, the worst case for the backtracking Split regexp.
func BenchmarkEncode(b *testing.B) {
	tk := parse(b, miniDoc())
	inputs := map[string]string{
		"prose":   strings.Repeat("Hello there, the shell said: I'm 42 years old.\n", 200),
		"prose10": strings.Repeat("Hello there, the shell said: I'm 42 years old.\n", 2000),
		"spaces":  strings.Repeat(" ", 10000) + "x",
		"lines":   strings.Repeat(" \n", 5000) + "x",
		"symbols": strings.Repeat("!", 10000),
		"letters": strings.Repeat("hel", 3000),
		"chatml":  chatML(strings.Repeat("What is the capital of Osninax? ", 100)),
	}
	for name, text := range inputs {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tk.Encode(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
