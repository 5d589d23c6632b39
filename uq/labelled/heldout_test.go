package labelled

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgecascade/edgecascade/uq"
	"github.com/edgecascade/edgecascade/uq/calib"
)

// noiseRecords are records whose scores say nothing about correctness: n
// records, k noise scorers, half of the answers right.
func noiseRecords(n, k int, seed uint64) ([]Record, []string) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var names []string
	for j := range k {
		names = append(names, "noise"+string(rune('a'+j)))
	}
	recs := make([]Record, n)
	for i := range recs {
		s := map[string]float64{}
		for _, nm := range names {
			s[nm] = rng.Float64()
		}
		recs[i] = Record{Index: i, LocalCorrect: rng.IntN(2) == 0, Scores: s}
	}
	return recs, names
}

// Issue 14 item 6: combined was fitted and certified on the same records.
// The stack is now fitted on one part of the records and its threshold,
// probability map and AUROC come from the other, disjoint part; the file
// says so.
func TestCombinedCertifiedOnHeldOutRecords(t *testing.T) {
	recs, names := noiseRecords(300, 6, 7)
	spec := Spec{Method: calib.MethodTargetCloudRate, Params: calib.Params{TargetCloudRate: 0.5}}
	f, err := Calibrate(recs, names, names[0], spec, Meta{LocalModel: "m"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fit, ok := f.Scorers[uq.Combined]
	if !ok || f.Combined == nil || fit.Result == nil {
		t.Fatalf("no combined fit: %+v", fit)
	}
	fitIdx, certIdx := stackSplit(recs)
	if len(fitIdx) == 0 || len(certIdx) == 0 || len(fitIdx)+len(certIdx) != len(recs) {
		t.Fatalf("split %d + %d of %d", len(fitIdx), len(certIdx), len(recs))
	}
	seen := map[int]bool{}
	for _, i := range fitIdx {
		seen[recs[i].Index] = true
	}
	for _, i := range certIdx {
		if seen[recs[i].Index] {
			t.Fatalf("record %d is in both parts", recs[i].Index)
		}
	}
	if fit.Result.Samples != len(certIdx) {
		t.Fatalf("combined certified on %d records, want the %d held out from its fit", fit.Result.Samples, len(certIdx))
	}
	// The stack in the file is the one fitted on the fitting part only.
	var fitRecs []Record
	for _, i := range fitIdx {
		fitRecs = append(fitRecs, recs[i])
	}
	want, err := FitStack(fitRecs, names)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want.Weights {
		if want.Weights[j] != f.Combined.Weights[j] {
			t.Fatalf("stack weights %v, want those fitted on the fitting part %v", f.Combined.Weights, want.Weights)
		}
	}
	if !strings.Contains(fit.Certification, "held out") || !strings.Contains(fit.Result.Guarantee, "held out") {
		t.Fatalf("certification %q / guarantee %q do not say the combined fit was certified on held-out records", fit.Certification, fit.Result.Guarantee)
	}
	if c := f.Scorers[names[0]].Certification; c == "" {
		t.Fatal("a plain scorer's fit does not say how it was certified")
	}

	// Why: on scores that are noise, the same-data AUROC of a fitted stack
	// is optimistic; the held-out one is not.
	all, err := FitStack(recs, names)
	if err != nil {
		t.Fatal(err)
	}
	var same []calib.Sample
	for _, r := range recs {
		v, _ := all.Apply(r.Scores)
		same = append(same, calib.Sample{Score: v, Correct: r.LocalCorrect})
	}
	sameAUROC, err := calib.AUROC(same)
	if err != nil {
		t.Fatal(err)
	}
	if fit.AUROC == nil || *fit.AUROC >= sameAUROC {
		t.Fatalf("held-out AUROC %v not below the same-data AUROC %v on noise", fit.AUROC, sameAUROC)
	}
	t.Logf("noise scores: same-data AUROC %.3f, held-out AUROC %.3f", sameAUROC, *fit.AUROC)
}
