// Package decisionlog keeps the cascade's decisions in an embedded database
// (bbolt: pure Go, one file, crash-safe transactions): one entry per
// answered request, appended in order, for `edgecascade log tail` and
// `edgecascade log export --jsonl` (what recalibration consumes). Prompts and
// answers are kept only when content logging is on.
package decisionlog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucket = []byte("decisions")
	// idBucket maps a response id to its entry's key (labels.go).
	idBucket = []byte("ids")
)

// Entry is one decision.
type Entry struct {
	Time time.Time `json:"time"`
	// ID is the response's id (the chat completion's id, the Ollama
	// response's cascade.id): what feedback names. Group is the request's
	// group key (X-Cascade-Group), empty for none.
	ID     string `json:"id,omitempty"`
	Group  string `json:"group,omitempty"`
	Policy string `json:"policy"`
	Route  string `json:"route"`
	// Cloud is set when the cloud stage answered (Route is its name with
	// cascade.stages; FromCloud reads entries written before it too).
	Cloud         bool     `json:"cloud,omitempty"`
	Escalated     bool     `json:"escalated"`
	Scorer        string   `json:"scorer"`
	Score         *float64 `json:"score,omitempty"`
	Confidence    *float64 `json:"confidence,omitempty"`
	Threshold     float64  `json:"threshold"`
	Reason        string   `json:"reason"`
	LocalModel    string   `json:"local_model"`
	CloudModel    string   `json:"cloud_model,omitempty"`
	CloudProvider string   `json:"cloud_provider,omitempty"`
	LocalMS       float64  `json:"local_ms"`
	// LocalJ is the energy of the local generations in joules, where
	// measured (resources.energy).
	LocalJ           *float64 `json:"local_j,omitempty"`
	CloudMS          float64  `json:"cloud_ms"`
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	Cost             float64  `json:"cost,omitempty"`
	// DeferredID names the outbox item when the escalation was deferred.
	DeferredID string `json:"deferred_id,omitempty"`
	PromptHash string `json:"prompt_hash"`
	// User is the request's end-user identifier (OpenAI's user), if any.
	User string `json:"user,omitempty"`
	// Prompt and Answer are set only when content logging is on.
	Prompt string `json:"prompt,omitempty"`
	Answer string `json:"answer,omitempty"`
	// Label says whether the local answer was right, once something has
	// said so (labels.go): feedback on a local answer, or the cloud's
	// answer compared with it (agreement, exploration). CloudLabel is the
	// user's feedback on a cloud answer (route cloud), which says nothing
	// of the local model.
	Label      *Label `json:"label,omitempty"`
	CloudLabel *Label `json:"cloud_label,omitempty"`
}

// FromCloud reports whether the cloud stage answered.
func (e Entry) FromCloud() bool { return e.Cloud || e.Route == "cloud" }

// Log is the decision log. Append hands entries to one background writer
// so that requests never wait for the disk; Close writes what is queued.
type Log struct {
	db      *bolt.DB
	queue   chan op
	done    chan struct{}
	log     *slog.Logger
	mu      sync.Mutex
	closed  bool
	dropped int
	lastErr error // of the last write; nil when it succeeded
	opts    Options
	// lastTrim is when the writer last trimmed the log.
	lastTrim time.Time
}

// Options configure a decision log.
type Options struct {
	// MaxAge and MaxEntries bound the log: older entries, and the oldest
	// beyond MaxEntries, are deleted as new ones are written (0: no bound).
	MaxAge     time.Duration
	MaxEntries int
	Log        *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Open opens (creating) the log file.
func Open(path string, opts Options) (*Log, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open decision log %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(idBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open decision log %s: %w", path, err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{db: db, queue: make(chan op, 1024), done: make(chan struct{}), log: log, opts: opts}
	go l.writer()
	return l, nil
}

// op is one item of the writer's queue: an entry to append, or a label to
// apply (after every entry queued before it).
type op struct {
	entry Entry
	label *labelOp
}

func (l *Log) writer() {
	defer close(l.done)
	var pending *op
	for {
		var o op
		if pending != nil {
			o, pending = *pending, nil
		} else {
			var ok bool
			if o, ok = <-l.queue; !ok {
				return
			}
		}
		if o.label != nil {
			o.label.reply <- l.applyLabel(o.label)
			continue
		}
		batch := []Entry{o.entry}
	more:
		for len(batch) < 256 {
			select {
			case next, ok := <-l.queue:
				if !ok {
					break more
				}
				if next.label != nil { // entries first, then the label
					pending = &next
					break more
				}
				batch = append(batch, next.entry)
			default:
				break more
			}
		}
		err := l.write(batch)
		if err != nil {
			l.log.Error("decision log write failed", "entries", len(batch), "err", err)
		} else {
			l.maybeTrim()
		}
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
	}
}

func (l *Log) write(batch []Entry) error {
	// Encode first: one entry that cannot be encoded must not cost the
	// others their place in the transaction.
	vals := make([][]byte, 0, len(batch))
	ids := make([]string, 0, len(batch))
	for _, e := range batch {
		v, err := encode(e)
		if err != nil {
			l.log.Error("decision log entry dropped: it cannot be encoded", "reason", e.Reason, "err", err)
			continue
		}
		vals, ids = append(vals, v), append(ids, e.ID)
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		b, idx := tx.Bucket(bucket), tx.Bucket(idBucket)
		for i, v := range vals {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq)
			if err := b.Put(k[:], v); err != nil {
				return err
			}
			if ids[i] != "" {
				if err := idx.Put([]byte(ids[i]), k[:]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// encode marshals an entry. JSON has no NaN or Inf: an entry carrying one
// (a scorer's bad output) is kept without those numbers (a nil score or
// confidence, a zero cost or threshold) and its reason says so.
func encode(e Entry) ([]byte, error) {
	v, err := json.Marshal(e)
	if err == nil {
		return v, nil
	}
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	var dropped []string
	if e.Score != nil && bad(*e.Score) {
		e.Score, dropped = nil, append(dropped, "score")
	}
	if e.Confidence != nil && bad(*e.Confidence) {
		e.Confidence, dropped = nil, append(dropped, "confidence")
	}
	if bad(e.Threshold) {
		e.Threshold, dropped = 0, append(dropped, "threshold")
	}
	if bad(e.Cost) {
		e.Cost, dropped = 0, append(dropped, "cost")
	}
	if bad(e.LocalMS) {
		e.LocalMS, dropped = 0, append(dropped, "local_ms")
	}
	if bad(e.CloudMS) {
		e.CloudMS, dropped = 0, append(dropped, "cloud_ms")
	}
	if len(dropped) == 0 {
		return nil, err
	}
	e.Reason += fmt.Sprintf(" [decision log: %s not a finite number, left out]", strings.Join(dropped, ", "))
	return json.Marshal(e)
}

// Append queues an entry. When the queue is full (the disk cannot keep up)
// the entry is dropped and counted rather than slowing requests down.
func (l *Log) Append(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	select {
	case l.queue <- op{entry: e}:
	default:
		l.dropped++
		if l.dropped == 1 || l.dropped%1000 == 0 {
			l.log.Warn("decision log queue full; entries dropped", "dropped", l.dropped)
		}
	}
}

// WriteErr is the error of the last write of queued entries (for example a
// full disk: those entries are lost), or nil when it succeeded.
func (l *Log) WriteErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastErr != nil {
		return fmt.Errorf("decision log write failed: %w", l.lastErr)
	}
	return nil
}

// Close writes the queued entries and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.queue == nil { // read-only
		l.mu.Unlock()
		return l.db.Close()
	}
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.done
	return l.db.Close()
}

// Tail returns the last n entries, oldest first.
func (l *Log) Tail(ctx context.Context, n int) ([]Entry, error) {
	var out []Entry
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// Export writes every entry as one JSON line, oldest first, and returns how
// many it wrote.
func (l *Log) Export(ctx context.Context, w io.Writer) (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := w.Write(append(append([]byte(nil), v...), '\n')); err != nil {
				return err
			}
			n++
			return nil
		})
	})
	return n, err
}

// OpenReadOnly opens the log of a running or stopped daemon for reading.
func OpenReadOnly(path string) (*Log, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open decision log %s: the daemon holds it; stop it or use its log: %w", path, err)
		}
		return nil, fmt.Errorf("open decision log %s: %w", path, err)
	}
	return &Log{db: db, closed: true}, nil
}
