package train

import (
	"fmt"

	"github.com/ninedge/ninedge/nin"
)

// Retarget returns a copy of m for new classes: every layer as trained but the classifier,
// the last layer with weights (cccp6 in NIN, whose outputs are the class scores), which gets
// one output per class and fresh He-normal weights from seed. Fine-tuning then starts from
// m's features and preprocessing.
func Retarget(m *nin.Model, classes []string, seed uint64) (*nin.Model, error) {
	s, err := m.Spec.WithClasses(len(classes))
	if err != nil {
		return nil, fmt.Errorf("retarget: %w", err)
	}
	out, err := nin.NewModel(s, classes, m.Pre)
	if err != nil {
		return nil, fmt.Errorf("retarget: %w", err)
	}
	out.InitHe(seed)
	last := len(m.Weights) - 1
	for m.Weights[last] == nil {
		last--
	}
	for i := range last {
		if m.Weights[i] != nil {
			copy(out.Weights[i], m.Weights[i])
			copy(out.Biases[i], m.Biases[i])
		}
	}
	return out, nil
}
