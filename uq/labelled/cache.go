package labelled

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Cache is an append-only JSONL file of answers keyed by prompt. Each answer
// is written (and flushed to the OS) as soon as it exists, so an interrupted
// run leaves every finished answer behind; a torn last line is ignored.
type Cache struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	entries map[string]json.RawMessage
}

type cacheLine struct {
	Key    string          `json:"key"`
	Answer json.RawMessage `json:"answer"`
}

// CacheKey hashes the parts that make an answer reusable (model, digest,
// settings) into a file-name-safe key.
func CacheKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// OpenCache opens (creating when needed) the cache file dir/name.jsonl.
func OpenCache(dir, name string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	path := filepath.Join(dir, name+".jsonl")
	c := &Cache{path: path, entries: map[string]json.RawMessage{}}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read cache: %w", err)
	}
	valid := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var l cacheLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Key == "" {
			break // a torn line from an interrupted run: keep what came before
		}
		c.entries[l.Key] = l.Answer
		valid += len(sc.Bytes()) + 1
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cache: %w", err)
	}
	// Drop a torn tail so that new lines start clean.
	if valid < len(b) {
		if err := f.Truncate(int64(valid)); err != nil {
			f.Close()
			return nil, fmt.Errorf("repair cache: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("open cache: %w", err)
	}
	c.f = f
	return c, nil
}

// Path is the cache file's path.
func (c *Cache) Path() string { return c.path }

// Len is the number of cached answers.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func promptKey(prompt string) string {
	sum := sha256.Sum256([]byte(prompt))
	return hex.EncodeToString(sum[:])
}

// Get decodes the cached answer for prompt into v and reports whether there
// was one.
func (c *Cache) Get(prompt string, v any) bool {
	c.mu.Lock()
	raw, ok := c.entries[promptKey(prompt)]
	c.mu.Unlock()
	return ok && json.Unmarshal(raw, v) == nil
}

// Has reports whether an answer for prompt is cached.
func (c *Cache) Has(prompt string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[promptKey(prompt)]
	return ok
}

// Put appends the answer for prompt.
func (c *Cache) Put(prompt string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	key := promptKey(prompt)
	line, err := json.Marshal(cacheLine{Key: key, Answer: raw})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write cache %s: %w", c.path, err)
	}
	c.entries[key] = raw
	return nil
}

// Close syncs and closes the file.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Sync()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	return err
}

// sanitize makes a model name usable in a file name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}
