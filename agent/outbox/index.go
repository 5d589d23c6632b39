package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The buckets. items holds the items; the others are indexes over them,
// kept in the same transaction as every change of an item and rebuilt from
// the items at each Open.
var (
	itemsBucket    = []byte("items")    // id → Item JSON
	queueBucket    = []byte("queue")    // id → nil for queued items: oldest first (IDs are time-ordered)
	dueBucket      = []byte("due")      // next attempt + id → nil for queued items: due first
	finishedBucket = []byte("finished") // finish time + id → nil for done and failed items
	metaBucket     = []byte("meta")     // countsKey → Stats JSON
	countsKey      = []byte("counts")
)

// ix is the items and their indexes within one transaction.
type ix struct{ items, queue, due, finished, meta *bolt.Bucket }

func index(tx *bolt.Tx) ix {
	return ix{tx.Bucket(itemsBucket), tx.Bucket(queueBucket), tx.Bucket(dueBucket), tx.Bucket(finishedBucket), tx.Bucket(metaBucket)}
}

// timeKey orders by t (the zero time first), then by id.
func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	if !t.IsZero() {
		binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	}
	return append(k, id...)
}

func keyTime(k []byte) (time.Time, string) {
	n := binary.BigEndian.Uint64(k[:8])
	var t time.Time
	if n != 0 {
		t = time.Unix(0, int64(n)).UTC()
	}
	return t, string(k[8:])
}

func (x ix) counts() Stats {
	var s Stats
	if v := x.meta.Get(countsKey); v != nil {
		_ = json.Unmarshal(v, &s) // written by this package only
	}
	return s
}

func (s *Stats) add(st State, n int) {
	switch st {
	case StateQueued:
		s.Queued += n
	case StateSending:
		s.Sending += n
	case StateDone:
		s.Done += n
	case StateFailed:
		s.Failed += n
	}
}

func (x ix) setCounts(s Stats) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return x.meta.Put(countsKey, v)
}

// unindex removes it from the indexes.
func (x ix) unindex(it *Item) error {
	id := []byte(it.ID)
	for _, err := range []error{
		x.queue.Delete(id),
		x.due.Delete(timeKey(it.NextAttempt, it.ID)),
		x.finishedDelete(it),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (x ix) finishedDelete(it *Item) error {
	if it.Finished == nil {
		return nil
	}
	return x.finished.Delete(timeKey(*it.Finished, it.ID))
}

// reindex adds it to the indexes of its state.
func (x ix) reindex(it *Item) error {
	switch it.State {
	case StateQueued:
		if err := x.queue.Put([]byte(it.ID), nil); err != nil {
			return err
		}
		return x.due.Put(timeKey(it.NextAttempt, it.ID), nil)
	case StateDone, StateFailed:
		if it.Finished != nil {
			return x.finished.Put(timeKey(*it.Finished, it.ID), nil)
		}
	}
	return nil
}

// put stores it, which was old before the change (nil: a new item), and
// moves it between the indexes and the counts.
func (x ix) put(old, it *Item) error {
	c := x.counts()
	if old != nil {
		if err := x.unindex(old); err != nil {
			return err
		}
		c.add(old.State, -1)
	}
	c.add(it.State, 1)
	if err := x.reindex(it); err != nil {
		return err
	}
	if err := x.setCounts(c); err != nil {
		return err
	}
	return putItem(x.items, it)
}

// remove deletes it and its index entries.
func (x ix) remove(it *Item) error {
	if err := x.unindex(it); err != nil {
		return err
	}
	c := x.counts()
	c.add(it.State, -1)
	if err := x.setCounts(c); err != nil {
		return err
	}
	return x.items.Delete([]byte(it.ID))
}

// firstDue is the queued item due first; "" when none is queued.
func (x ix) firstDue() (string, time.Time) {
	k, _ := x.due.Cursor().First()
	if k == nil {
		return "", time.Time{}
	}
	t, id := keyTime(k)
	return id, t
}

// reindex runs at Open: it queues again every item that was being sent,
// and rebuilds the indexes and counts from the items (one scan per start).
func (o *Outbox) reindex() (int, error) {
	requeued := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(itemsBucket); err != nil {
			return err
		}
		for _, name := range [][]byte{queueBucket, dueBucket, finishedBucket, metaBucket} {
			if tx.Bucket(name) != nil {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		x := index(tx)
		var c Stats
		var requeue []*Item
		err := x.items.ForEach(func(k, v []byte) error {
			var it Item
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("item %s: %w", k, err)
			}
			if it.State == StateSending {
				requeue = append(requeue, &it)
				return nil
			}
			c.add(it.State, 1)
			return x.reindex(&it)
		})
		if err != nil {
			return err
		}
		if err := x.setCounts(c); err != nil {
			return err
		}
		for _, it := range requeue {
			it.State = StateQueued
			it.LastError = "interrupted: the daemon stopped while sending"
			if err := x.put(nil, it); err != nil {
				return err
			}
		}
		requeued = len(requeue)
		return nil
	})
	return requeued, err
}

// Stats counts the items by state (kept with every change: no scan).
func (o *Outbox) Stats(_ context.Context) (Stats, error) {
	var s Stats
	err := o.db.View(func(tx *bolt.Tx) error {
		s = index(tx).counts()
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("count deferred items: %w", err)
	}
	return s, nil
}

// Prune deletes done and failed items that finished before cutoff and
// reports how many. Items waiting to be sent are never pruned (see Expire).
func (o *Outbox) Prune(_ context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		x := index(tx)
		end := timeKey(cutoff, "")
		var drop []*Item
		c := x.finished.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			_, id := keyTime(k)
			it, err := getItem(x.items, id)
			if err != nil {
				return err
			}
			drop = append(drop, it)
		}
		for _, it := range drop {
			if err := x.remove(it); err != nil {
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

// Expire fails the queued items created before cutoff, with why as their
// error, and returns them: an item that could not be sent within the
// outbox's age limit is given up on, visibly, never dropped silently.
func (o *Outbox) Expire(_ context.Context, cutoff time.Time, why string) ([]*Item, error) {
	var out []*Item
	err := o.db.Update(func(tx *bolt.Tx) error {
		x := index(tx)
		var old []*Item
		c := x.queue.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			it, err := getItem(x.items, string(k))
			if err != nil {
				return err
			}
			if !it.Created.Before(cutoff) {
				break // oldest first: the rest are younger
			}
			old = append(old, it)
		}
		t := o.now().UTC()
		for _, it := range old {
			before := *it
			it.State, it.LastError, it.Finished, it.Request = StateFailed, why, &t, nil
			if err := x.put(&before, it); err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire deferred items: %w", err)
	}
	return out, nil
}
