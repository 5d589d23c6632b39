package probe

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/edgecascade/edgecascade/probe/onnxpb"
)

// Names and versions of the ONNX graph WriteONNX writes.
const (
	// InputName is the graph input: float32 [N, D], N dynamic.
	InputName = "features"
	// OutputName is the graph output: float32 [N, 1], the probability of the
	// positive label.
	OutputName = "probability"

	// IRVersion and Opset are the ONNX IR version and default-domain opset
	// of written probes (onnxruntime 1.24 accepts IR 7–13, opsets ≤ 25).
	IRVersion = 8
	Opset     = 13

	weightsName = "weights"
	biasName    = "bias"
	linearName  = "logit_linear"
	logitName   = "logit"

	// maxProbeBytes bounds how much of a file is read: a logistic probe
	// is 4·D bytes plus a few hundred, so anything larger is not a probe
	// (say, a GGUF model given by mistake).
	maxProbeBytes = 64 << 20
)

// FeatureKind says which hidden state a probe reads.
type FeatureKind string

// Feature kinds.
const (
	// FeatureAnswer: the final hidden state after the local answer was
	// generated (scores the answer).
	FeatureAnswer FeatureKind = "answer"
	// FeaturePrompt: the final hidden state of the prompt, before
	// generation (predicts whether to escalate without generating).
	FeaturePrompt FeatureKind = "prompt"
)

// featureKinds lists the kinds WriteONNX accepts.
var featureKinds = []FeatureKind{FeatureAnswer, FeaturePrompt}

// Keys of the ONNX metadata_props written by WriteONNX.
const (
	keyFormat      = "edgecascade.probe_format" // "1": identifies a probe file
	keyModel       = "edgecascade.model"
	keyFeatureSize = "edgecascade.feature_size"
	keyFeatureKind = "edgecascade.feature_kind"
	keyLabel       = "edgecascade.label"
	keyThreshold   = "edgecascade.threshold"
	keyTrainedAt   = "edgecascade.trained_at"
	keyExamples    = "edgecascade.examples"
	keyPositives   = "edgecascade.positives"

	formatVersion = "1"
)

var reservedKeys = []string{keyFormat, keyModel, keyFeatureSize, keyFeatureKind, keyLabel,
	keyThreshold, keyTrainedAt, keyExamples, keyPositives}

// Meta describes what a probe was trained for. It is stored in the ONNX
// model's metadata_props (keys "edgecascade.*", values as text).
type Meta struct {
	// Model is the local model the probe was trained on, as the backend
	// names it (e.g. "qwen2.5:0.5b"). Compared exactly by Runtime.Load.
	Model string
	// FeatureSize is the hidden-state size D. WriteONNX fills it from the
	// Logistic when 0 and refuses a different non-zero value.
	FeatureSize int
	// FeatureKind is the hidden state the probe reads.
	FeatureKind FeatureKind
	// Label says what a positive training label meant (e.g. "correct"); the
	// probe outputs its probability. Optional.
	Label string
	// Threshold is the decision threshold on the probability chosen for
	// this probe, nil when none was chosen. 0 is a valid threshold.
	Threshold *float64
	// TrainedAt is when the probe was trained; stored in UTC to the
	// second, omitted when zero.
	TrainedAt time.Time
	// Examples and Positives count the training rows and the positive ones.
	Examples  int
	Positives int
	// Extra holds further metadata_props, written verbatim (sorted by key).
	// Its keys may not be the ones above.
	Extra map[string]string
}

// clone returns a deep copy of m.
func (m Meta) clone() Meta {
	if m.Threshold != nil {
		t := *m.Threshold
		m.Threshold = &t
	}
	m.Extra = maps.Clone(m.Extra)
	return m
}

// props checks m for writing a probe of dimension d and returns the
// metadata entries in a fixed order.
func (m Meta) props(d int) ([]*onnxpb.StringStringEntryProto, error) {
	switch {
	case strings.TrimSpace(m.Model) == "" || !utf8.ValidString(m.Model):
		return nil, badInput("meta Model %q: want the local model name", m.Model)
	case m.FeatureSize != 0 && m.FeatureSize != d:
		return nil, badInput("meta FeatureSize %d, but the probe has %d weights", m.FeatureSize, d)
	case !slices.Contains(featureKinds, m.FeatureKind):
		return nil, badInput("meta FeatureKind %q: want one of %q", m.FeatureKind, featureKinds)
	case !utf8.ValidString(m.Label):
		return nil, badInput("meta Label is not UTF-8")
	case m.Threshold != nil && !(*m.Threshold >= 0 && *m.Threshold <= 1):
		return nil, badInput("meta Threshold %v: want a probability in [0, 1]", *m.Threshold)
	case m.Examples < 0 || m.Positives < 0 || m.Positives > m.Examples:
		return nil, badInput("meta counts: %d positives of %d examples", m.Positives, m.Examples)
	}
	kv := [][2]string{
		{keyFormat, formatVersion},
		{keyModel, m.Model},
		{keyFeatureSize, strconv.Itoa(d)},
		{keyFeatureKind, string(m.FeatureKind)},
	}
	if m.Label != "" {
		kv = append(kv, [2]string{keyLabel, m.Label})
	}
	if m.Threshold != nil {
		kv = append(kv, [2]string{keyThreshold, strconv.FormatFloat(*m.Threshold, 'g', -1, 64)})
	}
	if !m.TrainedAt.IsZero() {
		kv = append(kv, [2]string{keyTrainedAt, m.TrainedAt.UTC().Format(time.RFC3339)})
	}
	kv = append(kv,
		[2]string{keyExamples, strconv.Itoa(m.Examples)},
		[2]string{keyPositives, strconv.Itoa(m.Positives)})
	extra := make([]string, 0, len(m.Extra))
	for k := range m.Extra {
		if slices.Contains(reservedKeys, k) {
			return nil, badInput("meta Extra key %q is reserved", k)
		}
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(m.Extra[k]) {
			return nil, badInput("meta Extra key %q: want a non-empty UTF-8 key and UTF-8 value", k)
		}
		extra = append(extra, k)
	}
	slices.Sort(extra)
	for _, k := range extra {
		kv = append(kv, [2]string{k, m.Extra[k]})
	}
	out := make([]*onnxpb.StringStringEntryProto, len(kv))
	for i, e := range kv {
		out[i] = &onnxpb.StringStringEntryProto{Key: e[0], Value: e[1]}
	}
	return out, nil
}

// WriteONNX writes m as an ONNX model (IR version 8, opset 13) with meta in
// its metadata_props:
//
//	features float32 [N, D] → MatMul(weights [D,1]) → Add(bias [1]) → Sigmoid → probability float32 [N, 1]
//
// Weights are stored as float32 (raw_data, little-endian). The output is
// deterministic: the same m and meta give the same bytes.
func WriteONNX(w io.Writer, m *Logistic, meta Meta) error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("write onnx probe: %w", err)
	}
	d := m.Dim()
	props, err := meta.props(d)
	if err != nil {
		return fmt.Errorf("write onnx probe: %w", err)
	}
	weights := make([]float32, d)
	for j, v := range m.Weights {
		weights[j] = float32(v)
		if math.IsInf(float64(weights[j]), 0) {
			return fmt.Errorf("write onnx probe: weight %d (%g) overflows float32: %w", j, v, ErrBadInput)
		}
	}
	bias := float32(m.Bias)
	if math.IsInf(float64(bias), 0) {
		return fmt.Errorf("write onnx probe: bias (%g) overflows float32: %w", m.Bias, ErrBadInput)
	}
	model := &onnxpb.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    "edgecascade",
		ProducerVersion: "probe/" + formatVersion,
		DocString:       fmt.Sprintf("logistic-regression %s probe for local model %s", meta.FeatureKind, meta.Model),
		Graph: &onnxpb.GraphProto{
			Name: "probe",
			Node: []*onnxpb.NodeProto{
				{Name: "matmul", OpType: "MatMul", Input: []string{InputName, weightsName}, Output: []string{linearName}},
				{Name: "add", OpType: "Add", Input: []string{linearName, biasName}, Output: []string{logitName}},
				{Name: "sigmoid", OpType: "Sigmoid", Input: []string{logitName}, Output: []string{OutputName}},
			},
			Initializer: []*onnxpb.TensorProto{
				floatTensor(weightsName, []int64{int64(d), 1}, weights),
				floatTensor(biasName, []int64{1}, []float32{bias}),
			},
			Input:  []*onnxpb.ValueInfoProto{floatValueInfo(InputName, d)},
			Output: []*onnxpb.ValueInfoProto{floatValueInfo(OutputName, 1)},
		},
		MetadataProps: props,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(model)
	if err != nil {
		return fmt.Errorf("write onnx probe: marshal: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write onnx probe: %w", err)
	}
	return nil
}

// floatTensor returns a float32 initializer with raw little-endian data.
func floatTensor(name string, dims []int64, data []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{
		Name:     name,
		Dims:     dims,
		DataType: int32(onnxpb.TensorProto_FLOAT),
		RawData:  raw,
	}
}

// floatValueInfo describes a float32 tensor [N, cols] with N dynamic.
func floatValueInfo(name string, cols int) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{
		Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: int32(onnxpb.TensorProto_FLOAT),
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}},
				{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(cols)}},
			}},
		}}},
	}
}

// ReadMeta reads the metadata of the probe at path, without onnxruntime.
// It fails with ErrNotProbe for a file WriteONNX did not write.
func ReadMeta(path string) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, fmt.Errorf("read probe meta: %w", err)
	}
	defer f.Close()
	model, _, err := decodeModel(f)
	if err != nil {
		return Meta{}, fmt.Errorf("read probe meta %q: %w", path, err)
	}
	meta, err := metaOf(model)
	if err != nil {
		return Meta{}, fmt.Errorf("read probe meta %q: %w", path, err)
	}
	return meta, nil
}

// ReadONNX reads a probe written by WriteONNX back into a Logistic (weights
// as stored, i.e. rounded to float32) and its Meta, without onnxruntime. It
// checks the graph is exactly the one WriteONNX writes, so the returned
// Logistic computes what onnxruntime would.
func ReadONNX(r io.Reader) (*Logistic, Meta, error) {
	model, _, err := decodeModel(r)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("read onnx probe: %w", err)
	}
	meta, err := metaOf(model)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("read onnx probe: %w", err)
	}
	m, err := logisticOf(model.GetGraph(), meta.FeatureSize)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("read onnx probe: %w", err)
	}
	return m, meta, nil
}

// decodeModel reads at most maxProbeBytes and unmarshals an ONNX model.
// It returns the bytes too, for onnxruntime.
func decodeModel(r io.Reader) (*onnxpb.ModelProto, []byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxProbeBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxProbeBytes {
		return nil, nil, fmt.Errorf("%w: larger than %d MiB", ErrNotProbe, maxProbeBytes>>20)
	}
	model := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, model); err != nil {
		return nil, nil, fmt.Errorf("%w: not an ONNX model: %v", ErrNotProbe, err)
	}
	return model, b, nil
}

// metaOf parses the metadata_props of a probe and checks the feature size
// against the graph input.
func metaOf(model *onnxpb.ModelProto) (Meta, error) {
	props := make(map[string]string, len(model.GetMetadataProps()))
	for _, p := range model.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	if v, ok := props[keyFormat]; !ok {
		return Meta{}, fmt.Errorf("%w: no %s metadata", ErrNotProbe, keyFormat)
	} else if v != formatVersion {
		return Meta{}, fmt.Errorf("%w: probe format %q, this build reads %q", ErrNotProbe, v, formatVersion)
	}
	var (
		meta Meta
		err  error
	)
	meta.Model = props[keyModel]
	if meta.Model == "" {
		return Meta{}, fmt.Errorf("%w: no %s metadata", ErrNotProbe, keyModel)
	}
	meta.FeatureKind = FeatureKind(props[keyFeatureKind])
	meta.Label = props[keyLabel]
	if meta.FeatureSize, err = atoiProp(props, keyFeatureSize, true); err != nil {
		return Meta{}, err
	}
	if meta.FeatureSize <= 0 {
		return Meta{}, fmt.Errorf("%w: %s is %d", ErrNotProbe, keyFeatureSize, meta.FeatureSize)
	}
	if meta.Examples, err = atoiProp(props, keyExamples, false); err != nil {
		return Meta{}, err
	}
	if meta.Positives, err = atoiProp(props, keyPositives, false); err != nil {
		return Meta{}, err
	}
	if v, ok := props[keyThreshold]; ok {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return Meta{}, fmt.Errorf("%w: %s %q: %v", ErrNotProbe, keyThreshold, v, err)
		}
		meta.Threshold = &t
	}
	if v, ok := props[keyTrainedAt]; ok {
		if meta.TrainedAt, err = time.Parse(time.RFC3339, v); err != nil {
			return Meta{}, fmt.Errorf("%w: %s %q: %v", ErrNotProbe, keyTrainedAt, v, err)
		}
	}
	for k, v := range props {
		if !slices.Contains(reservedKeys, k) {
			if meta.Extra == nil {
				meta.Extra = make(map[string]string)
			}
			meta.Extra[k] = v
		}
	}
	if err := checkIO(model.GetGraph(), meta.FeatureSize); err != nil {
		return Meta{}, err
	}
	return meta, nil
}

func atoiProp(props map[string]string, key string, required bool) (int, error) {
	v, ok := props[key]
	if !ok {
		if required {
			return 0, fmt.Errorf("%w: no %s metadata", ErrNotProbe, key)
		}
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: %v", ErrNotProbe, key, v, err)
	}
	return n, nil
}

// checkIO checks the graph has the input float32 [N, d] and the output
// float32 [N, 1] that Probe.Predict binds.
func checkIO(g *onnxpb.GraphProto, d int) error {
	if len(g.GetInput()) != 1 || len(g.GetOutput()) != 1 {
		return fmt.Errorf("%w: graph has %d inputs and %d outputs, want 1 and 1",
			ErrNotProbe, len(g.GetInput()), len(g.GetOutput()))
	}
	for _, want := range []struct {
		vi   *onnxpb.ValueInfoProto
		name string
		cols int
	}{{g.GetInput()[0], InputName, d}, {g.GetOutput()[0], OutputName, 1}} {
		if want.vi.GetName() != want.name {
			return fmt.Errorf("%w: graph has %q, want %q", ErrNotProbe, want.vi.GetName(), want.name)
		}
		tt := want.vi.GetType().GetTensorType()
		dims := tt.GetShape().GetDim()
		if tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) || len(dims) != 2 ||
			dims[0].GetDimValue() > 1 || dims[1].GetDimValue() != int64(want.cols) {
			return fmt.Errorf("%w: %q is not float32 [N, %d]", ErrNotProbe, want.name, want.cols)
		}
	}
	return nil
}

// logisticOf extracts the weights from a graph, checking it is exactly
// MatMul(features, weights) → Add(bias) → Sigmoid.
func logisticOf(g *onnxpb.GraphProto, d int) (*Logistic, error) {
	want := []struct {
		op     string
		inputs []string
		output string
	}{
		{"MatMul", []string{InputName, weightsName}, linearName},
		{"Add", []string{linearName, biasName}, logitName},
		{"Sigmoid", []string{logitName}, OutputName},
	}
	nodes := g.GetNode()
	if len(nodes) != len(want) {
		return nil, fmt.Errorf("%w: graph has %d nodes, want %d", ErrNotProbe, len(nodes), len(want))
	}
	for i, w := range want {
		n := nodes[i]
		if n.GetOpType() != w.op || n.GetDomain() != "" || len(n.GetAttribute()) != 0 ||
			!slices.Equal(n.GetInput(), w.inputs) || !slices.Equal(n.GetOutput(), []string{w.output}) {
			return nil, fmt.Errorf("%w: node %d is %s%q→%q, want %s%q→%q", ErrNotProbe,
				i, n.GetOpType(), n.GetInput(), n.GetOutput(), w.op, w.inputs, w.output)
		}
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	if len(inits) != 2 {
		return nil, fmt.Errorf("%w: graph has %d initializers, want %s and %s", ErrNotProbe, len(g.GetInitializer()), weightsName, biasName)
	}
	weights, err := floatsOf(inits[weightsName], []int64{int64(d), 1})
	if err != nil {
		return nil, err
	}
	bias, err := floatsOf(inits[biasName], []int64{1})
	if err != nil {
		return nil, err
	}
	m := &Logistic{Weights: make([]float64, d), Bias: float64(bias[0])}
	for j, v := range weights {
		m.Weights[j] = float64(v)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotProbe, err)
	}
	return m, nil
}

// floatsOf returns the data of a float32 tensor with the given dims.
func floatsOf(t *onnxpb.TensorProto, dims []int64) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: missing initializer", ErrNotProbe)
	}
	if t.GetDataType() != int32(onnxpb.TensorProto_FLOAT) || !slices.Equal(t.GetDims(), dims) ||
		t.GetDataLocation() != onnxpb.TensorProto_DEFAULT {
		return nil, fmt.Errorf("%w: initializer %q is not float32 %v", ErrNotProbe, t.GetName(), dims)
	}
	n := 1
	for _, v := range dims {
		n *= int(v)
	}
	if raw := t.GetRawData(); raw != nil {
		if len(raw) != 4*n {
			return nil, fmt.Errorf("%w: initializer %q has %d bytes, want %d", ErrNotProbe, t.GetName(), len(raw), 4*n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if len(t.GetFloatData()) != n {
		return nil, fmt.Errorf("%w: initializer %q has %d values, want %d", ErrNotProbe, t.GetName(), len(t.GetFloatData()), n)
	}
	return slices.Clone(t.GetFloatData()), nil
}
