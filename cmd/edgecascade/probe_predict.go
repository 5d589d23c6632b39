package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgecascade/edgecascade/probe"
)

// probePredictFlags are the flags of `probe predict`.
type probePredictFlags struct {
	probe        string
	lib          string
	features     string
	featuresFile string
}

func (a *app) probePredictCmd() *cobra.Command {
	f := &probePredictFlags{}
	cmd := &cobra.Command{
		Use:   "predict --probe FILE (--features X,Y,... | --features-file FILE) [--onnxruntime-lib LIB]",
		Short: "Run a probe once on a given feature vector with onnxruntime (checks a platform's onnxruntime)",
		Long: `probe predict loads a probe file with onnxruntime and runs it once on the
feature vector given (numbers separated by commas or white space; as many as
the probe's feature size). It prints the probability onnxruntime computed and
the same probability computed in float64 by Go from the probe's weights, and
fails when they differ by more than 1e-5.

It needs no local model: it is how scripts/arm64-smoke.sh checks that
onnxruntime runs on arm64. The library is --onnxruntime-lib, else
probe.onnxruntime_lib.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.probe == "" {
				return errors.New("--probe is required")
			}
			if (f.features == "") == (f.featuresFile == "") {
				return errors.New("give exactly one of --features and --features-file")
			}
			text := f.features
			if f.featuresFile != "" {
				b, err := os.ReadFile(f.featuresFile)
				if err != nil {
					return fmt.Errorf("--features-file: %w", err)
				}
				text = string(b)
			}
			x, err := parseFeatures(text)
			if err != nil {
				return err
			}
			lib := f.lib
			if lib == "" {
				cfg, err := a.loadConfig(cmd)
				if err != nil {
					return err
				}
				lib = cfg.Probe.ONNXRuntimeLib
			}
			return a.probePredict(cmd, f.probe, lib, x)
		},
	}
	cmd.Flags().StringVar(&f.probe, "probe", "", "probe file (.onnx from probe train)")
	cmd.Flags().StringVar(&f.lib, "onnxruntime-lib", "", "path of libonnxruntime.so.1 (default: probe.onnxruntime_lib)")
	cmd.Flags().StringVar(&f.features, "features", "", "the feature vector: numbers separated by commas")
	cmd.Flags().StringVar(&f.featuresFile, "features-file", "", "file holding the feature vector (numbers separated by commas or white space)")
	return cmd
}

func (a *app) probePredict(cmd *cobra.Command, path, lib string, x []float32) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--probe: %w", err)
	}
	ref, meta, err := probe.ReadONNX(file)
	file.Close()
	if err != nil {
		return fmt.Errorf("--probe %s: %w", path, err)
	}
	if len(x) != meta.FeatureSize {
		return fmt.Errorf("got %d features, probe %s takes %d", len(x), path, meta.FeatureSize)
	}
	rt, err := probe.NewRuntime(lib)
	if err != nil {
		return err
	}
	defer rt.Close()
	p, err := rt.Load(path, meta.Model, meta.FeatureSize)
	if err != nil {
		return err
	}
	got, err := p.Predict(cmd.Context(), x)
	if err != nil {
		return err
	}
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	want, err := ref.Predict(x64)
	if err != nil {
		return fmt.Errorf("reference prediction: %w", err)
	}
	fmt.Fprintf(a.stdout, "probability %.9f (onnxruntime %s, %s/%s)\nreference   %.9f (float64 Go math from the probe's weights)\n",
		got, rt.Version(), runtime.GOOS, runtime.GOARCH, want)
	if d := math.Abs(got - want); d > 1e-5 {
		return fmt.Errorf("onnxruntime's probability %v differs from the reference %v by %.2g", got, want, d)
	}
	return nil
}

// parseFeatures reads numbers separated by commas and/or white space.
func parseFeatures(s string) ([]float32, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) == 0 {
		return nil, errors.New("no features given")
	}
	out := make([]float32, len(fields))
	for i, fld := range fields {
		v, err := strconv.ParseFloat(fld, 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("feature %d: %q is not a finite number", i, fld)
		}
		out[i] = float32(v)
	}
	return out, nil
}
