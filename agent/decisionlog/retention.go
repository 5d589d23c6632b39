package decisionlog

import (
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// trimEvery is how often the writer trims the log at most.
const trimEvery = time.Minute

// maybeTrim trims the log when a bound is set and the last trim is older
// than trimEvery (the writer's own goroutine: writes and trims never race).
func (l *Log) maybeTrim() {
	if l.opts.MaxAge <= 0 && l.opts.MaxEntries <= 0 {
		return
	}
	now := l.opts.Now()
	if now.Sub(l.lastTrim) < trimEvery {
		return
	}
	l.lastTrim = now
	n, err := l.Trim(now)
	if err != nil {
		l.log.Error("trim the decision log", "err", err)
	} else if n > 0 {
		l.log.Debug("trimmed the decision log", "deleted", n)
	}
}

// Trim deletes the entries older than MaxAge before now and the oldest
// beyond MaxEntries, and reports how many. Keys are a sequence: the oldest
// entries come first, and the count is the span of the keys.
func (l *Log) Trim(now time.Time) (int, error) {
	n := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		c, idx := tx.Bucket(bucket).Cursor(), tx.Bucket(idBucket)
		last, _ := c.Last()
		if last == nil {
			return nil
		}
		lastSeq := binary.BigEndian.Uint64(last)
		for k, v := c.First(); k != nil; k, v = c.Next() {
			count := lastSeq - binary.BigEndian.Uint64(k) + 1
			if !l.expired(now, v) && (l.opts.MaxEntries <= 0 || count <= uint64(l.opts.MaxEntries)) {
				break
			}
			if id := idOf(v); id != "" && idx != nil {
				if err := idx.Delete([]byte(id)); err != nil {
					return err
				}
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// expired reports whether the entry v is older than MaxAge.
func (l *Log) expired(now time.Time, v []byte) bool {
	if l.opts.MaxAge <= 0 {
		return false
	}
	var e struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(v, &e) != nil {
		return true // unreadable: not worth keeping
	}
	return e.Time.Before(now.Add(-l.opts.MaxAge))
}

// idOf is the response id of the encoded entry v ("" when none or unreadable).
func idOf(v []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(v, &e) != nil {
		return ""
	}
	return e.ID
}
