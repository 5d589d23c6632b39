//go:build daulet

package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/daulet/tokenizers"
)

// Daulet is a [Tokenizer] backed by the Hugging Face tokenizers Rust library
// through github.com/daulet/tokenizers. It handles every model type that
// library does (WordPiece and Unigram too). It holds native memory: Close
// frees it, and a cleanup frees it if a Daulet is dropped unclosed. It is
// safe for concurrent use.
type Daulet struct {
	mu      sync.RWMutex // Close takes it for writing, the rest for reading
	tk      *tokenizers.Tokenizer
	cleanup runtime.Cleanup
}

var (
	_ Tokenizer = (*Daulet)(nil)
	_ Decoder   = (*Daulet)(nil)
)

// Load reads a Hugging Face tokenizer.json. Built with the "daulet" tag it
// returns a [*Daulet]; the default build returns the pure-Go [*BPE]. The
// returned tokenizer implements io.Closer under this tag.
func Load(path string) (Tokenizer, error) {
	return LoadDaulet(path)
}

// LoadDaulet reads a tokenizer.json into the Rust tokenizers library. The
// file's truncation and padding settings are dropped first, so that counts
// are never capped.
func LoadDaulet(path string) (*Daulet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	data, err = withoutTruncation(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	tk, err := tokenizers.FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	d := &Daulet{tk: tk}
	d.cleanup = runtime.AddCleanup(d, func(tk *tokenizers.Tokenizer) { _ = tk.Close() }, tk)
	return d, nil
}

// withoutTruncation sets "truncation" and "padding" to null.
func withoutTruncation(data []byte) ([]byte, error) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	f["truncation"] = json.RawMessage("null")
	f["padding"] = json.RawMessage("null")
	out, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("rewrite tokenizer.json: %w", err)
	}
	return out, nil
}

// Encode returns the token ids of text, without the post-processor's
// special tokens. Text containing a NUL byte is refused: the library takes
// C strings, which would end there.
func (d *Daulet) Encode(text string) ([]int, error) {
	if strings.IndexByte(text, 0) >= 0 {
		return nil, errors.New("encode: text contains a NUL byte")
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.tk == nil {
		return nil, fmt.Errorf("encode: %w", ErrClosed)
	}
	raw, _ := d.tk.Encode(text, false)
	ids := make([]int, len(raw))
	for i, id := range raw {
		ids[i] = int(id)
	}
	return ids, nil
}

// Count returns len(Encode(text)).
func (d *Daulet) Count(text string) (int, error) {
	ids, err := d.Encode(text)
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return len(ids), nil
}

// Decode returns the text of ids, special tokens included.
func (d *Daulet) Decode(ids []int) (string, error) {
	raw := make([]uint32, len(ids))
	for i, id := range ids {
		if id < 0 || int64(id) > math.MaxUint32 {
			return "", fmt.Errorf("decode id %d: %w", id, ErrUnknownID)
		}
		raw[i] = uint32(id)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.tk == nil {
		return "", fmt.Errorf("decode: %w", ErrClosed)
	}
	return d.tk.Decode(raw, false), nil
}

// Close frees the native tokenizer. Later calls return [ErrClosed]; closing
// twice is harmless.
func (d *Daulet) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tk == nil {
		return nil
	}
	d.cleanup.Stop()
	err := d.tk.Close()
	d.tk = nil
	if err != nil {
		return fmt.Errorf("close tokenizer: %w", err)
	}
	return nil
}
