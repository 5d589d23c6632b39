// Package budget caps cloud use per day and per month (calls, tokens, cost)
// and keeps the counts in an embedded database so that a restart does not
// reset them. Days and months are UTC. Guard wraps a cloud.Provider so that
// calls fail at once, with cloud.ErrBudget, once a cap is reached.
package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Limits are the caps; 0 means no cap.
type Limits struct {
	CallsPerDay, CallsPerMonth   int
	TokensPerDay, TokensPerMonth int
	CostPerDay, CostPerMonth     float64
}

// Any reports whether any cap is set.
func (l Limits) Any() bool { return l != Limits{} }

// Validate rejects negative caps.
func (l Limits) Validate() error {
	if l.CallsPerDay < 0 || l.CallsPerMonth < 0 || l.TokensPerDay < 0 || l.TokensPerMonth < 0 || l.CostPerDay < 0 || l.CostPerMonth < 0 {
		return errors.New("budget caps must be >= 0 (0 means no cap)")
	}
	return nil
}

// Counts is the use in one period.
type Counts struct {
	Calls  int     `json:"calls"`
	Tokens int     `json:"tokens"`
	Cost   float64 `json:"cost"`
}

// Usage is the use of the current day and month with their caps.
type Usage struct {
	Day       string `json:"day"`
	Month     string `json:"month"`
	Today     Counts `json:"today"`
	ThisMonth Counts `json:"this_month"`
	Limits    struct {
		Day   Counts `json:"day"`
		Month Counts `json:"month"`
	} `json:"limits"`
	// Exhausted says which cap is reached, if any.
	Exhausted string `json:"exhausted,omitempty"`
}

var bucket = []byte("budget")

// Budget counts cloud use. Safe for concurrent use.
type Budget struct {
	db     *bolt.DB
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	day     periodCounts
	month   periodCounts
	pending int // calls admitted and not yet recorded
}

type periodCounts struct {
	key string
	Counts
}

// Open opens (or creates) the budget database at path.
func Open(path string, limits Limits, now func() time.Time) (*Budget, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			err = errors.New("the file is locked by another edgecascade process")
		}
		return nil, fmt.Errorf("open budget database %s: %w", path, err)
	}
	b := &Budget{db: db, limits: limits, now: now}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open budget database %s: %w", path, err)
	}
	if err := b.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// Close closes the database.
func (b *Budget) Close() error { return b.db.Close() }

func dayKey(t time.Time) string   { return "day:" + t.UTC().Format("2006-01-02") }
func monthKey(t time.Time) string { return "month:" + t.UTC().Format("2006-01") }

// load reads the current periods' counts.
func (b *Budget) load() error {
	now := b.now()
	b.day, b.month = periodCounts{key: dayKey(now)}, periodCounts{key: monthKey(now)}
	return b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		for _, p := range []*periodCounts{&b.day, &b.month} {
			if v := bk.Get([]byte(p.key)); v != nil {
				if err := json.Unmarshal(v, &p.Counts); err != nil {
					return fmt.Errorf("read budget %s: %w", p.key, err)
				}
			}
		}
		return nil
	})
}

// rollLocked starts new periods when the day or month changed.
func (b *Budget) rollLocked() {
	now := b.now()
	if k := dayKey(now); k != b.day.key {
		b.day = periodCounts{key: k}
	}
	if k := monthKey(now); k != b.month.key {
		b.month = periodCounts{key: k}
	}
}

// exhaustedLocked names the cap that is reached, counting admitted calls.
func (b *Budget) exhaustedLocked() (string, time.Duration) {
	l := b.limits
	now := b.now().UTC()
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
	nextMonth := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC).Sub(now)
	calls := func(c Counts) int { return c.Calls + b.pending }
	switch {
	case l.CallsPerMonth > 0 && calls(b.month.Counts) >= l.CallsPerMonth:
		return fmt.Sprintf("monthly cloud call cap reached (%d of %d in %s UTC)", b.month.Calls, l.CallsPerMonth, b.month.key[6:]), nextMonth
	case l.TokensPerMonth > 0 && b.month.Tokens >= l.TokensPerMonth:
		return fmt.Sprintf("monthly cloud token cap reached (%d of %d in %s UTC)", b.month.Tokens, l.TokensPerMonth, b.month.key[6:]), nextMonth
	case l.CostPerMonth > 0 && b.month.Cost >= l.CostPerMonth:
		return fmt.Sprintf("monthly cloud cost cap reached (%.4f of %.4f in %s UTC)", b.month.Cost, l.CostPerMonth, b.month.key[6:]), nextMonth
	case l.CallsPerDay > 0 && calls(b.day.Counts) >= l.CallsPerDay:
		return fmt.Sprintf("daily cloud call cap reached (%d of %d on %s UTC)", b.day.Calls, l.CallsPerDay, b.day.key[4:]), tomorrow
	case l.TokensPerDay > 0 && b.day.Tokens >= l.TokensPerDay:
		return fmt.Sprintf("daily cloud token cap reached (%d of %d on %s UTC)", b.day.Tokens, l.TokensPerDay, b.day.key[4:]), tomorrow
	case l.CostPerDay > 0 && b.day.Cost >= l.CostPerDay:
		return fmt.Sprintf("daily cloud cost cap reached (%.4f of %.4f on %s UTC)", b.day.Cost, l.CostPerDay, b.day.key[4:]), tomorrow
	}
	return "", 0
}

// Allow reports whether a cloud call may be made now and, when not, why.
func (b *Budget) Allow() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	why, _ := b.exhaustedLocked()
	return why == "", why
}

// admit reserves a call when no cap is reached; release must follow, with
// the call's use (or nothing when it failed).
func (b *Budget) admit() (string, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	why, retry := b.exhaustedLocked()
	if why == "" {
		b.pending++
	}
	return why, retry
}

// release ends an admitted call and records its use when it made one.
func (b *Budget) release(ctx context.Context, used *Counts) error {
	b.mu.Lock()
	b.pending--
	b.mu.Unlock()
	if used == nil {
		return nil
	}
	return b.Record(ctx, *used)
}

// Record adds a call's use to today and this month, durably.
func (b *Budget) Record(_ context.Context, used Counts) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	day, month := b.day, b.month
	for _, p := range []*periodCounts{&day, &month} {
		p.Calls += used.Calls
		p.Tokens += used.Tokens
		p.Cost += used.Cost
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		for _, p := range []periodCounts{day, month} {
			v, err := json.Marshal(p.Counts)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(p.key), v); err != nil {
				return err
			}
		}
		return nil
	})
	// Count in memory even when the write failed: the cap must hold for
	// this process either way.
	b.day, b.month = day, month
	if err != nil {
		return fmt.Errorf("record cloud use in the budget database: %w", err)
	}
	return nil
}

// Usage returns the current periods' use and caps.
func (b *Budget) Usage() Usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	u := Usage{Day: b.day.key[4:], Month: b.month.key[6:], Today: b.day.Counts, ThisMonth: b.month.Counts}
	l := b.limits
	u.Limits.Day = Counts{Calls: l.CallsPerDay, Tokens: l.TokensPerDay, Cost: l.CostPerDay}
	u.Limits.Month = Counts{Calls: l.CallsPerMonth, Tokens: l.TokensPerMonth, Cost: l.CostPerMonth}
	u.Exhausted, _ = b.exhaustedLocked()
	return u
}
