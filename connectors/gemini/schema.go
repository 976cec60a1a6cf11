package gemini

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Gemini takes function parameters and response schemas in an OpenAPI 3.0
// subset and rejects the request (400 "Unknown name …", "type: must be
// specified …", "properties: should be non-empty for OBJECT type") for
// anything else. Clients send full JSON Schema (MCP servers, Pydantic, Zod),
// so every schema goes through reduceSchema, which:
//
//   - keeps only the keywords Gemini accepts, recursing into properties,
//     items and anyOf;
//   - inlines local $ref ("#/$defs/X", "#/definitions/X", any JSON
//     pointer), cutting recursive references off as a free-form object, and
//     rejects remote ones with a 400 that names the tool;
//   - merges allOf, reads oneOf as anyOf, and turns anyOf [X, null] and
//     type [X, "null"] into X + nullable;
//   - gives every node a type (inferred from its keywords; a schema with no
//     constraint becomes STRING, the one type any value can be written as);
//   - keeps enum on strings only: string enums stay, enums of a numeric or
//     boolean type move into the description (so the model still sends a
//     number, which is what the tool validates), other enums are
//     stringified;
//   - keeps only the formats Gemini knows for the type, patterns Google's
//     RE2 engine compiles, required names that are declared properties, and
//     drops empty properties.

// schema is one node of a reduced schema, in the field names Gemini reads.
type schema struct {
	AnyOf         []*schema  `json:"anyOf,omitzero"`
	Type          string     `json:"type,omitzero"`
	Format        string     `json:"format,omitzero"`
	Description   string     `json:"description,omitzero"`
	Nullable      bool       `json:"nullable,omitzero"`
	Enum          []string   `json:"enum,omitzero"`
	Properties    properties `json:"properties,omitzero"`
	Required      []string   `json:"required,omitzero"`
	MinProperties number     `json:"minProperties,omitzero"`
	MaxProperties number     `json:"maxProperties,omitzero"`
	Items         *schema    `json:"items,omitzero"`
	MinItems      number     `json:"minItems,omitzero"`
	MaxItems      number     `json:"maxItems,omitzero"`
	MinLength     number     `json:"minLength,omitzero"`
	MaxLength     number     `json:"maxLength,omitzero"`
	Pattern       string     `json:"pattern,omitzero"`
	Minimum       number     `json:"minimum,omitzero"`
	Maximum       number     `json:"maximum,omitzero"`

	enumTyped bool     // Enum came with non-string values
	enumRaw   []string // Enum values as JSON text, for descriptions
	// bare marks a node that constrained nothing (no type, no structure):
	// a union with such a branch admits anything.
	bare bool
}

// property is one entry of properties, in the client's order.
type property struct {
	name   string
	schema *schema
}

type properties []property

// MarshalJSONTo writes properties as an object in order.
func (ps properties) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return err
	}
	for _, p := range ps {
		if err := enc.WriteToken(jsontext.String(p.name)); err != nil {
			return err
		}
		if err := json.MarshalEncode(enc, p.schema); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndObject)
}

// MarshalJSONTo writes a number as written by the client.
func (n number) MarshalJSONTo(enc *jsontext.Encoder) error {
	return enc.WriteValue(jsontext.Value(n))
}

// Limits that keep a hostile schema from costing the gateway much.
const (
	maxSchemaDepth = 64
	maxSchemaNodes = 5000
)

// schemaError is a schema Gemini cannot be given; the caller turns it into
// a 400 naming the tool.
type schemaError struct{ msg string }

func (e *schemaError) Error() string { return e.msg }

func schemaErrorf(at, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if at != "" {
		msg = at + ": " + msg
	}
	return &schemaError{msg}
}

// reducer holds the state of one reduction.
type reducer struct {
	root   any             // the whole document, for $ref
	active map[string]bool // $refs being inlined, to cut cycles
	depth  int
	nodes  int
}

// reduceSchema reduces a JSON Schema for Gemini. It returns the reduced
// node, or an error whose message locates the problem.
func reduceSchema(raw jsontext.Value) (*schema, error) {
	doc, err := parseJSON(raw)
	if err != nil {
		return nil, schemaErrorf("", "not valid JSON: %v", err)
	}
	r := &reducer{root: doc}
	return r.node(doc, "")
}

// node reduces one schema and completes it (type, enum, keyword fit).
func (r *reducer) node(v any, at string) (*schema, error) {
	s, err := r.collect(v, at)
	if err != nil {
		return nil, err
	}
	finish(s)
	return s, nil
}

// collect translates the keywords of one schema, without the defaults
// finish adds, so that $ref siblings and allOf members can be merged first.
func (r *reducer) collect(v any, at string) (*schema, error) {
	r.depth++
	defer func() { r.depth-- }()
	r.nodes++
	if r.depth > maxSchemaDepth {
		return nil, schemaErrorf(at, "nested more than %d levels deep", maxSchemaDepth)
	}
	if r.nodes > maxSchemaNodes {
		return nil, schemaErrorf(at, "more than %d schemas once $ref is inlined", maxSchemaNodes)
	}
	var o object
	switch v := v.(type) {
	case bool:
		if !v {
			return nil, schemaErrorf(at, "the schema false (no value allowed) has no Gemini equivalent")
		}
		return &schema{}, nil
	case object:
		o = v
	default:
		return nil, schemaErrorf(at, "a schema must be a JSON object")
	}

	s := &schema{}
	if ref, ok := o.get("$ref"); ok {
		target, err := r.ref(ref, at)
		if err != nil {
			return nil, err
		}
		s = target
	}
	var allOf []*schema
	for _, m := range o {
		here := join(at, m.name)
		switch m.name {
		case "type":
			typeKeyword(s, m.value)
		case "description":
			if d, ok := m.value.(string); ok && d != "" {
				s.Description = d
			}
		case "nullable":
			if b, ok := m.value.(bool); ok && b {
				s.Nullable = true
			}
		case "enum":
			if a, ok := m.value.([]any); ok {
				s.Enum, s.enumRaw, s.enumTyped = nil, nil, false
				for _, e := range a {
					enumValue(s, e)
				}
			}
		case "const":
			s.Enum, s.enumRaw, s.enumTyped = nil, nil, false
			enumValue(s, m.value)
		case "format":
			if f, ok := m.value.(string); ok {
				s.Format = f
			}
		case "pattern":
			// Google validates patterns with RE2; one it cannot compile
			// fails the whole request.
			if p, ok := m.value.(string); ok {
				if _, err := regexp.Compile(p); err == nil {
					s.Pattern = p
				}
			}
		case "properties":
			props, ok := m.value.(object)
			if !ok {
				return nil, schemaErrorf(here, "properties must be an object")
			}
			for _, p := range props {
				child, err := r.node(p.value, join(here, p.name))
				if err != nil {
					return nil, err
				}
				s.Properties = setProperty(s.Properties, p.name, child)
			}
		case "required":
			if a, ok := m.value.([]any); ok {
				for _, e := range a {
					if name, ok := e.(string); ok {
						s.Required = appendUnique(s.Required, name)
					}
				}
			}
		case "items", "prefixItems":
			if m.name == "prefixItems" && s.Items != nil {
				continue // items wins
			}
			items, err := r.items(m.value, here)
			if err != nil {
				return nil, err
			}
			if items != nil {
				s.Items = items
			}
		case "anyOf", "oneOf":
			a, ok := m.value.([]any)
			if !ok {
				return nil, schemaErrorf(here, "%s must be an array", m.name)
			}
			for i, e := range a {
				child, err := r.node(e, here+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
				s.AnyOf = append(s.AnyOf, child)
			}
		case "allOf":
			a, ok := m.value.([]any)
			if !ok {
				return nil, schemaErrorf(here, "allOf must be an array")
			}
			for i, e := range a {
				child, err := r.collect(e, here+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
				allOf = append(allOf, child)
			}
		case "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
			if n, ok := m.value.(number); ok && isCount(n) {
				*countField(s, m.name) = n
			}
		case "minimum", "maximum":
			if n, ok := m.value.(number); ok {
				if m.name == "minimum" {
					s.Minimum = n
				} else {
					s.Maximum = n
				}
			}
		}
		// Everything else ($schema, $id, $defs, definitions, title, default,
		// examples, additionalProperties, const-like annotations, if/then,
		// exclusive bounds, …) is dropped: Gemini rejects it.
	}
	for _, m := range allOf {
		merge(s, m)
	}
	return s, nil
}

// items reduces items or prefixItems; a tuple becomes anyOf its members.
func (r *reducer) items(v any, at string) (*schema, error) {
	a, ok := v.([]any)
	if !ok {
		return r.node(v, at)
	}
	var out []*schema
	for i, e := range a {
		child, err := r.node(e, at+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out = append(out, child)
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		return out[0], nil
	}
	s := &schema{AnyOf: out}
	finish(s)
	return s, nil
}

// ref inlines a local reference.
func (r *reducer) ref(v any, at string) (*schema, error) {
	ref, ok := v.(string)
	if !ok {
		return nil, schemaErrorf(at, "$ref must be a string")
	}
	if !strings.HasPrefix(ref, "#") {
		return nil, schemaErrorf(at, "$ref %q points outside the schema; only local references (#/$defs/…) can be inlined for Gemini", ref)
	}
	if r.active[ref] {
		// A recursive structure (a tree, a linked list) cannot be written
		// out in full; below the first level it is a free-form object.
		return &schema{Type: "OBJECT"}, nil
	}
	target, err := resolvePointer(r.root, ref[1:])
	if err != nil {
		return nil, schemaErrorf(at, "$ref %q does not resolve: %v", ref, err)
	}
	if r.active == nil {
		r.active = make(map[string]bool)
	}
	r.active[ref] = true
	defer delete(r.active, ref)
	return r.collect(target, at)
}

// resolvePointer follows a URI-fragment JSON pointer ("/$defs/Address").
func resolvePointer(doc any, fragment string) (any, error) {
	ptr, err := url.PathUnescape(fragment)
	if err != nil {
		return nil, err
	}
	if ptr == "" {
		return doc, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("not a JSON pointer")
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case object:
			v, ok := c.get(tok)
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no element %q", tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("cannot descend into %q", tok)
		}
	}
	return cur, nil
}

// typeKeyword reads "type": a name, or an array of names (a union).
func typeKeyword(s *schema, v any) {
	var names []string
	switch t := v.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, e := range t {
			if n, ok := e.(string); ok {
				names = append(names, n)
			}
		}
	}
	var types []string
	for _, n := range names {
		switch g := geminiType(n); g {
		case "":
		case "NULL":
			s.Nullable = true
		default:
			types = appendUnique(types, g)
		}
	}
	switch len(types) {
	case 0:
		if len(names) == 1 && geminiType(names[0]) == "NULL" {
			s.Type = "NULL"
		}
	case 1:
		s.Type = types[0]
	default:
		s.Type = ""
		for _, t := range types {
			s.AnyOf = append(s.AnyOf, &schema{Type: t})
		}
	}
}

func geminiType(name string) string {
	switch strings.ToLower(name) {
	case "string":
		return "STRING"
	case "number":
		return "NUMBER"
	case "integer":
		return "INTEGER"
	case "boolean":
		return "BOOLEAN"
	case "object":
		return "OBJECT"
	case "array":
		return "ARRAY"
	case "null":
		return "NULL"
	}
	return ""
}

// enumValue adds one enum (or const) value.
func enumValue(s *schema, v any) {
	switch e := v.(type) {
	case nil:
		s.Nullable = true
	case string:
		s.Enum = append(s.Enum, e)
		s.enumRaw = append(s.enumRaw, strconv.Quote(e))
	case number:
		s.Enum = append(s.Enum, string(e))
		s.enumRaw = append(s.enumRaw, string(e))
		s.enumTyped = true
	case bool:
		s.Enum = append(s.Enum, strconv.FormatBool(e))
		s.enumRaw = append(s.enumRaw, strconv.FormatBool(e))
		s.enumTyped = true
	}
	// Objects and arrays as enum values have no Gemini form: dropped.
}

// merge folds allOf member (or $ref target) b into a: properties and
// required are united, other keywords of b fill what a lacks.
func merge(a, b *schema) {
	for _, p := range b.Properties {
		a.Properties = setProperty(a.Properties, p.name, p.schema)
	}
	for _, n := range b.Required {
		a.Required = appendUnique(a.Required, n)
	}
	if a.Type == "" {
		a.Type = b.Type
	}
	if a.Description == "" {
		a.Description = b.Description
	}
	a.Nullable = a.Nullable || b.Nullable
	if a.Enum == nil {
		a.Enum, a.enumRaw, a.enumTyped = b.Enum, b.enumRaw, b.enumTyped
	}
	if a.Items == nil {
		a.Items = b.Items
	}
	if a.AnyOf == nil {
		a.AnyOf = b.AnyOf
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&a.Format, b.Format)
	fill(&a.Pattern, b.Pattern)
	for _, f := range []struct{ dst, src *number }{
		{&a.MinItems, &b.MinItems}, {&a.MaxItems, &b.MaxItems},
		{&a.MinLength, &b.MinLength}, {&a.MaxLength, &b.MaxLength},
		{&a.MinProperties, &b.MinProperties}, {&a.MaxProperties, &b.MaxProperties},
		{&a.Minimum, &b.Minimum}, {&a.Maximum, &b.Maximum},
	} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
}

// finish completes a collected node: anyOf simplification, a type for
// every node, enum and format rules, and only the keywords of its type.
func finish(s *schema) {
	simplifyAnyOf(s)
	if s.Type == "" && len(s.AnyOf) == 0 {
		s.bare = isBare(s)
		s.Type = inferType(s)
	}

	switch {
	case len(s.Enum) == 0:
	case s.Type == "STRING" && !s.enumTyped:
	case s.Type == "INTEGER" || s.Type == "NUMBER" || s.Type == "BOOLEAN":
		note := "Allowed values: " + strings.Join(s.enumRaw, ", ") + "."
		if s.Description != "" {
			note = s.Description + " " + note
		}
		s.Description, s.Enum = note, nil
	default:
		s.Type = "STRING" // a mixed or untyped enum: its values as strings
	}

	if !formatAllowed(s.Type, s.Format) {
		s.Format = ""
	}
	if s.Type != "OBJECT" {
		s.Properties, s.Required, s.MinProperties, s.MaxProperties = nil, nil, "", ""
	} else {
		if len(s.Properties) == 0 {
			s.Properties = nil
		}
		s.Required = declared(s.Required, s.Properties)
	}
	if s.Type != "ARRAY" {
		s.Items, s.MinItems, s.MaxItems = nil, "", ""
	} else if s.Items == nil {
		s.Items = &schema{Type: "STRING"}
	}
	if s.Type != "STRING" {
		s.MinLength, s.MaxLength, s.Pattern = "", "", ""
	}
	if s.Type != "NUMBER" && s.Type != "INTEGER" {
		s.Minimum, s.Maximum = "", ""
	}
	if s.Type != "STRING" || len(s.Enum) == 0 {
		s.Enum = nil
	}
}

// simplifyAnyOf drops null branches (making the node nullable), inlines a
// single remaining branch, folds branches that are all plain string enums
// (anyOf of consts) into one enum, and drops a union that admits anything.
func simplifyAnyOf(s *schema) {
	if len(s.AnyOf) == 0 {
		return
	}
	var keep []*schema
	for _, b := range s.AnyOf {
		if b.Type == "NULL" && len(b.AnyOf) == 0 {
			s.Nullable = true
			continue
		}
		keep = append(keep, b)
	}
	s.AnyOf = keep
	switch {
	case len(keep) == 0:
		s.AnyOf = nil
	case len(keep) == 1:
		own := *s
		own.AnyOf = nil
		*s = *keep[0]
		merge(s, &own)
		if own.Description != "" {
			s.Description = own.Description
		}
	case allStringEnums(keep):
		s.AnyOf = nil
		s.Type = "STRING"
		s.Enum, s.enumRaw = nil, nil
		for _, b := range keep {
			s.Enum = append(s.Enum, b.Enum...)
			s.enumRaw = append(s.enumRaw, b.enumRaw...)
		}
	case s.Type != "":
		// type plus anyOf: when the node has its own structure, or a branch
		// is only a constraint (anyOf [{required:[a]},{required:[b]}]), the
		// type says enough; otherwise the branches do.
		if s.Properties != nil || s.Items != nil || hasBareBranch(keep) {
			s.AnyOf = nil
		} else {
			s.Type = ""
		}
	}
}

func allStringEnums(bs []*schema) bool {
	for _, b := range bs {
		if b.Type != "STRING" || len(b.Enum) == 0 || b.Properties != nil || b.Items != nil || len(b.AnyOf) > 0 {
			return false
		}
	}
	return true
}

func hasBareBranch(bs []*schema) bool {
	for _, b := range bs {
		if b.bare {
			return true
		}
	}
	return false
}

// isBare reports an untyped node that constrains no value's shape (it may
// carry a description or a required list, which alone say nothing of the
// type).
func isBare(s *schema) bool {
	return s.Properties == nil && s.Items == nil && len(s.Enum) == 0 && s.Format == "" &&
		s.Pattern == "" && s.MinLength == "" && s.MaxLength == "" && s.MinItems == "" &&
		s.MaxItems == "" && s.Minimum == "" && s.Maximum == "" && s.MinProperties == "" &&
		s.MaxProperties == ""
}

// inferType picks the type an untyped schema's keywords imply.
func inferType(s *schema) string {
	switch {
	case s.Properties != nil || s.MinProperties != "" || s.MaxProperties != "":
		return "OBJECT"
	case s.Items != nil || s.MinItems != "" || s.MaxItems != "":
		return "ARRAY"
	case s.Minimum != "" || s.Maximum != "":
		return "NUMBER"
	}
	return "STRING"
}

// formatAllowed lists the formats Gemini accepts per type.
func formatAllowed(typ, format string) bool {
	switch typ {
	case "STRING":
		return format == "enum" || format == "date-time"
	case "NUMBER":
		return format == "float" || format == "double"
	case "INTEGER":
		return format == "int32" || format == "int64"
	}
	return false
}

func declared(required []string, props properties) []string {
	var out []string
	for _, n := range required {
		for _, p := range props {
			if p.name == n {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func setProperty(ps properties, name string, s *schema) properties {
	for i := range ps {
		if ps[i].name == name {
			ps[i].schema = s
			return ps
		}
	}
	return append(ps, property{name, s})
}

func appendUnique(list []string, s string) []string {
	for _, e := range list {
		if e == s {
			return list
		}
	}
	return append(list, s)
}

// isCount reports a non-negative integer.
func isCount(n number) bool {
	v, err := strconv.ParseFloat(string(n), 64)
	return err == nil && v >= 0 && v == float64(int64(v))
}

func countField(s *schema, name string) *number {
	switch name {
	case "minItems":
		return &s.MinItems
	case "maxItems":
		return &s.MaxItems
	case "minLength":
		return &s.MinLength
	case "maxLength":
		return &s.MaxLength
	case "minProperties":
		return &s.MinProperties
	default:
		return &s.MaxProperties
	}
}

// join extends a location like "properties.address" for error messages.
func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}
