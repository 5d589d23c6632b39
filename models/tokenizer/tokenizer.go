// Package tokenizer counts the tokens of a prompt, so that the cascade can
// check a prompt against the local model's context length and estimate how
// many tokens a cloud call will bill.
//
// Two implementations read a Hugging Face tokenizer.json:
//   - [BPE], pure Go, the default: byte-level BPE models (GPT-2, Qwen2,
//     Llama 3 and the test bed's models).
//   - Daulet, built only with the "daulet" build tag: a wrapper around
//     github.com/daulet/tokenizers, the Rust tokenizers library through cgo,
//     which handles every model type but needs libtokenizers.a to link.
//
// [Load] picks the one that the build selects. [Approx] estimates counts
// when no tokenizer.json is configured.
//
// No implementation applies the tokenizer's post-processor: Encode never adds
// BOS/EOS or other template tokens. Count the text that the chat template
// produces; it carries them.
package tokenizer

import (
	"errors"
	"fmt"
)

// Tokenizer turns text into token ids. Implementations are safe for
// concurrent use.
type Tokenizer interface {
	// Encode returns the token ids of text. Added and special tokens that
	// appear literally in text (such as <|im_start|>) encode to their ids.
	Encode(text string) ([]int, error)
	// Count returns the number of tokens of text: len(Encode(text)), or an
	// estimate for tokenizers without ids (see [Approx]).
	Count(text string) (int, error)
}

// Decoder turns token ids back into text. [BPE] implements it, and so does
// the daulet variant.
type Decoder interface {
	// Decode returns the text of ids, special tokens included.
	Decode(ids []int) (string, error)
}

var (
	// ErrUnsupported is returned when a tokenizer.json uses a feature (model
	// type, normalizer, pre-tokenizer) that this implementation lacks. The
	// returned error is an [*UnsupportedError] that names it.
	ErrUnsupported = errors.New("unsupported tokenizer feature")
	// ErrNoIDs is returned by Encode of a tokenizer that only estimates
	// counts, such as [Approx].
	ErrNoIDs = errors.New("tokenizer has no token ids")
	// ErrUnknownID is returned by Decode for an id outside the vocabulary.
	ErrUnknownID = errors.New("unknown token id")
	// ErrClosed is returned by the daulet variant after Close.
	ErrClosed = errors.New("tokenizer closed")
)

// UnsupportedError names the setting of a tokenizer.json (Field, such as
// "model type" or "pre_tokenizer type") and its value that is not supported.
type UnsupportedError struct {
	Field string
	Value string
	// Detail optionally says what is supported instead.
	Detail string
}

// Error implements error.
func (e *UnsupportedError) Error() string {
	msg := fmt.Sprintf("unsupported %s %q", e.Field, e.Value)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns [ErrUnsupported].
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// Approx estimates token counts as one token per 4 bytes, rounded up. It is
// the fallback when no tokenizer.json is configured: an estimate only, close
// for English prose under GPT-style tokenizers and off by a factor of two or
// more for code, numbers and non-Latin scripts. The zero value is ready to
// use.
type Approx struct{}

var _ Tokenizer = Approx{}

// Encode returns [ErrNoIDs]: an estimate has no token ids.
func (Approx) Encode(string) ([]int, error) {
	return nil, fmt.Errorf("approx encode: %w", ErrNoIDs)
}

// Count returns ceil(len(text)/4), len counting bytes.
func (Approx) Count(text string) (int, error) {
	return (len(text) + 3) / 4, nil
}
