package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/probe"
)

func TestProbePredict(t *testing.T) {
	lib := os.Getenv("EDGECASCADE_ONNXRUNTIME_LIB")
	if lib == "" {
		t.Skip("EDGECASCADE_ONNXRUNTIME_LIB is not set: skipping (scripts/install-onnxruntime.sh prints the library's path)")
	}
	// A probe with known weights: p = sigmoid(0.5*x0 - 1*x1 + 0.25).
	path := filepath.Join(t.TempDir(), "p.onnx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := probe.WriteONNX(f, &probe.Logistic{Weights: []float64{0.5, -1}, Bias: 0.25}, probe.Meta{Model: "m", FeatureKind: probe.FeatureAnswer}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	featFile := filepath.Join(t.TempDir(), "x.txt")
	os.WriteFile(featFile, []byte("0.8\n -0.4\n"), 0o644)
	want := 1 / (1 + math.Exp(-(0.5*0.8 + 0.4 + 0.25)))

	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for success
	}{
		{"comma list", []string{"--features", "0.8,-0.4"}, ""},
		{"file", []string{"--features-file", featFile}, ""},
		{"too few", []string{"--features", "0.8"}, "got 1 features, probe"},
		{"not a number", []string{"--features", "0.8,abc"}, `feature 1: "abc" is not a finite number`},
		{"NaN", []string{"--features", "0.8,NaN"}, "not a finite number"},
		{"both", []string{"--features", "1,2", "--features-file", featFile}, "exactly one of"},
		{"missing library", []string{"--features", "0.8,-0.4", "--onnxruntime-lib", filepath.Join(t.TempDir(), "none.so")}, "does not exist"},
	}
	num := regexp.MustCompile(`probability (\d\.\d+) \(onnxruntime 1\.\d+\.\d+, linux/`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"probe", "predict", "--probe", path}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--onnxruntime-lib") {
				args = append(args, "--onnxruntime-lib", lib)
			}
			out, _, err := run(t, nil, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := num.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("output:\n%s", out)
			}
			got, _ := strconv.ParseFloat(m[1], 64)
			if math.Abs(got-want) > 1e-6 {
				t.Fatalf("probability %v, want %v", got, want)
			}
		})
	}
}
