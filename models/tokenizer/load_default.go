//go:build !daulet

package tokenizer

// Load reads a Hugging Face tokenizer.json. In the default build it returns
// the pure-Go [*BPE] (see [ParseBPE] for what it supports); built with the
// "daulet" tag it returns the Rust-backed tokenizer instead. Callers without
// a tokenizer.json use [Approx].
func Load(path string) (Tokenizer, error) {
	return LoadBPE(path)
}
