package gemini

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"
)

// A small ordered JSON tree for the schema reducer: JSON Schemas must keep
// their property order (it is the order the model writes arguments in),
// which map[string]any loses.
//
// Values are object, []any, string, number, bool or nil.
type (
	object []member
	member struct {
		name  string
		value any
	}
	// number is a JSON number, kept as written.
	number string
)

// get returns the value of the named member.
func (o object) get(name string) (any, bool) {
	for _, m := range o {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// parseJSON reads the first JSON value of data (a jsontext.Value the
// ingress already checked). Duplicate member names are an error, as they
// are for Google's parser.
func parseJSON(data []byte) (any, error) {
	return parseValue(jsontext.NewDecoder(bytes.NewReader(data)))
}

func parseValue(d *jsontext.Decoder) (any, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '{':
		var o object
		for d.PeekKind() != '}' {
			tok, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			name := tok.String() // before the decoder moves on and voids tok
			v, err := parseValue(d)
			if err != nil {
				return nil, err
			}
			o = append(o, member{name, v})
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		if o == nil {
			o = object{}
		}
		return o, nil
	case '[':
		a := []any{}
		for d.PeekKind() != ']' {
			v, err := parseValue(d)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		return a, nil
	case '"':
		return tok.String(), nil
	case '0':
		return number(tok.String()), nil
	case 't', 'f':
		return tok.Bool(), nil
	default:
		return nil, nil
	}
}
