package anthropicwire

import (
	"bytes"
	"errors"

	"github.com/go-json-experiment/json/jsontext"
)

// Member is a member of a JSON object: a name and its encoded value. A
// nil Value in a Patch deletes the member.
type Member struct {
	Name  string
	Value jsontext.Value
}

var errNotObject = errors.New("not a JSON object")

// Patch appends obj to dst with some of its top-level members replaced:
// each member named in set takes the new value, in place, and those obj
// lacks are added at the end; a member whose new value is nil is removed.
// Every other byte of obj is kept, in order, so a client's body reaches a
// provider of its own dialect unchanged but for the patched members.
func Patch(dst []byte, obj jsontext.Value, set ...Member) ([]byte, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return dst, errNotObject
	}
	done := make([]bool, len(set))
	dst = append(dst, '{')
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return dst, err
		}
		name := tok.String()
		val, err := dec.ReadValue()
		if err != nil {
			return dst, err
		}
		i := indexOf(set, name)
		if i >= 0 {
			done[i] = true
			val = set[i].Value
			if val == nil {
				continue
			}
		}
		sep()
		dst, _ = jsontext.AppendQuote(dst, name)
		dst = append(dst, ':')
		dst = append(dst, val...)
	}
	if _, err := dec.ReadToken(); err != nil {
		return dst, err
	}
	for i, m := range set {
		if done[i] || m.Value == nil {
			continue
		}
		sep()
		dst, _ = jsontext.AppendQuote(dst, m.Name)
		dst = append(dst, ':')
		dst = append(dst, m.Value...)
	}
	return append(dst, '}'), nil
}

// Get returns the value of the top-level member name of obj, or nil.
func Get(obj jsontext.Value, name string) jsontext.Value {
	dec := jsontext.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil
		}
		if tok.String() == name {
			v, err := dec.ReadValue()
			if err != nil {
				return nil
			}
			return v.Clone()
		}
		if err := dec.SkipValue(); err != nil {
			return nil
		}
	}
	return nil
}

func indexOf(set []Member, name string) int {
	for i := range set {
		if set[i].Name == name {
			return i
		}
	}
	return -1
}

// Quote returns s as an encoded JSON string.
func Quote(s string) jsontext.Value {
	b, _ := jsontext.AppendQuote(make([]byte, 0, len(s)+2), s)
	return b
}

// ToolInput turns tool-call arguments (JSON text) into a tool_use input
// object: "" becomes {}. Models sometimes produce arguments that are not a
// JSON object; those are wrapped as {"_raw": "<text>"} rather than passed
// on as something no Anthropic client or server accepts.
func ToolInput(args string) jsontext.Value {
	v := jsontext.Value(args)
	switch {
	case args == "":
		return jsontext.Value("{}")
	case v.Kind() == '{' && v.IsValid():
		return v
	}
	b := append([]byte(`{"_raw":`), Quote(args)...)
	return append(b, '}')
}
