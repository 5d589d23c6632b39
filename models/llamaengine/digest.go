//go:build llamacpp

package llamaengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Digest names the exact model build: "sha256:" and the SHA-256 of the
// GGUF file (computed once; calibration files record it).
func (e *Engine) Digest(ctx context.Context) (string, error) {
	e.digestMu.Lock()
	defer e.digestMu.Unlock()
	if e.digest != "" {
		return e.digest, nil
	}
	f, err := os.Open(e.path)
	if err != nil {
		return "", e.wrap(ctx, fmt.Errorf("digest: %w", err))
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", e.wrap(ctx, err)
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", e.wrap(ctx, fmt.Errorf("digest: %w", err))
		}
	}
	e.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return e.digest, nil
}
