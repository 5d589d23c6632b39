package probe

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgecascade/edgecascade/probe/onnxpb"
)

// randomLogistic returns a model with normal weights scaled so logits for
// normal inputs are of order 1 (outputs spread over (0, 1)).
func randomLogistic(seed uint64, d int) *Logistic {
	rng := rand.New(rand.NewPCG(seed, 3))
	m := &Logistic{Weights: make([]float64, d), Bias: rng.NormFloat64()}
	for j := range m.Weights {
		m.Weights[j] = rng.NormFloat64() / math.Sqrt(float64(d))
	}
	return m
}

func testMeta() Meta {
	th := 0.0 // a threshold of 0 is a threshold, not "unset"
	return Meta{
		Model:       "qwen2.5:0.5b",
		FeatureKind: FeatureAnswer,
		Label:       "correct",
		Threshold:   &th,
		TrainedAt:   time.Date(2025, 11, 27, 22, 16, 5, 0, time.UTC),
		Examples:    1200,
		Positives:   700,
		Extra:       map[string]string{"dataset": "triviaqa-dev", "l2": "0.01"},
	}
}

func writeProbe(t testing.TB, m *Logistic, meta Meta) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteONNX(&buf, m, meta); err != nil {
		t.Fatalf("write onnx: %v", err)
	}
	path := filepath.Join(t.TempDir(), "probe.onnx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMetaRoundTrip(t *testing.T) {
	m := randomLogistic(1, 16)
	tests := []struct {
		name string
		meta func() Meta
	}{
		{"full", testMeta},
		{"minimal", func() Meta { return Meta{Model: "llama3.2:1b", FeatureKind: FeaturePrompt} }},
		{"threshold 0.73 with local time", func() Meta {
			meta := testMeta()
			th := 0.73
			meta.Threshold = &th
			meta.TrainedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
			return meta
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := tt.meta()
			got, err := ReadMeta(writeProbe(t, m, meta))
			if err != nil {
				t.Fatalf("read meta: %v", err)
			}
			want := meta
			want.FeatureSize = 16
			if !want.TrainedAt.IsZero() {
				want.TrainedAt = want.TrainedAt.UTC()
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("meta round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestReadONNXRoundTrip(t *testing.T) {
	m := randomLogistic(2, 64)
	var buf bytes.Buffer
	if err := WriteONNX(&buf, m, testMeta()); err != nil {
		t.Fatal(err)
	}
	t.Logf("D=64 probe: %d bytes", buf.Len())
	got, meta, err := ReadONNX(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("read onnx: %v", err)
	}
	if meta.FeatureSize != 64 || meta.Model != "qwen2.5:0.5b" {
		t.Errorf("meta %+v", meta)
	}
	for j, w := range m.Weights {
		if got.Weights[j] != float64(float32(w)) {
			t.Fatalf("weight %d: %v, want float32(%v)", j, got.Weights[j], w)
		}
	}
	if got.Bias != float64(float32(m.Bias)) {
		t.Errorf("bias %v, want float32(%v)", got.Bias, m.Bias)
	}

	var again bytes.Buffer
	if err := WriteONNX(&again, m, testMeta()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("WriteONNX is not deterministic")
	}
}

func TestWriteONNXGraph(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteONNX(&buf, randomLogistic(3, 8), testMeta()); err != nil {
		t.Fatal(err)
	}
	var model onnxpb.ModelProto
	if err := proto.Unmarshal(buf.Bytes(), &model); err != nil {
		t.Fatal(err)
	}
	if model.GetIrVersion() != 8 || len(model.GetOpsetImport()) != 1 ||
		model.GetOpsetImport()[0].GetVersion() != 13 || model.GetOpsetImport()[0].GetDomain() != "" {
		t.Errorf("ir_version %d, opsets %v; want 8 and opset 13", model.GetIrVersion(), model.GetOpsetImport())
	}
	var ops []string
	for _, n := range model.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	if strings.Join(ops, ",") != "MatMul,Add,Sigmoid" {
		t.Errorf("ops %v", ops)
	}
	dims := model.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	if dims[0].GetDimParam() != "N" || dims[1].GetDimValue() != 8 {
		t.Errorf("input dims %v, want [N, 8]", dims)
	}
}

func TestWriteONNXBadInput(t *testing.T) {
	m := randomLogistic(4, 4)
	bad := 1.5
	nan := math.NaN()
	tests := []struct {
		name  string
		m     *Logistic
		patch func(*Meta)
	}{
		{"no model name", m, func(meta *Meta) { meta.Model = " " }},
		{"unknown feature kind", m, func(meta *Meta) { meta.FeatureKind = "logits" }},
		{"feature size differs", m, func(meta *Meta) { meta.FeatureSize = 5 }},
		{"threshold above 1", m, func(meta *Meta) { meta.Threshold = &bad }},
		{"threshold NaN", m, func(meta *Meta) { meta.Threshold = &nan }},
		{"more positives than examples", m, func(meta *Meta) { meta.Positives = 5000 }},
		{"reserved extra key", m, func(meta *Meta) { meta.Extra = map[string]string{keyModel: "x"} }},
		{"nil model", nil, func(*Meta) {}},
		{"no weights", &Logistic{}, func(*Meta) {}},
		{"NaN weight", &Logistic{Weights: []float64{1, math.NaN()}}, func(*Meta) {}},
		{"weight overflows float32", &Logistic{Weights: []float64{1e39}}, func(*Meta) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := testMeta()
			tt.patch(&meta)
			err := WriteONNX(&bytes.Buffer{}, tt.m, meta)
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("err = %v, want ErrBadInput", err)
			}
		})
	}
}

func TestReadMetaNotProbe(t *testing.T) {
	dir := t.TempDir()
	plain, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: 8, Graph: &onnxpb.GraphProto{Name: "other"}})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"garbage":              []byte("GGUF\x03\x00\x00\x00 this is no onnx"),
		"onnx without meta":    plain,
		"future probe format":  withProp(t, keyFormat, "2"),
		"feature size not int": withProp(t, keyFeatureSize, "sixty-four"),
		"threshold not float":  withProp(t, keyThreshold, "high"),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadMeta(path); !errors.Is(err, ErrNotProbe) {
				t.Errorf("err = %v, want ErrNotProbe", err)
			}
		})
	}
	if _, err := ReadMeta(filepath.Join(dir, "absent.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: err = %v, want os.ErrNotExist", err)
	}
}

// withProp returns a valid probe with one metadata value replaced.
func withProp(t *testing.T, key, value string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteONNX(&buf, randomLogistic(5, 4), testMeta()); err != nil {
		t.Fatal(err)
	}
	var model onnxpb.ModelProto
	if err := proto.Unmarshal(buf.Bytes(), &model); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range model.GetMetadataProps() {
		if p.GetKey() == key {
			p.Value, found = value, true
		}
	}
	if !found {
		t.Fatalf("no metadata key %q", key)
	}
	b, err := proto.Marshal(&model)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReadONNX feeds arbitrary bytes to the probe reader: it must return an
// error or a usable model, never panic.
func FuzzReadONNX(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteONNX(&buf, randomLogistic(6, 3), testMeta()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, meta, err := ReadONNX(bytes.NewReader(data))
		if err != nil {
			return
		}
		if m.Dim() != meta.FeatureSize {
			t.Fatalf("dim %d but meta feature size %d", m.Dim(), meta.FeatureSize)
		}
		if _, err := m.Predict(make([]float64, m.Dim())); err != nil {
			t.Fatalf("predict on zeros: %v", err)
		}
	})
}

// TestMetaCheck: the check serve (through Runtime.Load) and doctor share.
func TestMetaCheck(t *testing.T) {
	m := Meta{Model: "m", FeatureSize: 8, FeatureKind: FeaturePrompt}
	tests := []struct {
		name  string
		model string
		kind  FeatureKind
		dim   int
		want  string // "" for no error
	}{
		{"ok", "m", FeaturePrompt, 8, ""},
		{"kind and size unchecked", "m", "", 0, ""},
		{"other model", "n", FeaturePrompt, 8, `probe "p.onnx" was trained for local model "m", not "n"`},
		{"other size", "m", FeaturePrompt, 16, `probe "p.onnx" was trained for feature size 8, not 16`},
		{"other kind", "m", FeatureAnswer, 8, `probe "p.onnx" is a pre-generation (prompt) probe, want an answer probe`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Check("p.onnx", tc.model, tc.kind, tc.dim)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrMismatch) || err.Error() != tc.want {
				t.Fatalf("error %v, want %q (ErrMismatch)", err, tc.want)
			}
		})
	}
}

func TestMetaSkipThreshold(t *testing.T) {
	stored := 0.25
	for _, tc := range []struct {
		name       string
		threshold  *float64
		configured float64
		want       float64
		err        bool
	}{
		{"configured wins", &stored, 0.1, 0.1, false},
		{"configured 0", nil, 0, 0, false},
		{"stored", &stored, -1, 0.25, false},
		{"neither", nil, -1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Meta{Threshold: tc.threshold}.SkipThreshold("p.onnx", tc.configured)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("%v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
			if err != nil && err.Error() != "p.onnx has no calibrated threshold: set probe.pregen_threshold" {
				t.Fatalf("error %q", err)
			}
		})
	}
}
