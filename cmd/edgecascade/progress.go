package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/edgecascade/edgecascade/uq/labelled"
)

// newProgress shows a progress bar with rate and ETA on a terminal, and a
// plain line every 10% (or 15 s) elsewhere, so that logs stay readable.
func newProgress(w io.Writer, total int, label string) labelled.Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("items"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return &lineProgress{w: w, total: total, label: label, start: time.Now(), last: time.Now()}
}

type lineProgress struct {
	w            io.Writer
	total, done  int
	label        string
	start, last  time.Time
	lastReported int
}

func (p *lineProgress) Add(n int) error {
	p.done += n
	step := max(p.total/10, 1)
	if p.done < p.total && p.done-p.lastReported < step && time.Since(p.last) < 15*time.Second {
		return nil
	}
	p.last, p.lastReported = time.Now(), p.done
	elapsed := time.Since(p.start)
	rate := float64(p.done) / elapsed.Seconds()
	eta := time.Duration(0)
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
	}
	_, err := fmt.Fprintf(p.w, "%s: %d/%d (%.0f%%), %.1f items/s, elapsed %s, ETA %s\n", p.label, p.done, p.total,
		100*float64(p.done)/float64(p.total), rate, elapsed.Round(time.Second), eta.Round(time.Second))
	return err
}
