package labelled

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Load reads a JSONL file of items and returns them with the SHA-256 of the
// file's bytes. Blank lines are skipped; a bad line is an error naming it.
func Load(path string) ([]Item, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read data: %w", err)
	}
	sum := sha256.Sum256(b)
	var items []Item
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var it Item
		if err := json.Unmarshal([]byte(text), &it); err != nil {
			return nil, "", fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if strings.TrimSpace(it.Prompt) == "" {
			return nil, "", fmt.Errorf("%s:%d: missing prompt", path, line)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(items) == 0 {
		return nil, "", fmt.Errorf("%s: no items", path)
	}
	return items, hex.EncodeToString(sum[:]), nil
}

// Matcher judges whether an answer matches the expected one.
type Matcher func(answer, expected string) bool

// Matcher names.
const (
	MatchExact           = "exact"
	MatchCaseInsensitive = "case-insensitive"
	MatchNumeric         = "numeric"
	MatchContains        = "contains"
)

// NewMatcher returns the named matcher. All of them trim white space first.
//   - exact: equal strings
//   - case-insensitive: equal under Unicode case folding
//   - numeric: both parse as numbers that are equal (to 1e-9 relative)
//   - contains: the answer contains the expected text, ignoring case
func NewMatcher(name string) (Matcher, error) {
	switch name {
	case MatchExact, "":
		return func(a, e string) bool { return strings.TrimSpace(a) == strings.TrimSpace(e) }, nil
	case MatchCaseInsensitive:
		return func(a, e string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(e)) }, nil
	case MatchNumeric:
		return func(a, e string) bool {
			x, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
			y, err2 := strconv.ParseFloat(strings.TrimSpace(e), 64)
			if err1 != nil || err2 != nil {
				return false
			}
			return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
		}, nil
	case MatchContains:
		return func(a, e string) bool {
			return strings.Contains(strings.ToLower(strings.TrimSpace(a)), strings.ToLower(strings.TrimSpace(e)))
		}, nil
	default:
		return nil, fmt.Errorf("unknown matcher %q (want exact, case-insensitive, numeric or contains)", name)
	}
}
