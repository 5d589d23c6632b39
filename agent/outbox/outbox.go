// Package outbox is the durable queue of deferred escalations: requests that
// were answered locally while the cloud was out of reach (or its budget
// spent) and that should still get the cloud's answer. It lives in an
// embedded bbolt database in the data directory; every change is one
// fsynced transaction, so a crash (kill -9) at any point leaves each item
// either done or still queued: an item being sent when the process died is
// queued again at the next start, and an item is completed at most once.
//
// Growth is bounded: at most Options.MaxItems items wait (queued or being
// sent; Add refuses more with ErrFull, so the caller can say the deferral
// was refused), queued items older than a cutoff fail as expired (Expire),
// and finished items are deleted after the retention (Prune). Counts by
// state are kept in the database, so Stats reads them without a scan, and
// indexes by due time and finish time let Claim, Expire and Prune seek
// instead of scanning every item.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgecascade/edgecascade/models"
)

// State is an item's place in its life.
type State string

// The states. queued → sending → done | failed; sending → queued on a
// retryable failure or after a crash.
const (
	StateQueued  State = "queued"
	StateSending State = "sending"
	StateDone    State = "done"
	StateFailed  State = "failed"
)

// Request is what will be sent to the cloud.
type Request struct {
	Messages    []models.Message `json:"messages"`
	MaxTokens   int              `json:"max_tokens,omitempty"`
	Temperature *float64         `json:"temperature,omitempty"`
	// Options are the client's other generation options (stop, seed, ...).
	models.Options
}

// Answer is the cloud's answer to a deferred item.
type Answer struct {
	Content string `json:"content"`
	// ToolCalls are the tools the cloud called (FinishReason tool_calls).
	ToolCalls        []models.ToolCall `json:"tool_calls,omitempty"`
	FinishReason     string            `json:"finish_reason,omitempty"`
	Provider         string            `json:"provider,omitempty"`
	Model            string            `json:"model,omitempty"`
	PromptTokens     int               `json:"prompt_tokens,omitempty"`
	CompletionTokens int               `json:"completion_tokens,omitempty"`
	Cost             float64           `json:"cost,omitempty"`
}

// Item is one deferred escalation.
type Item struct {
	ID      string    `json:"id"`
	State   State     `json:"state"`
	Created time.Time `json:"created"`
	// Reason says why the item was deferred.
	Reason string `json:"reason,omitempty"`
	// LocalAnswer is the answer the client already got.
	LocalAnswer string `json:"local_answer,omitempty"`
	// Request is dropped once the item is done or failed: the prompt stays
	// on disk only while it is needed.
	Request     *Request   `json:"request,omitempty"`
	Attempts    int        `json:"attempts"`
	NextAttempt time.Time  `json:"next_attempt,omitzero"`
	LastError   string     `json:"last_error,omitempty"`
	Answer      *Answer    `json:"answer,omitempty"`
	Finished    *time.Time `json:"finished,omitempty"`
}

// Stats counts items by state.
type Stats struct {
	Queued  int `json:"queued"`
	Sending int `json:"sending"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
}

// Errors.
var (
	ErrNotFound = errors.New("no such deferred item")
	// ErrState is a transition the item's state does not allow (e.g. a
	// second completion).
	ErrState = errors.New("deferred item is not in the expected state")
	// ErrFull is an Add refused because Options.MaxItems items wait.
	ErrFull = errors.New("outbox full")
)

// Options configure an outbox.
type Options struct {
	// MaxItems caps the items waiting to be sent (queued or sending); 0: no
	// cap.
	MaxItems int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Outbox is the durable queue. Safe for concurrent use; one process at a
// time (bbolt locks the file).
type Outbox struct {
	db   *bolt.DB
	now  func() time.Time
	opts Options
}

// Open opens (or creates) the outbox at path, queues again every item that
// was being sent when the last process stopped (it reports how many), and
// rebuilds the indexes and counts from the items.
func Open(path string, opts Options) (*Outbox, int, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			err = errors.New("the file is locked by another edgecascade process")
		}
		return nil, 0, fmt.Errorf("open outbox %s: %w", path, err)
	}
	o := &Outbox{db: db, now: now, opts: opts}
	requeued, err := o.reindex()
	if err != nil {
		_ = db.Close()
		return nil, 0, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return o, requeued, nil
}

// Close closes the database.
func (o *Outbox) Close() error { return o.db.Close() }

// newID is time-ordered (so the queue drains oldest first) and unguessable.
func (o *Outbox) newID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(o.now().UnixNano()))
	_, _ = rand.Read(b[8:])
	return "dfr_" + hex.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of an item ID.
func ValidID(s string) bool {
	h, ok := strings.CutPrefix(s, "dfr_")
	if !ok || len(h) != 32 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func putItem(b *bolt.Bucket, it *Item) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return b.Put([]byte(it.ID), v)
}

func getItem(b *bolt.Bucket, id string) (*Item, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	var it Item
	if err := json.Unmarshal(v, &it); err != nil {
		return nil, fmt.Errorf("read deferred item %s: %w", id, err)
	}
	return &it, nil
}

// Add stores a new queued item durably and returns it with its ID.
func (o *Outbox) Add(_ context.Context, req Request, localAnswer, reason string) (*Item, error) {
	it := &Item{ID: o.newID(), State: StateQueued, Created: o.now().UTC(), Reason: reason, LocalAnswer: localAnswer, Request: &req}
	err := o.db.Update(func(tx *bolt.Tx) error {
		ix := index(tx)
		if max := o.opts.MaxItems; max > 0 {
			if c := ix.counts(); c.Queued+c.Sending >= max {
				return fmt.Errorf("%w: %d items wait to be sent (outbox.max_items %d)", ErrFull, c.Queued+c.Sending, max)
			}
		}
		return ix.put(nil, it)
	})
	if err != nil {
		return nil, fmt.Errorf("store deferred request: %w", err)
	}
	return it, nil
}

// Get returns an item.
func (o *Outbox) Get(_ context.Context, id string) (*Item, error) {
	var it *Item
	err := o.db.View(func(tx *bolt.Tx) error {
		var err error
		it, err = getItem(tx.Bucket(itemsBucket), id)
		return err
	})
	return it, err
}

// Claim marks the queued item that has been due longest as being sent and
// returns it; nil when none is due.
func (o *Outbox) Claim(_ context.Context) (*Item, error) {
	var claimed *Item
	now := o.now()
	err := o.db.Update(func(tx *bolt.Tx) error {
		ix := index(tx)
		id, due := ix.firstDue()
		if id == "" || due.After(now) {
			return nil
		}
		it, err := getItem(ix.items, id)
		if err != nil {
			return err
		}
		old := *it
		it.State = StateSending
		it.Attempts++
		claimed = it
		return ix.put(&old, it)
	})
	if err != nil {
		return nil, fmt.Errorf("claim deferred item: %w", err)
	}
	return claimed, nil
}

// finish moves a claimed item (state sending, the claim's attempt) on.
func (o *Outbox) finish(id string, attempt int, fn func(it *Item)) (*Item, error) {
	var out *Item
	err := o.db.Update(func(tx *bolt.Tx) error {
		ix := index(tx)
		it, err := getItem(ix.items, id)
		if err != nil {
			return err
		}
		if it.State != StateSending || it.Attempts != attempt {
			return fmt.Errorf("%w: %s is %s (attempt %d), not sending (attempt %d)", ErrState, id, it.State, it.Attempts, attempt)
		}
		old := *it
		fn(it)
		out = it
		return ix.put(&old, it)
	})
	return out, err
}

// Complete stores the cloud's answer for a claimed item. A second
// completion fails with ErrState: an item is answered once.
func (o *Outbox) Complete(_ context.Context, claimed *Item, a Answer) (*Item, error) {
	it, err := o.finish(claimed.ID, claimed.Attempts, func(it *Item) {
		t := o.now().UTC()
		it.State, it.Answer, it.Finished, it.Request, it.LastError = StateDone, &a, &t, nil, ""
	})
	if err != nil {
		return nil, fmt.Errorf("complete deferred item: %w", err)
	}
	return it, nil
}

// Retry queues a claimed item again, to be sent at next.
func (o *Outbox) Retry(_ context.Context, claimed *Item, cause error, next time.Time) (*Item, error) {
	it, err := o.finish(claimed.ID, claimed.Attempts, func(it *Item) {
		it.State, it.LastError, it.NextAttempt = StateQueued, cause.Error(), next.UTC()
	})
	if err != nil {
		return nil, fmt.Errorf("requeue deferred item: %w", err)
	}
	return it, nil
}

// Fail gives up on a claimed item.
func (o *Outbox) Fail(_ context.Context, claimed *Item, cause error) (*Item, error) {
	it, err := o.finish(claimed.ID, claimed.Attempts, func(it *Item) {
		t := o.now().UTC()
		it.State, it.LastError, it.Finished, it.Request = StateFailed, cause.Error(), &t, nil
	})
	if err != nil {
		return nil, fmt.Errorf("fail deferred item: %w", err)
	}
	return it, nil
}
