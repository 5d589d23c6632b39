// Package outbox is the durable queue of deferred escalations: requests that
// were answered locally while the cloud was out of reach (or its budget
// spent) and that should still get the cloud's answer. It lives in an
// embedded bbolt database in the data directory; every change is one
// fsynced transaction, so a crash (kill -9) at any point leaves each item
// either done or still queued: an item being sent when the process died is
// queued again at the next start, and an item is completed at most once.
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
}

// Answer is the cloud's answer to a deferred item.
type Answer struct {
	Content          string  `json:"content"`
	FinishReason     string  `json:"finish_reason,omitempty"`
	Provider         string  `json:"provider,omitempty"`
	Model            string  `json:"model,omitempty"`
	PromptTokens     int     `json:"prompt_tokens,omitempty"`
	CompletionTokens int     `json:"completion_tokens,omitempty"`
	Cost             float64 `json:"cost,omitempty"`
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
)

var (
	itemsBucket = []byte("items") // id → Item JSON
	queueBucket = []byte("queue") // id → nil, for queued items only
)

// Outbox is the durable queue. Safe for concurrent use; one process at a
// time (bbolt locks the file).
type Outbox struct {
	db  *bolt.DB
	now func() time.Time
}

// Open opens (or creates) the outbox at path and queues again every item
// that was being sent when the last process stopped. It reports how many.
func Open(path string, now func() time.Time) (*Outbox, int, error) {
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
	o := &Outbox{db: db, now: now}
	requeued := 0
	err = db.Update(func(tx *bolt.Tx) error {
		items, err := tx.CreateBucketIfNotExists(itemsBucket)
		if err != nil {
			return err
		}
		queue, err := tx.CreateBucketIfNotExists(queueBucket)
		if err != nil {
			return err
		}
		return items.ForEach(func(k, v []byte) error {
			var it Item
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("item %s: %w", k, err)
			}
			if it.State != StateSending {
				return nil
			}
			it.State = StateQueued
			it.LastError = "interrupted: the daemon stopped while sending"
			requeued++
			if err := putItem(items, &it); err != nil {
				return err
			}
			return queue.Put(k, nil)
		})
	})
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
		if err := putItem(tx.Bucket(itemsBucket), it); err != nil {
			return err
		}
		return tx.Bucket(queueBucket).Put([]byte(it.ID), nil)
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

// Claim marks the oldest queued item that is due as being sent and returns
// it; nil when none is due.
func (o *Outbox) Claim(_ context.Context) (*Item, error) {
	var claimed *Item
	now := o.now()
	err := o.db.Update(func(tx *bolt.Tx) error {
		items, queue := tx.Bucket(itemsBucket), tx.Bucket(queueBucket)
		c := queue.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			it, err := getItem(items, string(k))
			if err != nil {
				return err
			}
			if it.NextAttempt.After(now) {
				continue
			}
			it.State = StateSending
			it.Attempts++
			if err := putItem(items, it); err != nil {
				return err
			}
			if err := queue.Delete(k); err != nil {
				return err
			}
			claimed = it
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deferred item: %w", err)
	}
	return claimed, nil
}

// finish moves a claimed item (state sending, the claim's attempt) on.
func (o *Outbox) finish(id string, attempt int, fn func(it *Item, queue *bolt.Bucket) error) (*Item, error) {
	var out *Item
	err := o.db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		it, err := getItem(items, id)
		if err != nil {
			return err
		}
		if it.State != StateSending || it.Attempts != attempt {
			return fmt.Errorf("%w: %s is %s (attempt %d), not sending (attempt %d)", ErrState, id, it.State, it.Attempts, attempt)
		}
		if err := fn(it, tx.Bucket(queueBucket)); err != nil {
			return err
		}
		out = it
		return putItem(items, it)
	})
	return out, err
}

// Complete stores the cloud's answer for a claimed item. A second
// completion fails with ErrState: an item is answered once.
func (o *Outbox) Complete(_ context.Context, claimed *Item, a Answer) (*Item, error) {
	it, err := o.finish(claimed.ID, claimed.Attempts, func(it *Item, _ *bolt.Bucket) error {
		t := o.now().UTC()
		it.State, it.Answer, it.Finished, it.Request, it.LastError = StateDone, &a, &t, nil, ""
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("complete deferred item: %w", err)
	}
	return it, nil
}

// Retry queues a claimed item again, to be sent at next.
func (o *Outbox) Retry(_ context.Context, claimed *Item, cause error, next time.Time) (*Item, error) {
	it, err := o.finish(claimed.ID, claimed.Attempts, func(it *Item, queue *bolt.Bucket) error {
		it.State, it.LastError, it.NextAttempt = StateQueued, cause.Error(), next.UTC()
		return queue.Put([]byte(it.ID), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("requeue deferred item: %w", err)
	}
	return it, nil
}

// Fail gives up on a claimed item.
func (o *Outbox) Fail(_ context.Context, claimed *Item, cause error) (*Item, error) {
	it, err := o.finish(claimed.ID, claimed.Attempts, func(it *Item, _ *bolt.Bucket) error {
		t := o.now().UTC()
		it.State, it.LastError, it.Finished, it.Request = StateFailed, cause.Error(), &t, nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fail deferred item: %w", err)
	}
	return it, nil
}

// Stats counts the items by state.
func (o *Outbox) Stats(_ context.Context) (Stats, error) {
	var s Stats
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(itemsBucket).ForEach(func(_, v []byte) error {
			var it struct {
				State State `json:"state"`
			}
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			switch it.State {
			case StateQueued:
				s.Queued++
			case StateSending:
				s.Sending++
			case StateDone:
				s.Done++
			case StateFailed:
				s.Failed++
			}
			return nil
		})
	})
	if err != nil {
		return s, fmt.Errorf("count deferred items: %w", err)
	}
	return s, nil
}

// Prune deletes done and failed items that finished before cutoff and
// reports how many.
func (o *Outbox) Prune(_ context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		var drop [][]byte
		err := items.ForEach(func(k, v []byte) error {
			var it Item
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			if it.Finished != nil && it.Finished.Before(cutoff) {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := items.Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune deferred items: %w", err)
	}
	return n, nil
}
