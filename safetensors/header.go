package safetensors

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// entry is one tensor as the header describes it, before its data is read.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

// parseHeader parses the JSON header. It walks the tokens itself rather than unmarshalling
// into maps, because encoding/json silently keeps the last of duplicate keys and ignores
// unknown fields, and a strict reader must reject both.
func parseHeader(h []byte) (*File, []entry, error) {
	if !utf8.Valid(h) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("header does not start with '{'")
	}
	p := &parser{dec: json.NewDecoder(bytes.NewReader(h))}
	p.dec.UseNumber()
	f := &File{}
	var entries []entry
	seen := map[string]bool{}
	err := p.object("header", func(key string) error {
		if seen[key] {
			return fmt.Errorf("header has key %q twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			m, err := p.metadata()
			f.Metadata = m
			return err
		}
		e, err := p.tensor(key)
		entries = append(entries, e)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	// The reference writer pads the header with spaces; anything else after the object is junk.
	if rest := bytes.TrimLeft(h[p.dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, nil, fmt.Errorf("header has junk after the JSON object: %q", rest[:min(len(rest), 20)])
	}
	return f, entries, nil
}

// parser walks a JSON header token by token.
type parser struct{ dec *json.Decoder }

func (p *parser) token(what string) (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, fmt.Errorf("header JSON, in %s: %w", what, err)
	}
	return t, nil
}

// delim reads the delimiter want.
func (p *parser) delim(what string, want json.Delim) error {
	t, err := p.token(what)
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("%s: expected '%v', found %v", what, want, describe(t))
	}
	return nil
}

// object reads an object, calling field for each key; field must consume the value.
func (p *parser) object(what string, field func(key string) error) error {
	if err := p.delim(what, '{'); err != nil {
		return err
	}
	for p.dec.More() {
		t, err := p.token(what)
		if err != nil {
			return err
		}
		// The decoder guarantees object keys are strings.
		if err := field(t.(string)); err != nil {
			return err
		}
	}
	return p.delim(what, '}')
}

// str reads a string value.
func (p *parser) str(what string) (string, error) {
	t, err := p.token(what)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("%s: expected a string, found %v", what, describe(t))
	}
	return s, nil
}

// uints reads an array of non-negative integers.
func (p *parser) uints(what string) ([]uint64, error) {
	if err := p.delim(what, '['); err != nil {
		return nil, err
	}
	v := []uint64{}
	for p.dec.More() {
		t, err := p.token(what)
		if err != nil {
			return nil, err
		}
		num, ok := t.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: expected a number, found %v", what, describe(t))
		}
		x, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not a non-negative 64-bit integer", what, num)
		}
		v = append(v, x)
	}
	return v, p.delim(what, ']')
}

// metadata reads the __metadata__ object, which may only map strings to strings.
func (p *parser) metadata() (map[string]string, error) {
	m := map[string]string{}
	err := p.object(metadataKey, func(key string) error {
		if _, dup := m[key]; dup {
			return fmt.Errorf("%s has key %q twice", metadataKey, key)
		}
		v, err := p.str(fmt.Sprintf("%s %q", metadataKey, key))
		m[key] = v
		return err
	})
	return m, err
}

// tensor reads one tensor description: exactly the fields dtype, shape and data_offsets.
func (p *parser) tensor(name string) (entry, error) {
	e := entry{name: name}
	what := fmt.Sprintf("tensor %q", name)
	var haveDType, haveShape, haveOffsets bool
	err := p.object(what, func(key string) error {
		switch key {
		case "dtype":
			if haveDType {
				return fmt.Errorf("%s has dtype twice", what)
			}
			haveDType = true
			s, err := p.str(what + " dtype")
			if err != nil {
				return err
			}
			e.dtype = DType(s)
			if e.dtype.Size() == 0 {
				return fmt.Errorf("%s: unknown dtype %q", what, s)
			}
		case "shape":
			if haveShape {
				return fmt.Errorf("%s has shape twice", what)
			}
			haveShape = true
			dims, err := p.uints(what + " shape")
			if err != nil {
				return err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return fmt.Errorf("%s: dimension %d is too large", what, d)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			if haveOffsets {
				return fmt.Errorf("%s has data_offsets twice", what)
			}
			haveOffsets = true
			off, err := p.uints(what + " data_offsets")
			if err != nil {
				return err
			}
			if len(off) != 2 {
				return fmt.Errorf("%s: data_offsets has %d numbers, want [begin, end]", what, len(off))
			}
			e.begin, e.end = off[0], off[1]
		default:
			return fmt.Errorf("%s: unknown field %q", what, key)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, fmt.Errorf("%s has no dtype", what)
	case !haveShape:
		return e, fmt.Errorf("%s has no shape", what)
	case !haveOffsets:
		return e, fmt.Errorf("%s has no data_offsets", what)
	}
	return e, nil
}

// describe names a token for an error message.
func describe(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		return fmt.Sprintf("'%v'", v)
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	default:
		return fmt.Sprint(v)
	}
}

// checkLayout checks each tensor's offsets against its shape, sorts the entries by offset,
// and checks that they tile the data region from 0 with no overlap and no hole. It returns
// the size of the data region.
func checkLayout(entries []entry) (uint64, error) {
	for _, e := range entries {
		if e.end < e.begin {
			return 0, fmt.Errorf("tensor %q: data_offsets [%d %d] end before they begin", e.name, e.begin, e.end)
		}
		need, err := byteSize(e.dtype, e.shape)
		if err != nil {
			return 0, fmt.Errorf("tensor %q: %w", e.name, err)
		}
		if uint64(need) != e.end-e.begin {
			return 0, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d %d] give %d",
				e.name, e.shape, e.dtype, need, e.begin, e.end, e.end-e.begin)
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	})
	var pos uint64
	for i, e := range entries {
		switch {
		case e.begin > pos:
			return 0, fmt.Errorf("tensor %q: data starts at %d, leaving a %d-byte hole after %s",
				e.name, e.begin, e.begin-pos, previous(entries, i))
		case e.begin < pos:
			return 0, fmt.Errorf("tensor %q: data_offsets [%d %d] overlap tensor %q [%d %d]",
				e.name, e.begin, e.end, entries[i-1].name, entries[i-1].begin, entries[i-1].end)
		}
		pos = e.end
	}
	return pos, nil
}

// previous names what lies before entries[i] in the data region.
func previous(entries []entry, i int) string {
	if i == 0 {
		return "the start of the data region"
	}
	return fmt.Sprintf("tensor %q", entries[i-1].name)
}
