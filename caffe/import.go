package caffe

import (
	"fmt"

	"github.com/ninedge/ninedge/nin"
)

// Import copies the weights of a Caffe net into a model of the given spec, matching layers
// by name (the built-in specs use the authors' names: conv1, cccp1, ...). Every weighted
// layer of the spec must be found with exactly the expected shapes.
func Import(net *Net, spec nin.Spec, classes []string, pre nin.Preprocess) (*nin.Model, error) {
	m, err := nin.NewModel(spec, classes, pre)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Layer{}
	for i := range net.Layers {
		if len(net.Layers[i].Blobs) > 0 {
			byName[net.Layers[i].Name] = &net.Layers[i]
		}
	}
	for i, l := range spec.Layers {
		if !l.HasWeights() {
			continue
		}
		cl, ok := byName[l.Name]
		if !ok {
			return nil, fmt.Errorf("caffe import: layer %s not in the caffe model", l.Name)
		}
		if len(cl.Blobs) != 2 {
			return nil, fmt.Errorf("caffe import: layer %s has %d blobs, want weights and bias", l.Name, len(cl.Blobs))
		}
		want := spec.FileWeightShape(i)
		if !sameDims(cl.Blobs[0].Shape, want) {
			return nil, fmt.Errorf("caffe import: layer %s weights %v, want %v", l.Name, cl.Blobs[0].Shape, want)
		}
		if len(cl.Blobs[1].Data) != l.Out {
			return nil, fmt.Errorf("caffe import: layer %s bias has %d values, want %d", l.Name, len(cl.Blobs[1].Data), l.Out)
		}
		m.SetWeightsOIHW(i, cl.Blobs[0].Data)
		copy(m.Biases[i], cl.Blobs[1].Data)
		delete(byName, l.Name)
	}
	for name := range byName {
		return nil, fmt.Errorf("caffe import: caffe layer %s has weights but no layer of spec %s matches it", name, spec.Name)
	}
	return m, nil
}

// sameDims compares shapes ignoring leading 1s, since Caffe pads shapes to four dimensions
// (an fc weight is stored as 1×1×out×in).
func sameDims(got, want []int) bool {
	trim := func(s []int) []int {
		for len(s) > 0 && s[0] == 1 {
			s = s[1:]
		}
		return s
	}
	g, w := trim(got), trim(want)
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if g[i] != w[i] {
			return false
		}
	}
	return true
}
