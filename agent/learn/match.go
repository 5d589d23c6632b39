package learn

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Matcher returns how a local answer is compared with the cloud's:
//   - exact: equal after trimming white space
//   - normalized: equal after folding case, trimming surrounding
//     punctuation and collapsing white space
//   - numeric: both parse as equal numbers; when either is not a number,
//     normalized
//   - judge: normalized here; the Labeller asks the cloud instead
func Matcher(name string) (func(local, cloud string) bool, error) {
	switch name {
	case "exact":
		return func(a, b string) bool { return strings.TrimSpace(a) == strings.TrimSpace(b) }, nil
	case "normalized", "judge":
		return func(a, b string) bool { return normalize(a) == normalize(b) }, nil
	case "numeric":
		return func(a, b string) bool {
			x, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
			y, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
			if err1 != nil || err2 != nil {
				return normalize(a) == normalize(b)
			}
			return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
		}, nil
	}
	return nil, fmt.Errorf("adapt.agreement: unknown %q (want exact, normalized, numeric or judge)", name)
}

// normalize folds case, trims surrounding punctuation (a final period,
// quotes) and collapses white space; inner characters (a minus sign) stay.
func normalize(s string) string {
	s = strings.Trim(strings.ToLower(s), " \t\r\n.,;:!?\"'`()[]")
	return strings.Join(strings.Fields(s), " ")
}
