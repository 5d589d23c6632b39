package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/probe"
	"github.com/edgecascade/edgecascade/uq/calib"
	"github.com/edgecascade/edgecascade/uq/labelled"
)

func TestHoldoutSplit(t *testing.T) {
	n, held := 20000, 0
	for i := range n {
		p := fmt.Sprintf("What is %d + %d?", i, i%7)
		h := heldOut(p, 0.3)
		if h != heldOut(p, 0.3) {
			t.Fatal("split is not deterministic")
		}
		if h && !heldOut(p, 0.5) {
			t.Fatal("held out at 0.3 but not at 0.5")
		}
		if h {
			held++
		}
	}
	if share := float64(held) / float64(n); math.Abs(share-0.3) > 0.015 {
		t.Fatalf("held-out share %.3f, want about 0.3", share)
	}
}

func TestPregenThreshold(t *testing.T) {
	// 200 samples: p(local right) = i/200; right iff i >= 60, except every
	// 10th from 20 to 59, so the low end is mostly wrong.
	var samples []calib.Sample
	for i := range 200 {
		samples = append(samples, calib.Sample{Score: float64(i) / 200, Correct: i >= 60 || (i >= 20 && i%10 == 5)})
	}
	var ev Eval
	th, err := pregenThreshold(samples, 0.8, 0.1, &ev)
	if err != nil || th == nil {
		t.Fatalf("threshold %v, %v (%v)", th, err, ev.ThresholdErr)
	}
	skipped, wrong := 0, 0
	for _, s := range samples {
		if s.Score <= *th {
			skipped++
			if !s.Correct {
				wrong++
			}
		}
	}
	if skipped != ev.ThresholdResult.Accepted || skipped == 0 || float64(wrong)/float64(skipped) < 0.8 {
		t.Fatalf("threshold %v skips %d (%d wrong), result %+v", *th, skipped, wrong, ev.ThresholdResult)
	}
	if !slices.ContainsFunc(samples, func(s calib.Sample) bool { return s.Score == *th }) {
		t.Fatalf("threshold %v is not a held-out probability", *th)
	}
	if !strings.Contains(ev.ThresholdGuaranteed, "at least 80% of the queries this probe skips") {
		t.Fatalf("guarantee: %s", ev.ThresholdGuaranteed)
	}

	// Right answers among the lowest p: no threshold, and why.
	mixed := slices.Clone(samples)
	for i := range 40 {
		mixed[i].Correct = i%3 == 0
	}
	ev = Eval{}
	th, err = pregenThreshold(mixed, 0.9, 0.1, &ev)
	if err != nil || th != nil || ev.ThresholdErr == nil || !strings.Contains(ev.ThresholdErr.Error(), "the local model got right") {
		t.Fatalf("mixed low end: threshold %v, err %v, reason %v", th, err, ev.ThresholdErr)
	}
	t.Log(ev.ThresholdErr)

	// Too few samples: no threshold, and the reason.
	ev = Eval{}
	th, err = pregenThreshold(samples[:10], 0.9, 0.1, &ev)
	if err != nil || th != nil || ev.ThresholdErr == nil || !strings.Contains(ev.ThresholdErr.Error(), "certify") {
		t.Fatalf("10 samples: threshold %v, err %v, reason %v", th, err, ev.ThresholdErr)
	}
}

// TestFitPregen fits a pre-generation probe on synthetic features whose
// first value separates right from wrong, and checks the file it gives:
// the training-part fit with a certified threshold and its guarantee.
func TestFitPregen(t *testing.T) {
	ds := &Data{}
	for i := range 1000 {
		right := i%5 < 3
		x := make([]float32, 8)
		for j := range x {
			x[j] = float32(math.Sin(float64(i * (j + 3)))) // deterministic noise
		}
		if right {
			x[0] += 2.5
		}
		ds.X = append(ds.X, x)
		ds.Y = append(ds.Y, right)
		ds.Prompts = append(ds.Prompts, fmt.Sprintf("prompt %d", i))
	}
	ds.Items = len(ds.X)
	f := Options{Pregen: true, Holdout: 0.3, TargetWrong: 0.9, Delta: 0.1, L2: 0.01}
	res, err := Fit(ds, f)
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Eval
	if res.Meta.Threshold == nil {
		t.Fatalf("no threshold: %v", ev.ThresholdErr)
	}
	if ev.Test+ev.Train != 1000 || ev.Test < 250 || ev.Test > 350 || res.Meta.Examples != ev.Train || *ev.AUROC < 0.9 {
		t.Fatalf("split %d/%d, examples %d, auroc %v", ev.Train, ev.Test, res.Meta.Examples, *ev.AUROC)
	}
	if res.Meta.FeatureKind != probe.FeaturePrompt || res.Meta.FeatureSize != 8 || !strings.Contains(res.Meta.Extra[ExtraThresholdNote], "at least 90% of the queries this probe skips") {
		t.Fatalf("meta: %+v", res.Meta)
	}
	res.Meta.Model = "m"
	path := filepath.Join(t.TempDir(), "pregen.onnx")
	if err := probe.WriteFile(path, res.Model, res.Meta); err != nil {
		t.Fatal(err)
	}
	meta, err := probe.ReadMeta(path)
	if err != nil || meta.Threshold == nil || *meta.Threshold != *res.Meta.Threshold {
		t.Fatalf("read back: %+v, %v", meta, err)
	}

	// An answer probe is refitted on all items and has no threshold.
	f.Pregen = false
	res, err = Fit(ds, f)
	if err != nil || res.Meta.Threshold != nil || res.Meta.Examples != 1000 || res.Meta.FeatureKind != probe.FeatureAnswer {
		t.Fatalf("answer probe: %+v, %v", res.Meta, err)
	}

	// One class only: a clear error.
	for i := range ds.Y {
		ds.Y[i] = false
	}
	if _, err := Fit(ds, f); err == nil || !strings.Contains(err.Error(), "all 1000 local answers are wrong") {
		t.Fatalf("one class: %v", err)
	}
}

// fakeFeatures renders "<prompt>|" and returns two features per text; it
// rejects texts containing "reject" as a backend rejects a text longer than
// its context.
type fakeFeatures struct {
	models.Model // only Name is used
	calls        int
}

func (f *fakeFeatures) Name() string { return "fake:1b" }

func (f *fakeFeatures) Render(_ context.Context, msgs []models.Message) (string, error) {
	return msgs[0].Content + "|", nil
}

func (f *fakeFeatures) Features(_ context.Context, text string) ([]float32, error) {
	f.calls++
	if strings.Contains(text, "reject") {
		return nil, &models.Error{Backend: "fake", Model: "fake:1b", Kind: models.ErrBadRequest, Err: fmt.Errorf("input too long")}
	}
	return []float32{float32(len(text)), 1}, nil
}

func TestCollectCachesAndSkipsRejected(t *testing.T) {
	fx := &fakeFeatures{}
	col := &Collector{Features: fx, Model: fx.Name(), Digest: "sha256:abc", Backend: "fake", CacheDir: t.TempDir(), Log: io.Discard}
	var recs []labelled.Record
	for i, p := range []string{"a", "bb", "reject me", "ccc", "dddd"} {
		recs = append(recs, labelled.Record{Index: i, Prompt: p, LocalRawAnswer: "ans", LocalCorrect: i%2 == 0})
	}
	ctx := context.Background()
	ds, err := col.Collect(ctx, probe.FeatureAnswer, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.X) != 4 || ds.Skipped != 1 || ds.SkipErr == nil || ds.X[1][0] != float32(len("bb|ans")) || !slices.Equal(ds.Prompts, []string{"a", "bb", "ccc", "dddd"}) {
		t.Fatalf("features %v, skipped %d (%v), prompts %v", ds.X, ds.Skipped, ds.SkipErr, ds.Prompts)
	}
	// Again: only the rejected text is asked for; the pre-generation kind has
	// its own cache and reads the prompt alone.
	fx.calls = 0
	if _, err := col.Collect(ctx, probe.FeatureAnswer, recs); err != nil || fx.calls != 1 {
		t.Fatalf("second pass: %d calls, %v", fx.calls, err)
	}
	ds, err = col.Collect(ctx, probe.FeaturePrompt, recs)
	if err != nil || fx.calls != 1+5 || ds.X[1][0] != float32(len("bb|")) {
		t.Fatalf("pregen: %d calls, %v, %v", fx.calls, ds.X, err)
	}

	// A backend that rejects every text stops early with its error.
	var bad []labelled.Record
	for i := range 20 {
		bad = append(bad, labelled.Record{Index: i, Prompt: fmt.Sprintf("reject %d", i)})
	}
	fx.calls = 0
	_, err = col.Collect(ctx, probe.FeatureAnswer, bad)
	if err == nil || !strings.Contains(err.Error(), "input too long") || fx.calls != maxRejectedFirst {
		t.Fatalf("all rejected: %d calls, %v", fx.calls, err)
	}
}
