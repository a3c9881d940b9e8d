package onnx

import (
	"fmt"
	"slices"

	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// attrs is a node's attributes by name, read strictly: an attribute the importer does not
// know for the op is refused rather than ignored, since it may change what the op computes.
type attrs map[string]*onnxpb.AttributeProto

func nodeAttrs(n *onnxpb.NodeProto, known ...string) (attrs, error) {
	a := attrs{}
	for _, at := range n.GetAttribute() {
		name := at.GetName()
		switch {
		case at.GetRefAttrName() != "":
			return nil, refuse("attribute %q refers to a function attribute", name)
		case !slices.Contains(known, name):
			return nil, refuse("attribute %q is not supported", name)
		case a[name] != nil:
			return nil, fmt.Errorf("attribute %q given twice", name)
		}
		a[name] = at
	}
	return a, nil
}

func (a attrs) typed(name string, want onnxpb.AttributeProto_AttributeType) (*onnxpb.AttributeProto, error) {
	at := a[name]
	if at == nil {
		return nil, nil
	}
	if at.GetType() != want {
		return nil, fmt.Errorf("attribute %q is %v, want %v", name, at.GetType(), want)
	}
	return at, nil
}

// int returns an INT attribute, or def when it is absent.
func (a attrs) int(name string, def int64) (int64, error) {
	at, err := a.typed(name, onnxpb.AttributeProto_INT)
	if at == nil || err != nil {
		return def, err
	}
	return at.GetI(), nil
}

// ints returns an INTS attribute, or def when it is absent.
func (a attrs) ints(name string, def []int64) ([]int64, error) {
	at, err := a.typed(name, onnxpb.AttributeProto_INTS)
	if at == nil || err != nil {
		return def, err
	}
	return at.GetInts(), nil
}

func (a attrs) float(name string, def float32) (float32, error) {
	at, err := a.typed(name, onnxpb.AttributeProto_FLOAT)
	if at == nil || err != nil {
		return def, err
	}
	return at.GetF(), nil
}

func (a attrs) str(name, def string) (string, error) {
	at, err := a.typed(name, onnxpb.AttributeProto_STRING)
	if at == nil || err != nil {
		return def, err
	}
	return string(at.GetS()), nil
}

func (a attrs) tensor(name string) (*onnxpb.TensorProto, error) {
	at, err := a.typed(name, onnxpb.AttributeProto_TENSOR)
	if at == nil || err != nil {
		return nil, err
	}
	return at.GetT(), nil
}

// flag returns a 0/1 INT attribute as a bool.
func (a attrs) flag(name string) (bool, error) {
	v, err := a.int(name, 0)
	if err == nil && v != 0 && v != 1 {
		err = fmt.Errorf("attribute %q is %d, want 0 or 1", name, v)
	}
	return v == 1, err
}
