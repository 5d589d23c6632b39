package decisionlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Label sources: who said whether an answer was right.
const (
	// SourceFeedback is the user (POST /v1/cascade/feedback).
	SourceFeedback = "feedback"
	// SourceAgreement is the cloud's answer to an escalated request,
	// compared with the local answer it replaced.
	SourceAgreement = "agreement"
	// SourceExploration is the cloud's answer to an accepted local answer
	// sent to it in the background (shadow escalation).
	SourceExploration = "exploration"
)

// Label says whether a logged answer was right.
type Label struct {
	Correct bool   `json:"correct"`
	Source  string `json:"source"`
	// Weight is the label's weight in the online threshold (for example
	// 1/explore_rate for an exploration label).
	Weight float64   `json:"weight"`
	Time   time.Time `json:"time"`
}

// ErrUnknownID is returned by Log.Label for an id the log does not hold
// (never logged, trimmed, or logged without an id).
var ErrUnknownID = errors.New("no decision with this id")

// ConflictError is returned by Log.Label when the entry already carries a
// label that says the opposite, and the label was not meant to replace it.
type ConflictError struct {
	ID       string
	Existing Label
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("decision %s is already labelled correct=%t (by %s at %s); send \"replace\": true to change it",
		e.ID, e.Existing.Correct, e.Existing.Source, e.Existing.Time.Format(time.RFC3339))
}

type labelOp struct {
	id      string
	label   Label
	replace bool
	reply   chan labelReply
}

type labelReply struct {
	entry Entry
	// changed is false when the entry already had an equal label.
	changed bool
	err     error
}

// Label labels the entry of response id (its Label, or its CloudLabel for
// feedback on a cloud answer) and returns it as labelled, and
// whether its label changed (false when it already said the same). It is
// applied by the writer after every entry appended before it, so an answer
// can be labelled as soon as its response is out. An entry already
// labelled the opposite way is a *ConflictError unless replace is set.
func (l *Log) Label(ctx context.Context, id string, lb Label, replace bool) (Entry, bool, error) {
	o := &labelOp{id: id, label: lb, replace: replace, reply: make(chan labelReply, 1)}
	l.mu.Lock()
	if l.queue == nil || l.closed {
		l.mu.Unlock()
		return Entry{}, false, errors.New("the decision log is closed")
	}
	select {
	case l.queue <- op{label: o}:
		l.mu.Unlock()
	case <-ctx.Done():
		l.mu.Unlock()
		return Entry{}, false, ctx.Err()
	}
	select {
	case r := <-o.reply:
		return r.entry, r.changed, r.err
	case <-ctx.Done():
		return Entry{}, false, ctx.Err()
	}
}

// applyLabel runs on the writer's goroutine.
func (l *Log) applyLabel(o *labelOp) labelReply {
	var r labelReply
	err := l.db.Update(func(tx *bolt.Tx) error {
		k := tx.Bucket(idBucket).Get([]byte(o.id))
		if k == nil {
			return ErrUnknownID
		}
		b := tx.Bucket(bucket)
		v := b.Get(k)
		if v == nil {
			return ErrUnknownID
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decision %s: %w", o.id, err)
		}
		// Feedback on a cloud answer labels the cloud's answer; every other
		// label the local answer.
		field := &e.Label
		if o.label.Source == SourceFeedback && e.FromCloud() {
			field = &e.CloudLabel
		}
		if old := *field; old != nil && !o.replace {
			if old.Correct != o.label.Correct {
				return &ConflictError{ID: o.id, Existing: *old}
			}
			r.entry = e
			return nil
		}
		lb := o.label
		*field = &lb
		nv, err := encode(e)
		if err != nil {
			return fmt.Errorf("decision %s: %w", o.id, err)
		}
		r.entry, r.changed = e, true
		return b.Put(append([]byte(nil), k...), nv)
	})
	r.err = err
	return r
}

// Get returns the entry of response id, or ErrUnknownID.
func (l *Log) Get(ctx context.Context, id string) (Entry, error) {
	var e Entry
	err := l.db.View(func(tx *bolt.Tx) error {
		idx := tx.Bucket(idBucket)
		if idx == nil {
			return ErrUnknownID
		}
		k := idx.Get([]byte(id))
		if k == nil {
			return ErrUnknownID
		}
		v := tx.Bucket(bucket).Get(k)
		if v == nil {
			return ErrUnknownID
		}
		return json.Unmarshal(v, &e)
	})
	return e, err
}
