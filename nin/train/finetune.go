package train

import (
	"fmt"
	"slices"

	"github.com/ninedge/ninedge/nin"
)

// Retarget returns a copy of m for new classes: every layer as trained but the classifier,
// the last layer with weights (cccp6 in NIN, whose outputs are the class scores), which gets
// one output per class and fresh He-normal weights from seed. Fine-tuning then starts from
// m's features and preprocessing.
func Retarget(m *nin.Model, classes []string, seed uint64) (*nin.Model, error) {
	s := m.Spec
	last := -1
	for i, l := range s.Layers {
		if l.HasWeights() {
			last = i
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("retarget %s: no layer with weights", s.Name)
	}
	s.Layers = slices.Clone(s.Layers)
	s.Layers[last].Out, s.Classes = len(classes), len(classes)
	out, err := nin.NewModel(s, classes, m.Pre)
	if err != nil {
		return nil, fmt.Errorf("retarget %s: %w", m.Spec.Name, err)
	}
	out.InitHe(seed)
	for i := range last {
		if m.Weights[i] != nil {
			copy(out.Weights[i], m.Weights[i])
			copy(out.Biases[i], m.Biases[i])
		}
	}
	return out, nil
}
