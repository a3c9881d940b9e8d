package nin

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/ninedge/ninedge/safetensors"
)

// Float model file format: safetensors with these metadata keys. Weights are "<layer>.weight"
// (OIHW; fc: [out, h·w·c] in HWC flatten order) and "<layer>.bias"; preprocessing tensors are
// "preprocess.*".
const (
	FormatFloat   = "ninedge-float"
	FormatVersion = 1
)

// Model is a float NIN: its architecture, class names, preprocessing and parameters.
type Model struct {
	Spec    Spec
	Classes []string
	Pre     Preprocess
	// Weights[i] is layer i's weights in HWIO (nil for layers without weights); Biases[i] its bias.
	Weights [][]float32
	Biases  [][]float32
}

// NewModel allocates a model with zero parameters.
func NewModel(spec Spec, classes []string, pre Preprocess) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if len(classes) != spec.Classes {
		return nil, fmt.Errorf("model %s: %d class names for %d classes", spec.Name, len(classes), spec.Classes)
	}
	m := &Model{Spec: spec, Classes: classes, Pre: pre,
		Weights: make([][]float32, len(spec.Layers)), Biases: make([][]float32, len(spec.Layers))}
	for i, l := range spec.Layers {
		if l.HasWeights() {
			w := spec.WeightShape(i)
			m.Weights[i] = make([]float32, w[0]*w[1]*w[2]*w[3])
			m.Biases[i] = make([]float32, w[3])
		}
	}
	return m, nil
}

// InitHe fills the weights with He-normal values (right for ReLU networks) and zero biases.
func (m *Model) InitHe(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x6e696e))
	for i := range m.Spec.Layers {
		w := m.Weights[i]
		if w == nil {
			continue
		}
		ws := m.Spec.WeightShape(i)
		std := sqrt32(2 / float32(ws[0]*ws[1]*ws[2]))
		for j := range w {
			w[j] = float32(r.NormFloat64()) * std
		}
		clear(m.Biases[i])
	}
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// NumberedClasses names classes "0", "1", ... for data sets without names.
func NumberedClasses(n int) []string {
	c := make([]string, n)
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}

// HWIOToOIHW and OIHWToHWIO convert weights of HWIO shape s between the in-memory and the
// file layout.
func HWIOToOIHW[T any](w []T, s [4]int) []T { return relayout(w, s, true) }

func OIHWToHWIO[T any](w []T, s [4]int) []T { return relayout(w, s, false) }

func relayout[T any](w []T, s [4]int, toOIHW bool) []T {
	kh, kw, ci, co := s[0], s[1], s[2], s[3]
	out := make([]T, len(w))
	for y := 0; y < kh; y++ {
		for x := 0; x < kw; x++ {
			for i := 0; i < ci; i++ {
				for o := 0; o < co; o++ {
					hwio, oihw := ((y*kw+x)*ci+i)*co+o, ((o*ci+i)*kh+y)*kw+x
					if toOIHW {
						out[oihw] = w[hwio]
					} else {
						out[hwio] = w[oihw]
					}
				}
			}
		}
	}
	return out
}

// FileWeightShape is the shape a layer's weight tensor has in a file.
func (s Spec) FileWeightShape(i int) []int {
	w := s.WeightShape(i)
	if s.Layers[i].Kind == FC {
		return []int{w[3], w[2]}
	}
	return []int{w[3], w[2], w[0], w[1]}
}

// SetWeightsOIHW sets layer i's weights from the file (OIHW) layout.
func (m *Model) SetWeightsOIHW(i int, w []float32) {
	m.Weights[i] = OIHWToHWIO(w, m.Spec.WeightShape(i))
}

// WeightsOIHW returns layer i's weights in the file layout.
func (m *Model) WeightsOIHW(i int) []float32 {
	return HWIOToOIHW(m.Weights[i], m.Spec.WeightShape(i))
}

// Header starts a model file of the given format: the metadata every ninedge model carries
// (spec, class names, preprocessing) and the preprocessing tensors. The int8 format shares it.
func Header(format string, version int, spec Spec, classes []string, pre Preprocess) (*safetensors.File, error) {
	sj, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cj, err := json.Marshal(classes)
	if err != nil {
		return nil, err
	}
	pj, tensors, err := pre.encode()
	if err != nil {
		return nil, err
	}
	return &safetensors.File{Metadata: map[string]string{
		"format":         format,
		"format_version": strconv.Itoa(version),
		"spec":           string(sj),
		"classes":        string(cj),
		"preprocess":     pj,
	}, Tensors: tensors}, nil
}

// File returns the model as a safetensors file.
func (m *Model) File() (*safetensors.File, error) {
	f, err := Header(FormatFloat, FormatVersion, m.Spec, m.Classes, m.Pre)
	if err != nil {
		return nil, err
	}
	for i, l := range m.Spec.Layers {
		if !l.HasWeights() {
			continue
		}
		f.Tensors = append(f.Tensors,
			safetensors.F32(l.Name+".weight", m.Spec.FileWeightShape(i), m.WeightsOIHW(i)),
			safetensors.F32(l.Name+".bias", []int{l.Out}, m.Biases[i]))
	}
	return f, nil
}

// Fingerprint identifies the model's parameters: "sha256:" and the hex SHA-256 over, for
// each layer with weights in order, its name, its weight tensor (file layout: OIHW, fc
// [out, h·w·c]) and its bias as little-endian float32. An int8 file records its float
// model's fingerprint, so that a report can refuse to compare it with another float model.
func (m *Model) Fingerprint() string {
	h := sha256.New()
	var buf []byte
	for i, l := range m.Spec.Layers {
		if !l.HasWeights() {
			continue
		}
		buf = append(buf[:0], l.Name...)
		buf = append(buf, 0)
		for _, v := range slices.Concat(m.WeightsOIHW(i), m.Biases[i]) {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Save writes the model atomically (a temporary file renamed into place).
func (m *Model) Save(path string) error {
	f, err := m.File()
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// Load reads a float model file.
func Load(path string) (*Model, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// formatWords name the float and the int8 (package quant) formats in a user's words, for the
// common mistake of giving one where the other is wanted.
var formatWords = map[string]string{FormatFloat: "a float model", "ninedge-int8": "an int8 model"}

// HeaderOf checks a model file's format and version and reads its spec, classes and
// preprocessing.
func HeaderOf(f *safetensors.File, format string, version int) (Spec, []string, Preprocess, error) {
	switch got := f.Metadata["format"]; got {
	case format:
	case "":
		return Spec{}, nil, Preprocess{}, fmt.Errorf("not a ninedge model: no \"format\" in its metadata")
	default:
		if got, want := formatWords[got], formatWords[format]; got != "" && want != "" {
			return Spec{}, nil, Preprocess{}, fmt.Errorf("this is %s, where %s is wanted", got, want)
		}
		return Spec{}, nil, Preprocess{}, fmt.Errorf("model format is %q, want %q", got, format)
	}
	if v := f.Metadata["format_version"]; v != strconv.Itoa(version) {
		return Spec{}, nil, Preprocess{}, fmt.Errorf("%s format version %q not supported (want %d)", format, v, version)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(f.Metadata["spec"]), &spec); err != nil {
		return Spec{}, nil, Preprocess{}, fmt.Errorf("metadata spec: %w", err)
	}
	var classes []string
	if err := json.Unmarshal([]byte(f.Metadata["classes"]), &classes); err != nil {
		return Spec{}, nil, Preprocess{}, fmt.Errorf("metadata classes: %w", err)
	}
	if len(classes) != spec.Classes {
		return Spec{}, nil, Preprocess{}, fmt.Errorf("metadata: %d class names for %d classes", len(classes), spec.Classes)
	}
	pre, err := decodePreprocess(f.Metadata["preprocess"], f, spec.Input)
	if err != nil {
		return Spec{}, nil, Preprocess{}, err
	}
	return spec, classes, pre, nil
}

// FromFile builds a model from a decoded float model file, checking every tensor.
func FromFile(f *safetensors.File) (*Model, error) {
	spec, classes, pre, err := HeaderOf(f, FormatFloat, FormatVersion)
	if err != nil {
		return nil, err
	}
	m, err := NewModel(spec, classes, pre)
	if err != nil {
		return nil, err
	}
	for i, l := range spec.Layers {
		if !l.HasWeights() {
			continue
		}
		w, err := TensorF32(f, l.Name+".weight", spec.FileWeightShape(i)...)
		if err != nil {
			return nil, err
		}
		b, err := TensorF32(f, l.Name+".bias", l.Out)
		if err != nil {
			return nil, err
		}
		m.SetWeightsOIHW(i, w)
		m.Biases[i] = b
	}
	return m, nil
}

// TensorF32 returns a float32 tensor of the expected shape, or an error naming what is wrong;
// NaN and infinities are refused, as no trained weight or statistic is either.
func TensorF32(f *safetensors.File, name string, shape ...int) ([]float32, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	if err := t.CheckShape(shape...); err != nil {
		return nil, err
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("tensor %s: value %d is %v", name, i, x)
		}
	}
	return v, nil
}
