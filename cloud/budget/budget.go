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
//
// Calls in flight hold a reservation of their worst case (one call, their
// prompt plus their max tokens, and that at the highest configured price)
// from admission until they are settled on what they really used, in one
// critical section: a cap counts what is used plus what is reserved, so
// concurrent calls cannot pass it together.
type Budget struct {
	db     *bolt.DB
	limits Limits
	now    func() time.Time

	mu       sync.Mutex
	day      periodCounts
	month    periodCounts
	reserved Counts // worst cases of the calls admitted and not yet settled
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

// exhaustedLocked names the cap that is reached, counting the reservations
// of the calls in flight, or (need non-zero) the cap that a call needing
// need would pass. overCap reports a call that would pass a cap by itself,
// whatever the use: it can never be admitted.
func (b *Budget) exhaustedLocked(need Counts) (why string, retry time.Duration, overCap bool) {
	l := b.limits
	now := b.now().UTC()
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
	nextMonth := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC).Sub(now)
	day, month := "on "+b.day.key[4:], "in "+b.month.key[6:]
	type capCheck struct {
		period, what, key string
		used, res, need   float64
		limit             float64
		when              string
		retry             time.Duration
	}
	r := b.reserved
	checks := []capCheck{
		{"monthly", "call", "budget.calls_per_month", float64(b.month.Calls), float64(r.Calls), float64(need.Calls), float64(l.CallsPerMonth), month, nextMonth},
		{"monthly", "token", "budget.tokens_per_month", float64(b.month.Tokens), float64(r.Tokens), float64(need.Tokens), float64(l.TokensPerMonth), month, nextMonth},
		{"monthly", "cost", "budget.cost_per_month", b.month.Cost, r.Cost, need.Cost, l.CostPerMonth, month, nextMonth},
		{"daily", "call", "budget.calls_per_day", float64(b.day.Calls), float64(r.Calls), float64(need.Calls), float64(l.CallsPerDay), day, tomorrow},
		{"daily", "token", "budget.tokens_per_day", float64(b.day.Tokens), float64(r.Tokens), float64(need.Tokens), float64(l.TokensPerDay), day, tomorrow},
		{"daily", "cost", "budget.cost_per_day", b.day.Cost, r.Cost, need.Cost, l.CostPerDay, day, tomorrow},
	}
	num := func(what string, v float64) string {
		if what == "cost" {
			return fmt.Sprintf("%.4f", v)
		}
		return fmt.Sprintf("%d", int64(v))
	}
	// A call that passes a cap by itself first: no wait helps it.
	for _, c := range checks {
		if c.limit > 0 && c.need > c.limit {
			return fmt.Sprintf("the %s cloud %s cap is %s (%s), and this call may use up to %s", c.period, c.what, num(c.what, c.limit), c.key, num(c.what, c.need)), 0, true
		}
	}
	for _, c := range checks {
		if c.limit <= 0 {
			continue
		}
		if c.used+c.res >= c.limit {
			inFlight := ""
			if c.res > 0 {
				inFlight = fmt.Sprintf("; %s more reserved by calls in flight", num(c.what, c.res))
			}
			return fmt.Sprintf("%s cloud %s cap reached (%s of %s %s UTC%s)", c.period, c.what, num(c.what, c.used), num(c.what, c.limit), c.when, inFlight), c.retry, false
		}
		if c.used+c.res+c.need > c.limit {
			return fmt.Sprintf("%s cloud %s cap would be passed: this call may use up to %s, and %s of %s are used and %s reserved by calls in flight %s UTC",
				c.period, c.what, num(c.what, c.need), num(c.what, c.used), num(c.what, c.limit), num(c.what, c.res), c.when), c.retry, false
		}
	}
	return "", 0, false
}

// Allow reports whether a cloud call may be made now and, when not, why.
func (b *Budget) Allow() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	why, _, _ := b.exhaustedLocked(Counts{})
	return why == "", why
}

// reserve admits a call whose worst case is worst and holds it until
// settle, or says why it is refused (overCap: it never fits).
func (b *Budget) reserve(worst Counts) (why string, retry time.Duration, overCap bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	why, retry, overCap = b.exhaustedLocked(worst)
	if why == "" {
		b.reserved.Calls += worst.Calls
		b.reserved.Tokens += worst.Tokens
		b.reserved.Cost += worst.Cost
	}
	return why, retry, overCap
}

// settle ends a reservation and records what the call used (nil: no call
// was made), in the same critical section: an admission never sees the
// call neither reserved nor recorded.
func (b *Budget) settle(worst Counts, used *Counts) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved.Calls -= worst.Calls
	b.reserved.Tokens -= worst.Tokens
	b.reserved.Cost = max(b.reserved.Cost-worst.Cost, 0)
	if b.reserved.Calls == 0 {
		b.reserved.Cost = 0 // no float dust when nothing is in flight
	}
	if used == nil {
		return nil
	}
	return b.recordLocked(*used)
}

// Record adds a call's use to today and this month, durably.
func (b *Budget) Record(_ context.Context, used Counts) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recordLocked(used)
}

func (b *Budget) recordLocked(used Counts) error {
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
	u.Exhausted, _, _ = b.exhaustedLocked(Counts{})
	return u
}
