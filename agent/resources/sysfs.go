package resources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
)

// sysfs reads small attribute files under a root. An absent file is "unknown"
// and is not logged; an unreadable or malformed one is logged once per path
// (again only when the problem changes), so a daemon that polls every few
// seconds does not flood its log with the same complaint.
type sysfs struct {
	log *slog.Logger

	mu     sync.Mutex
	logged map[string]string // path -> last problem logged for it
}

func newSysfs(log *slog.Logger) *sysfs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sysfs{log: log, logged: make(map[string]string)}
}

// once logs msg for path at level unless the same message with the same
// attributes was the last one logged for that path.
func (f *sysfs) once(level slog.Level, path, msg string, attrs ...any) {
	key := fmt.Sprint(append([]any{msg}, attrs...)...)
	f.mu.Lock()
	if f.logged[path] == key {
		f.mu.Unlock()
		return
	}
	f.logged[path] = key
	f.mu.Unlock()
	f.log.Log(context.Background(), level, msg, append([]any{"path", path}, attrs...)...)
}

// clear forgets a path's last problem, so it is logged again if it comes back.
func (f *sysfs) clear(path string) {
	f.mu.Lock()
	delete(f.logged, path)
	f.mu.Unlock()
}

// str returns the trimmed content of path; ok is false when it is absent or
// cannot be read (a sensor that is switched off answers reads with an error).
func (f *sysfs) str(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.once(slog.LevelDebug, path, "resources: cannot read sysfs attribute", "err", err)
		}
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// exists reports whether path can be read.
func (f *sysfs) exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// int reads a decimal integer; a malformed value is logged and unknown.
func (f *sysfs) int(path string) (int64, bool) {
	s, ok := f.str(path)
	if !ok {
		return 0, false
	}
	v, err := parseInt(s)
	if err != nil {
		f.malformed(path, s, err.Error())
		return 0, false
	}
	f.clear(path)
	return v, true
}

// uint reads a decimal unsigned integer (energy counters use the whole
// 64-bit range); a malformed value is logged and unknown.
func (f *sysfs) uint(path string) (uint64, bool) {
	s, ok := f.str(path)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		f.malformed(path, s, "not an unsigned integer")
		return 0, false
	}
	f.clear(path)
	return v, true
}

// malformed logs a value that does not parse or is out of range.
func (f *sysfs) malformed(path, value, why string) {
	if len(value) > 64 {
		value = value[:64] + "…"
	}
	f.once(slog.LevelWarn, path, "resources: malformed sysfs value treated as unknown", "value", value, "why", why)
}

// parseInt parses a sysfs integer attribute: decimal, optional sign, nothing
// else (sysfs prints no units, no thousands separators, no fractions).
func parseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("not an integer")
	}
	return v, nil
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }
