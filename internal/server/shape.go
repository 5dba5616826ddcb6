package server

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// shape is an answer as a JSON object, being given an older API version's
// form: moby's wire types hold the newest shape only, and dockerd adds and
// drops fields per version on top of them (its compat wrapper). add is
// additive only, as dockerd's: a field the answer has keeps its value.
type shape map[string]any

// shapeOf turns v into a shape; numbers keep their exact digits.
func shapeOf(v any) (shape, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("shape %T: %w", v, err)
	}
	return shape(m), nil
}

// shapesOf turns a list into shapes.
func shapesOf[T any](list []T) ([]shape, error) {
	out := make([]shape, 0, len(list))
	for i := range list {
		s, err := shapeOf(&list[i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// add sets the fields the answer lacks (or has as null); a nested object
// is merged field by field.
func (s shape) add(fields map[string]any) {
	for k, v := range fields {
		if sub, ok := v.(map[string]any); ok {
			if have, ok := s[k].(map[string]any); ok {
				shape(have).add(sub)
				continue
			}
		}
		if have, ok := s[k]; !ok || have == nil {
			s[k] = v
		}
	}
}

// set sets a field whatever the answer had.
func (s shape) set(k string, v any) { s[k] = v }

// omit removes a field, or a nested one with a path ("NetworkSettings",
// "Bridge").
func (s shape) omit(path ...string) {
	m := map[string]any(s)
	for i, k := range path {
		if i == len(path)-1 {
			delete(m, k)
			return
		}
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
}

// object is the nested object at k, or nil.
func (s shape) object(k string) shape {
	m, _ := s[k].(map[string]any)
	return shape(m)
}
